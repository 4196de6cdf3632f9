"""Typed errors a person can read; anything else that escapes is a bug."""

from __future__ import annotations

from datetime import datetime


class ParleyError(Exception):
    """A known condition with a plain-words message for the user (not a bug)."""

    #: A short machine-readable kind, used by the GUI to pick a banner.
    kind: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NetworkError(ParleyError):
    """A network refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        #: The HTTP status the server answered with, when it answered (a 5xx: the server itself is failing).
        self.status = status


class Offline(NetworkError):
    """The network cannot be reached; nothing was sent."""

    kind = "offline"


class AuthExpired(NetworkError):
    """The account's credentials were refused; the user must sign in again."""

    kind = "signed_out"


class RateLimited(NetworkError):
    """The network asked us to slow down until ``reset_at``."""

    kind = "rate_limited"

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class Rejected(NetworkError):
    """A final refusal (most 4xx): re-sending the same request will not help."""

    kind = "rejected"


class UnknownOutcome(NetworkError):
    """The request may or may not have arrived (timeout, reset, 5xx): reconcile before re-sending."""

    kind = "unknown"


class StorageError(ParleyError):
    """The database cannot be opened, migrated or written."""

    kind = "storage"


class NotFound(ParleyError):
    """A post, account or outbox item the user named does not exist."""

    kind = "not_found"


class InvalidInput(ParleyError):
    """The user's input cannot be used as given (empty reply, bad file, too long...)."""

    kind = "invalid"


class SecretsUnavailable(ParleyError):
    """No keyring is available and the file fallback was not allowed."""

    kind = "secrets"
