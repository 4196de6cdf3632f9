"""End to end: the CLI as a subprocess against the fake PDS served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.bluesky import FakePDS
from tests.helpers.cli import json_lines, run_cli


@pytest.fixture
def pds() -> Iterator[FakePDS]:
    fake = FakePDS(handle="acme.test", password="abcd-efgh-ijkl-mnop")
    fake.add_user("carol.test", "Carol", followers=310)
    fake.add_user("dave.test", "Dave", followers=12)
    with fake:
        yield fake


def test_add_sync_reply_and_drain_leave_one_record_with_the_right_reply_refs(pds: FakePDS, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ours = pds.add_post("acme.test", "We are looking into the outage in the north.", notify=False)
    carol = pds.add_post("carol.test", "Still down in Leeds!! Nothing works 😡", reply_to=ours, langs=["en"])
    pds.add_post("dave.test", "@acme.test is my order shipped yet?")
    pds.add_noise("dave.test", "like")

    added = run_cli(data, "accounts", "add", "bluesky", "--pds", pds.url, "--handle", "acme.test", "--password-stdin",
                stdin=pds.password + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "acme.test" in added.stdout
    secrets_file = data / "secrets-INSECURE.json"
    stored = secrets_file.read_text(encoding="utf-8")
    assert pds.password not in stored and "refreshJwt" in stored
    (account,) = json_lines(run_cli(data, "accounts", "list", "--json").stdout)
    assert account["network"] == "bluesky" and account["handle"] == "acme.test"

    synced = run_cli(data, "sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("2 new posts")
    timeline = json_lines(run_cli(data, "timeline", "--json").stdout)
    assert {t["remote_id"] for t in timeline} == {carol, pds.notes[1].uri}
    assert all(t["network"] == "bluesky" for t in timeline)
    row = next(t for t in timeline if t["remote_id"] == carol)
    assert row["author"] in ("carol.test", "Carol")

    text = "Sorry Carol 🙏 — engineers are on it: https://status.acme.test/leeds. @carol.test"
    queued = run_cli(data, "reply", str(row["id"]), "--text", text)
    assert queued.returncode == 0, queued.stderr
    pds.put_faults.append("drop-after")  # the first answer is lost after the record was written
    drained = run_cli(data, "outbox", "drain", "--timeout", "60")
    assert drained.returncode == 0, drained.stderr + drained.stdout

    assert pds.calls["com.atproto.repo.getRecord"] == 1  # the lost answer was reconciled, not re-sent blind
    (record,) = pds.posted
    rec = record["record"]
    assert rec["text"] == text
    assert rec["reply"] == {
        "root": {"uri": ours, "cid": pds.posts[ours].cid},
        "parent": {"uri": carol, "cid": pds.posts[carol].cid},
    }
    encoded = text.encode()
    spans = {encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode() for f in rec["facets"]}
    assert spans == {"https://status.acme.test/leeds", "@carol.test"}
    (item,) = json_lines(run_cli(data, "outbox", "list", "--json").stdout)
    assert item["state"] == "sent" and item["remote_id"] == record["uri"]

    again = run_cli(data, "sync", "--once")
    assert again.returncode == 0 and again.stdout.startswith("0 new posts"), again.stderr
    assert pds.calls["com.atproto.server.createSession"] == 1  # never a new login per run


def test_a_wrong_password_is_one_plain_sentence_and_a_failure(pds: FakePDS, tmp_path: Path) -> None:
    result = run_cli(tmp_path / "data", "accounts", "add", "bluesky", "--pds", pds.url, "--handle", "acme.test",
                 "--password-stdin", stdin="not-the-password\n")  # fmt: skip
    assert result.returncode != 0
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "Invalid identifier or password" in err
    assert "not-the-password" not in err
    listed = run_cli(tmp_path / "data", "accounts", "list", "--json")
    assert listed.stdout.strip() == ""


def test_the_password_only_comes_from_stdin(pds: FakePDS, tmp_path: Path) -> None:
    result = run_cli(tmp_path / "data", "accounts", "add", "bluesky", "--pds", pds.url, "--handle", "acme.test")
    assert result.returncode != 0 and "--password-stdin" in result.stderr
    assert pds.calls["com.atproto.server.createSession"] == 0
