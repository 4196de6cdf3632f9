"""Account secrets in the system keyring, or in a plainly labelled file when the user allows it."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from services.errors import SecretsUnavailable

log = logging.getLogger(__name__)

#: The keyring "service" every Parley secret is filed under.
SERVICE = "parley"
#: Set to 1 to allow the unencrypted file store when no keyring works (headless machines, tests).
INSECURE_ENV = "PARLEY_INSECURE_FILE_SECRETS"
INSECURE_FILE = "secrets-INSECURE.json"
_WARNING = (
    "NOT ENCRYPTED. Parley stored these secrets in plain text because no system keyring was available "
    f"and {INSECURE_ENV}=1 was set. Anyone who can read this file can use these accounts. "
    "Delete the file to remove them."
)
_HOW_TO_FIX = (
    "No system keyring is available to keep account secrets; install and unlock one (GNOME Keyring, KWallet, "
    f"macOS Keychain or Windows Credential Locker), or set {INSECURE_ENV}=1 to allow an unencrypted file."
)
# Backends that are not a keyring at all, or keep secrets in an unlabelled (or password-prompted) file:
# keyrings.alt's PlaintextKeyring is what `keyring` picks on a headless Linux box, and using it silently
# would write tokens to ~/.local/share in clear text without the user having said yes.
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


class Secret:
    """A secret value that never shows itself in a repr, a str, a log line or a pickle."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("A Secret cannot be pickled.")


def account_key(network: str, server_url: str, handle: str) -> str:
    """The name a secret of one account is stored under (e.g. ``mastodon:https://host:@me@host``)."""
    return f"{network}:{server_url}:{handle}"


def insecure_file_allowed() -> bool:
    """Whether the user allowed the unencrypted file store (``PARLEY_INSECURE_FILE_SECRETS=1``)."""
    return os.environ.get(INSECURE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def usable_keyring() -> Any | None:
    """The system keyring backend to use, or None when there is no real one."""
    import keyring
    from keyring.backends.chainer import ChainerBackend

    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration is the same as none for us
        log.warning("the keyring configuration could not be loaded", exc_info=True)
        return None
    candidates = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    for candidate in candidates:
        # The chainer would silently fall through to a plaintext backend on a failure, so pick one real
        # backend and talk to it directly.
        if not type(candidate).__module__.startswith(_REFUSED_MODULES):
            return candidate
    return None


class SecretStore:
    """Store, read and delete one secret per account key (blocking: call it off the GUI thread)."""

    def __init__(self, data_dir: Path, *, service: str = SERVICE, allow_insecure_file: bool | None = None) -> None:
        self.data_dir = data_dir
        self.service = service
        self._allow_file = insecure_file_allowed() if allow_insecure_file is None else allow_insecure_file
        self._lock = threading.Lock()

    @property
    def file_path(self) -> Path:
        """Where the unencrypted fallback lives (only used when allowed and no keyring works)."""
        return self.data_dir / INSECURE_FILE

    def describe(self) -> str:
        """Where secrets go, in words for the settings page."""
        backend = usable_keyring()
        if backend is not None:
            return f"the system keyring ({type(backend).__name__})"
        if self._allow_file:
            return f"an UNENCRYPTED file ({self.file_path})"
        return "nowhere: no keyring is available"

    def check(self) -> None:
        """Raise ``SecretsUnavailable`` now if a secret could not be stored."""
        if usable_keyring() is None and not self._allow_file:
            raise SecretsUnavailable(_HOW_TO_FIX)

    def set(self, key: str, secret: str | Secret) -> None:
        """Store ``secret`` under ``key``, replacing any earlier one."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        backend = usable_keyring()
        if backend is not None:
            try:
                backend.set_password(self.service, key, value)
            except Exception as exc:
                _keyring_failed("store", exc)
            return
        self._require_file()
        with self._file() as data:
            data[key] = value

    def get(self, key: str) -> Secret | None:
        """The secret stored under ``key``, or None."""
        backend = usable_keyring()
        if backend is not None:
            try:
                value = backend.get_password(self.service, key)
            except Exception as exc:
                _keyring_failed("read", exc)
            if value is not None:
                return Secret(str(value))
        # A secret filed before a keyring appeared is still found (only where the file is allowed).
        if self._allow_file and self.file_path.exists():
            stored = self._read_file().get(key)
            return Secret(stored) if isinstance(stored, str) else None
        if backend is None:
            self._require_file()
        return None

    def delete(self, key: str) -> None:
        """Forget the secret under ``key`` (no error if there is none)."""
        backend = usable_keyring()
        if backend is not None:
            from keyring.errors import PasswordDeleteError

            try:
                backend.delete_password(self.service, key)
            except PasswordDeleteError:
                pass  # nothing stored under that key
            except Exception as exc:
                _keyring_failed("delete", exc)
        if self._allow_file and self.file_path.exists():
            with self._file() as data:
                data.pop(key, None)

    # -- the labelled file ----------------------------------------------------------------------

    def _require_file(self) -> None:
        if not self._allow_file:
            raise SecretsUnavailable(_HOW_TO_FIX)

    def _read_file(self) -> dict[str, str]:
        path = self.file_path
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                # Someone widened it; narrow it again before reading the tokens out.
                log.warning("%s was readable by others (mode %o); making it private", path, mode)
                path.chmod(0o600)
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretsUnavailable(f"The secrets file {path} cannot be read ({type(exc).__name__}).") from None
        secrets = doc.get("secrets") if isinstance(doc, dict) else None
        if not isinstance(secrets, dict):
            raise SecretsUnavailable(f"The secrets file {path} is not in the expected format.")
        return {str(k): v for k, v in secrets.items() if isinstance(v, str)}

    @contextlib.contextmanager
    def _file(self) -> Iterator[dict[str, str]]:
        """Read, let the caller change, and atomically rewrite the file (mode 0600)."""
        with self._lock, _interprocess_lock(self.data_dir / (INSECURE_FILE + ".lock")):
            data = self._read_file()
            yield data
            doc = {"WARNING": _WARNING, "encrypted": False, "format": 1, "secrets": data}
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.file_path.with_name(f".{INSECURE_FILE}.{os.getpid()}.tmp")
            # Created 0600 from the first byte, so the tokens are never briefly world-readable.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(doc, fh, indent=2, sort_keys=True)
                    fh.write("\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.file_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise


@contextlib.contextmanager
def _interprocess_lock(path: Path) -> Iterator[None]:
    """Serialise writers across processes (the GUI and a CLI may both add accounts)."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer per process is the best we do without extra deps
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _keyring_failed(action: str, exc: Exception) -> NoReturn:
    # Only the exception's type goes out: some backends put the attempted value in their messages.
    log.warning("the keyring could not %s a secret (%s)", action, type(exc).__name__)
    raise SecretsUnavailable(
        f"The system keyring could not {action} the account secret ({type(exc).__name__}); "
        "unlock the keyring and try again."
    ) from None
