"""End to end: the CLI as a subprocess against the fake Mastodon server served on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.mastodon import FakeMastodon
from tests.helpers.cli import ROOT, json_lines, run_cli

TOKEN = "s3cr3t-mastodon-token-0123456789"


@pytest.fixture
def server() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(token=TOKEN, max_characters=600)
    fake.add_account("maria", domain="social.example", display_name="Maria K.", followers=312)
    with fake.serving():
        yield fake


def test_add_sync_reply_and_drain_send_exactly_one_reply(server: FakeMastodon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ours = server.add_status("acme", "Planned maintenance tonight in the north, 01:00 to 03:00.")
    complaint = server.add_mention(
        "maria@social.example",
        "Internet down since 9am in Leeds!! Nothing works, I work from home 😡",
        in_reply_to=ours["id"],
        visibility="unlisted",
    )
    question = server.add_mention("bob@other.example", "is my order https://shop.example.com/orders/12345 shipped?")
    server.add_notification("favourite", "carol@other.example", ours["id"])

    added = run_cli(data, "accounts", "add", "mastodon", "--instance", server.url, "--token-stdin", stdin=TOKEN + "\n")
    assert added.returncode == 0, added.stderr
    assert "@acme@fake.social" in added.stdout and "600" in added.stdout
    stored = (data / "secrets-INSECURE.json").read_text(encoding="utf-8")
    assert TOKEN in stored and "NOT ENCRYPTED" in stored
    (account,) = json_lines(run_cli(data, "accounts", "list", "--json").stdout)
    assert account["network"] == "mastodon" and account["handle"] == "@acme@fake.social"

    synced = run_cli(data, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("2 new posts")
    assert run_cli(data, "sync", "--once").stdout.startswith("0 new posts")

    timeline = json_lines(run_cli(data, "timeline", "--json").stdout)
    assert {t["remote_id"] for t in timeline} == {complaint["id"], question["id"]}
    assert all(t["network"] == "mastodon" for t in timeline)
    row = next(t for t in timeline if t["remote_id"] == complaint["id"])
    assert "Internet down since 9am in Leeds" in str(row["text"]) and "<p>" not in str(row["text"])
    other = next(t for t in timeline if t["remote_id"] == question["id"])
    assert "https://shop.example.com/orders/12345" in str(other["text"])

    queued = run_cli(data, "reply", str(row["id"]), "--text", "Sorry Maria, engineers are on it in Leeds.")
    assert queued.returncode == 0, queued.stderr
    # The first answer is lost after the status was made: the outbox must find it, not post it again.
    server.fail_next("POST", "/api/v1/statuses", status=503, deliver=True)
    drained = run_cli(data, "outbox", "drain", "--timeout", "60")
    assert drained.returncode == 0, drained.stderr + drained.stdout

    (reply,) = server.posted
    # Found by reading back the thread, so the retry never even needed the idempotency key.
    assert [a["outcome"] for a in server.attempts] == ["created"]
    outcomes = [a["outcome"] for a in json_lines(run_cli(data, "outbox", "attempts").stdout)]
    assert "unknown" in outcomes and "reconciled: the reply had arrived" in outcomes
    assert reply["in_reply_to_id"] == complaint["id"]
    assert reply["text"] == "@maria@social.example Sorry Maria, engineers are on it in Leeds."
    assert reply["visibility"] == "unlisted"
    with sqlite3.connect(data / "parley.sqlite") as db:
        (client_key,) = db.execute("SELECT client_key FROM outbox_item").fetchone()
    assert reply["idempotency_key"] == client_key
    assert len(server.replies_to(complaint["id"], "acme")) == 1
    (item,) = json_lines(run_cli(data, "outbox", "list", "--json").stdout)
    assert item["state"] == "sent" and item["remote_id"] == reply["status_id"]

    # The token is in the labelled file only: not in the database, not in the log.
    assert TOKEN.encode() not in (data / "parley.sqlite").read_bytes()
    for log in data.glob("parley.log*"):
        assert TOKEN not in log.read_text(encoding="utf-8")


def test_a_wrong_token_is_a_plain_error(server: FakeMastodon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = run_cli(data, "accounts", "add", "mastodon", "--instance", server.url, "--token-stdin", stdin="wrong\n")
    assert added.returncode == 1
    assert added.stderr.startswith("parley: ") and len(added.stderr.strip().splitlines()) == 1
    assert "refused the access token" in added.stderr and "Traceback" not in added.stderr
    assert run_cli(data, "accounts", "list", "--json").stdout.strip() == ""
    assert not (data / "secrets-INSECURE.json").exists()


def test_an_unreachable_server_is_a_plain_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    added = run_cli(
        tmp_path, "accounts", "add", "mastodon", "--instance", f"http://127.0.0.1:{port}", "--token-stdin", stdin="t\n"
    )
    assert added.returncode == 1
    assert "cannot be reached" in added.stderr and len(added.stderr.strip().splitlines()) == 1


def test_token_only_from_stdin_and_no_keyring_means_stop(server: FakeMastodon, tmp_path: Path) -> None:
    # Without --token-stdin the browser sign-in starts; with nothing pasted it stops in one sentence.
    missing = run_cli(tmp_path, "accounts", "add", "mastodon", "--instance", server.url, stdin="")
    assert missing.returncode == 1 and "--token-stdin" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    server.requests.clear()  # that sign-in registered Parley; what follows must send nothing
    refused = run_cli(
        tmp_path,
        "accounts",
        "add",
        "mastodon",
        "--instance",
        server.url,
        "--token-stdin",
        stdin=TOKEN + "\n",
        insecure_file=False,
    )
    assert refused.returncode == 1
    assert "PARLEY_INSECURE_FILE_SECRETS=1" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not any(path.startswith("/api/") for _, path, _, _ in server.requests)  # refused before any send


def test_browser_sign_in_prints_the_address_and_takes_the_pasted_code(server: FakeMastodon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update({"PYTHONUTF8": "1", "NO_PROXY": "*", "PARLEY_INSECURE_FILE_SECRETS": "1"})
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    command = ["accounts", "add", "mastodon", "--instance", server.url]  # no --token-stdin
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data), *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        url = ""
        while "/oauth/authorize?" not in url:
            url = proc.stdout.readline()
            assert url, "the address never came"
        code = server.approve(url.strip())  # the person approves in the browser and copies the code
        out, err = proc.communicate(code + "\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "@acme@fake.social" in out and "added" in out
    stored = (data / "secrets-INSECURE.json").read_text(encoding="utf-8")
    assert server.issued_tokens[-1] in stored
    (account,) = json_lines(run_cli(data, "accounts", "list", "--json").stdout)
    assert account["handle"] == "@acme@fake.social" and account["needs_sign_in"] is False
