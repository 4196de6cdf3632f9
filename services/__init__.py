"""Parley's core: storage, networks, triage, sync and the outbox, in plain asyncio (no Qt)."""
