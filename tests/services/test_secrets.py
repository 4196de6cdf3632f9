"""Secrets: the system keyring, the labelled file fallback, and the refusal without either."""

from __future__ import annotations

import json
import logging
import pickle
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail
from keyring.errors import KeyringLocked, PasswordDeleteError
from keyrings.alt.file import PlaintextKeyring

from services.errors import SecretsUnavailable
from services.secrets import INSECURE_ENV, INSECURE_FILE, Secret, SecretStore, account_key, usable_keyring

TOKEN = "tok-5f2b9c-very-secret"


class MemoryKeyring(KeyringBackend):
    """A working keyring that keeps everything in a dict."""

    priority = 10

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.data:
            raise PasswordDeleteError("not there")
        del self.data[(service, username)]


class LockedKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"cannot store {password}")

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("locked")


UseKeyring = Callable[[Any], Any]


@pytest.fixture
def use_keyring() -> Iterator[UseKeyring]:
    """Swap the process keyring for a test's one and put the original back."""
    before = keyring.get_keyring()

    def set_backend(backend: Any) -> Any:
        keyring.set_keyring(backend)
        return backend

    yield set_backend
    keyring.set_keyring(before)


def test_file_fallback_is_labelled_private_and_works(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keyring(fail.Keyring())
    monkeypatch.setenv(INSECURE_ENV, "1")
    store = SecretStore(tmp_path)
    key = account_key("mastodon", "https://fake.social", "@acme@fake.social")
    store.set(key, TOKEN)

    path = tmp_path / INSECURE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["encrypted"] is False
    assert "NOT ENCRYPTED" in doc["WARNING"] and INSECURE_ENV in doc["WARNING"]
    assert doc["secrets"] == {key: TOKEN}
    assert "UNENCRYPTED" in store.describe()

    got = store.get(key)
    assert got is not None and got.reveal() == TOKEN
    assert TOKEN not in repr(got) and TOKEN not in str(got) and TOKEN not in f"{got}" and TOKEN not in repr(store)
    assert store.get("other") is None

    store.set(key, Secret("new-token"))
    assert (store.get(key) or Secret("")).reveal() == "new-token"
    store.delete(key)
    assert store.get(key) is None
    store.delete(key)  # deleting twice is fine
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.tmp"))


def test_a_widened_file_is_made_private_again(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keyring(fail.Keyring())
    monkeypatch.setenv(INSECURE_ENV, "1")
    store = SecretStore(tmp_path)
    store.set("k", TOKEN)
    (tmp_path / INSECURE_FILE).chmod(0o644)
    assert (store.get("k") or Secret("")).reveal() == TOKEN
    assert stat.S_IMODE((tmp_path / INSECURE_FILE).stat().st_mode) == 0o600


def test_refused_without_keyring_and_without_the_env(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keyring(fail.Keyring())
    monkeypatch.delenv(INSECURE_ENV, raising=False)
    store = SecretStore(tmp_path)
    with pytest.raises(SecretsUnavailable) as info:
        store.set("k", TOKEN)
    message = str(info.value)
    assert INSECURE_ENV in message and "keyring" in message
    assert message.count(".") <= 3 and "\n" not in message  # one plain sentence
    with pytest.raises(SecretsUnavailable):
        store.check()
    with pytest.raises(SecretsUnavailable):
        store.get("k")
    assert not (tmp_path / INSECURE_FILE).exists()


def test_plaintext_and_empty_chainer_backends_do_not_count(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INSECURE_ENV, raising=False)
    plain = PlaintextKeyring()
    plain.file_path = str(tmp_path / "keyring_pass.cfg")
    use_keyring(plain)
    assert usable_keyring() is None
    with pytest.raises(SecretsUnavailable):
        SecretStore(tmp_path).set("k", TOKEN)
    assert not (tmp_path / "keyring_pass.cfg").exists()

    empty = chainer.ChainerBackend()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [fail.Keyring()])
    use_keyring(empty)
    assert usable_keyring() is None


def test_a_real_keyring_is_used_and_no_file_is_written(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(INSECURE_ENV, "1")
    memory = use_keyring(MemoryKeyring())
    store = SecretStore(tmp_path)
    store.set("mastodon:https://x:@a@x", TOKEN)
    assert memory.data == {("parley", "mastodon:https://x:@a@x"): TOKEN}
    assert (store.get("mastodon:https://x:@a@x") or Secret("")).reveal() == TOKEN
    assert not (tmp_path / INSECURE_FILE).exists()
    assert "system keyring" in store.describe()
    store.delete("mastodon:https://x:@a@x")
    store.delete("mastodon:https://x:@a@x")
    assert memory.data == {}


def test_a_chainer_uses_its_real_backend(
    use_keyring: UseKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = MemoryKeyring()
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [fail.Keyring(), memory])
    use_keyring(chainer.ChainerBackend())
    assert usable_keyring() is memory


def test_keyring_failures_are_plain_and_do_not_leak(
    use_keyring: UseKeyring, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    use_keyring(LockedKeyring())
    store = SecretStore(tmp_path, allow_insecure_file=False)
    with caplog.at_level(logging.DEBUG), pytest.raises(SecretsUnavailable) as info:
        store.set("k", TOKEN)
    assert "unlock" in str(info.value)
    assert TOKEN not in str(info.value) and info.value.__cause__ is None and info.value.__suppress_context__
    assert TOKEN not in caplog.text
    with pytest.raises(SecretsUnavailable):
        store.get("k")


def test_secret_never_shows_itself() -> None:
    s = Secret(TOKEN)
    assert TOKEN not in repr(s) and TOKEN not in str(s) and TOKEN not in f"{s!s} {s!r} {s}"
    assert TOKEN not in repr([s]) and TOKEN not in repr({"token": s})
    assert s.reveal() == TOKEN and s == Secret(TOKEN) and s != Secret("other") and bool(s)
    assert not Secret("")
    with pytest.raises(TypeError):
        pickle.dumps(s)
