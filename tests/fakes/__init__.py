"""Fake network servers and a fault-injection proxy for tests, built from the official API docs."""
