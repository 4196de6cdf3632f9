"""Connectors to social networks, each behind the Protocol in ``base``."""
