"""Parley's test suite."""
