"""The command line of design section 6, driven as a user would: ``python main.py ...`` in a subprocess.

Every command starts a fresh interpreter, so to keep the suite fast the commands are run once, up
front, by a module fixture: the independent ones side by side, and the two chains (the reply flow and
the export/import round trip) each in order, in their own thread. The tests then check the results.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from services.networks.demo import DemoWorld, load_dataset

REPO = Path(__file__).resolve().parents[2]
DATASET = "tests/data/mini_community.json"
TIMELINE_KEYS = {
    "id",
    "network",
    "remote_id",
    "account",
    "author",
    "text",
    "created_at",
    "sentiment",
    "urgency",
    "urgent",
    "reasons",
    "status",
}
OUTBOX_KEYS = {"id", "post", "state", "remote_id", "attempts", "last_error"}
TRIAGE_KEYS = {"id", "sentiment", "negative", "urgency", "urgent", "reasons"}
INCOMING = {"p0001", "p0002", "p0003", "p0004", "p0005", "p0006"}  # b001 is our own reply


def env(**extra: str) -> dict[str, str]:
    e = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PARLEY_DATA_DIR", "PARLEY_DATABASE_URL", "PARLEY_DEMO_OFFLINE", "PARLEY_DEMO_FAULTS")
    }
    e.update(PARLEY_DEMO_DATASET=DATASET, PARLEY_DEMO_LATENCY="0", PYTHONIOENCODING="utf-8")
    e.update(extra)
    return e


@dataclass
class Call:
    data_dir: Path
    args: Sequence[str]
    stdin: str | None = None
    environ: dict[str, str] | None = None


def start(call: Call) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "main.py", "--data-dir", str(call.data_dir), *call.args],
        cwd=REPO,
        env=call.environ or env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def finish(proc: subprocess.Popen[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(stdin or "", timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not finish: {out}\n{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(
    data_dir: Path, *args: str, stdin: str | None = None, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    call = Call(data_dir, args, stdin, environ)
    return finish(start(call), stdin)


def cli_many(calls: dict[str, Call]) -> dict[str, subprocess.CompletedProcess[str]]:
    procs = {name: start(call) for name, call in calls.items()}
    return {name: finish(procs[name], calls[name].stdin) for name in calls}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def plain_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit, one plain sentence on stderr, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("parley: "), lines[0]
    return lines[0]


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- running everything once -----------------------------------------------------------------------

Results = dict[str, subprocess.CompletedProcess[str]]

TRIAGE_INPUT = "\n".join(
    [
        json.dumps({"id": 1, "text": "Still no internet after three days, third time I call. Useless!"}),
        "this is not json",
        json.dumps({"id": "b", "text": "Thanks, the engineer was brilliant"}),
        json.dumps({"id": 3}),
        "",
        json.dumps({"id": None, "text": "Seit drei Tagen kein Internet und niemand ruft zurück.", "lang": "de"}),
    ]
)


def post_ids(data_dir: Path) -> dict[str, int]:
    """Stored post ids by remote id, read straight from the SQLite file."""
    with sqlite3.connect(data_dir / "parley.sqlite") as conn:
        return {rid: pid for pid, rid in conn.execute("SELECT id, remote_id FROM post")}


def run_flow(data_dir: Path, tmp: Path) -> Results:
    """Queue replies, go offline, fail to drain, come back online, drain; then a reply someone else overtook."""
    ids = post_ids(data_dir)
    batch_file = tmp / "replies.jsonl"
    batch_file.write_text(
        json.dumps({"post": ids["p0003"], "text": "We know about the outage in your street."})
        + "\n\n"
        + json.dumps({"post": ids["p0005"], "text": "Thank you, we will pass it on! 🙌"})
        + "\n",
        encoding="utf-8",
    )
    bad_batch = tmp / "bad.jsonl"
    bad_batch.write_text(json.dumps({"post": ids["p0006"], "text": "fine"}) + "\n" + '{"post": "x"\n', encoding="utf-8")
    steps = {
        "reply": ["reply", str(ids["p0006"]), "--text", "Sorry Lena, an engineer is coming."],
        "batch": ["reply", "--batch", str(batch_file)],
        "bad_batch": ["reply", "--batch", str(bad_batch)],
        "offline": ["demo", "offline"],
        "stuck": ["outbox", "drain", "--timeout", "1"],
        "online": ["demo", "online"],
        "drain": ["outbox", "drain"],
        "list": ["outbox", "list", "--json"],
    }
    results = {name: cli(data_dir, *args) for name, args in steps.items()}
    results["again"] = cli(data_dir, "reply", str(ids["p0006"]), "--text", "Lena, the engineer comes at 9.")
    # Meanwhile a colleague answers Lena from the network's own app: the queued reply must wait for a person.
    world = DemoWorld(data_dir / "demo-network.sqlite", load_dataset(REPO / DATASET))
    world.accept_reply("masto", {"in_reply_to": "p0006", "conversation": "p0006", "text": "Sam here."}, "colleague")
    results["held"] = cli(data_dir, "outbox", "drain", "--timeout", "30")
    return results


def run_round_trip(synced: Path, tmp: Path) -> Results:
    """Export, import into a fresh data dir twice, export again."""
    archive = tmp / "export.jsonl"
    fresh = tmp / "fresh"
    return {
        "export": cli(synced, "export", "--format", "jsonl", "--out", str(archive)),
        "import": cli(fresh, "import", "--jsonl", str(archive)),
        "import_again": cli(fresh, "import", "--jsonl", str(archive)),
        "reexport": cli(fresh, "export", "--format", "jsonl"),
    }


def independent_calls(synced: Path, tmp: Path) -> dict[str, Call]:
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    (corrupt / "parley.sqlite").write_bytes(random.Random(5).randbytes(16384))
    no_keyring = env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    no_keyring.pop("PARLEY_INSECURE_FILE_SECRETS", None)
    other_tool = tmp / "other-tool.jsonl"
    other_tool.write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "network": "mastodon",
                        "remote_id": "x1",
                        "author": "ann",
                        "text": "still broken, no internet",
                        "created_at": "2025-03-01T10:00:00Z",
                    }
                ),
                "{broken",
                json.dumps(
                    {
                        "network": "mastodon",
                        "remote_id": "x2",
                        "author": "ann",
                        "text": "no time zone",
                        "created_at": "2025-03-01T10:00:00",
                    }
                ),
                json.dumps(
                    {
                        "network": "mastodon",
                        "remote_id": "x3",
                        "text": "no author",
                        "created_at": "2025-03-01T10:00:00Z",
                    }
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return {
        "timeline": Call(synced, ["timeline", "--json"]),
        "urgent": Call(synced, ["timeline", "--urgent", "--json"]),
        "search": Call(synced, ["timeline", "--search", "zuruck", "--json"]),
        "triage": Call(synced, ["triage"], stdin=TRIAGE_INPUT),
        "export_csv": Call(synced, ["export", "--format", "csv"]),
        "unknown_post": Call(synced, ["reply", "999", "--text", "hello"]),
        "corrupt": Call(corrupt, ["timeline"]),
        "mastodon_no_keyring": Call(
            tmp / "accounts",
            ["accounts", "add", "mastodon", "--instance", "http://127.0.0.1:9", "--token-stdin"],
            stdin="tok-SECRET-4242\n",
            environ=no_keyring,
        ),
        "import_partial": Call(tmp / "partial", ["import", "--jsonl", str(other_tool)]),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Results]:
    tmp = tmp_path_factory.mktemp("cli")
    synced = tmp / "synced"
    sync = cli(synced, "--demo", "sync", "--once")
    assert ok(sync).strip() == "7 new posts"
    flow_dir = shutil.copytree(synced, tmp / "flow")
    (tmp / "flow-files").mkdir()
    (tmp / "trip").mkdir()
    with ThreadPoolExecutor(2) as pool:
        flow = pool.submit(run_flow, flow_dir, tmp / "flow-files")
        trip = pool.submit(run_round_trip, synced, tmp / "trip")
        batch = cli_many(independent_calls(synced, tmp))
        return {"batch": batch, "flow": flow.result(), "trip": trip.result(), "ids": post_ids(flow_dir)}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def batch(runs: dict[str, Results]) -> Results:
    return runs["batch"]


# -- reading ---------------------------------------------------------------------------------------


def test_timeline_json_lines_carry_the_contract_fields(batch: Results) -> None:
    rows = json_lines(ok(batch["timeline"]))
    assert {r["remote_id"] for r in rows} == INCOMING
    for r in rows:
        assert TIMELINE_KEYS <= set(r), TIMELINE_KEYS - set(r)
        assert isinstance(r["id"], int) and r["network"] == "demo"
        assert isinstance(r["text"], str) and r["text"]
        assert r["account"] in {"@acme@demo.social", "acmeconnect.demo.bsky", "@AcmeHelp"}
        assert -1 <= r["sentiment"] <= 1 and 0 <= r["urgency"] <= 1
        assert isinstance(r["urgent"], bool)
        assert isinstance(r["reasons"], list) and all(isinstance(x, str) for x in r["reasons"])
        assert r["status"] == "new"
        assert datetime.fromisoformat(r["created_at"]).utcoffset() is not None
    times = [datetime.fromisoformat(r["created_at"]) for r in rows]
    assert times == sorted(times, reverse=True), "newest first"
    by_remote = {r["remote_id"]: r for r in rows}
    assert by_remote["p0003"]["urgent"] and by_remote["p0003"]["reasons"]
    assert not by_remote["p0005"]["urgent"]
    assert by_remote["p0006"]["text"].endswith("ruft zurück.")  # UTF-8 survives the pipe


def test_timeline_urgent_shows_only_urgent_posts(batch: Results) -> None:
    urgent = json_lines(ok(batch["urgent"]))
    everything = json_lines(ok(batch["timeline"]))
    assert urgent, "the mini community has urgent complaints"
    assert all(r["urgent"] for r in urgent)
    assert {r["id"] for r in urgent} == {r["id"] for r in everything if r["urgent"]}


def test_timeline_search(batch: Results) -> None:
    assert [r["remote_id"] for r in json_lines(ok(batch["search"]))] == ["p0006"]  # zuruck finds zurück


def test_triage_scores_json_lines_and_reports_bad_ones(batch: Results) -> None:
    result = batch["triage"]
    assert "Traceback" not in result.stderr
    assert result.returncode != 0, "bad lines make the exit status say so"
    scores = json_lines(result.stdout)
    assert [s["id"] for s in scores] == [1, "b", None]  # in order, the bad lines left out
    for s in scores:
        assert TRIAGE_KEYS <= set(s)
        assert -1 <= s["sentiment"] <= 1 and 0 <= s["urgency"] <= 1
        assert isinstance(s["negative"], bool) and isinstance(s["urgent"], bool)
        assert all(isinstance(r, str) for r in s["reasons"])
    complaint, praise, german = scores
    assert complaint["negative"] and complaint["urgent"] and complaint["reasons"]
    assert not praise["negative"] and not praise["urgent"]
    assert german["negative"]
    errors = result.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("line 2") and errors[1].startswith("line 4")


# -- errors ----------------------------------------------------------------------------------------


def test_plain_error_for_an_unknown_post(batch: Results) -> None:
    assert plain_error(batch["unknown_post"]) == "parley: There is no post 999."


def test_plain_error_for_a_corrupt_database(batch: Results) -> None:
    assert "cannot be opened" in plain_error(batch["corrupt"])


def test_accounts_add_mastodon_refuses_plainly_and_never_shows_the_token(batch: Results) -> None:
    no_keyring = batch["mastodon_no_keyring"]
    line = plain_error(no_keyring)
    assert "keyring" in line and "PARLEY_INSECURE_FILE_SECRETS" in line
    assert "tok-SECRET-4242" not in no_keyring.stdout + no_keyring.stderr


def test_a_token_on_the_command_line_is_not_accepted(tmp_path: Path) -> None:
    result = cli(tmp_path / "d", "accounts", "add", "mastodon", "--instance", "https://m.example", "--token", "x")
    assert result.returncode != 0  # argparse refuses before anything is opened
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d" / "parley.sqlite").exists()


# -- export and import ------------------------------------------------------------------------------

ROUND_TRIP = ("network", "remote_id", "account", "author", "text", "created_at", "kind", "conversation")


def exported(runs: dict[str, Results]) -> list[dict]:
    trip = runs["trip"]
    ok(trip["export"])
    archive = Path(trip["export"].args[trip["export"].args.index("--out") + 1])
    return json_lines(archive.read_text(encoding="utf-8"))


def test_export_csv_parses(runs: dict[str, Results]) -> None:
    rows = list(csv.DictReader(io.StringIO(ok(runs["batch"]["export_csv"]))))
    lines = exported(runs)
    assert len(rows) == len(lines) == 7  # every stored post, our earlier reply too
    assert {"id", "network", "remote_id", "text", "created_at", "urgent", "reasons"} <= set(rows[0])
    by_id = {int(r["id"]): r for r in rows}
    for e in lines:
        assert by_id[e["id"]]["text"] == e["text"]  # commas, quotes and umlauts survive
        assert by_id[e["id"]]["remote_id"] == e["remote_id"]


def test_export_then_import_into_a_fresh_data_dir_gives_the_same_posts(runs: dict[str, Results]) -> None:
    trip = runs["trip"]
    lines = exported(runs)
    assert {e["remote_id"] for e in lines} == INCOMING | {"b001"}
    assert ok(trip["import"]).startswith("7 imported, 0 already stored, 0 unreadable")
    assert ok(trip["import_again"]).startswith("0 imported, 7 already stored")
    reimported = json_lines(ok(trip["reexport"]))

    def key(rows: list[dict]) -> set[tuple]:
        return {tuple(r[k] for k in ROUND_TRIP) for r in rows}

    assert key(reimported) == key(lines)
    for r in reimported:
        assert -1 <= r["sentiment"] <= 1 and isinstance(r["reasons"], list)  # triaged on import


def test_import_reports_unreadable_lines_and_keeps_the_rest(batch: Results) -> None:
    result = batch["import_partial"]
    assert ok(result).startswith("1 imported, 0 already stored, 3 unreadable")
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == ["line 2", "line 3", "line 4"]


# -- the reply flow: queue, offline, drain, online, drain -------------------------------------------


def test_reply_queues_one_outbox_line(runs: dict[str, Results]) -> None:
    flow, ids = runs["flow"], runs["ids"]
    queued = json_lines(ok(flow["reply"]))
    assert len(queued) == 1
    first = queued[0]
    assert OUTBOX_KEYS <= set(first)
    assert first["state"] == "queued" and first["post"] == ids["p0006"]  # type: ignore[index]
    assert first["remote_id"] is None and first["attempts"] == 0 and first["last_error"] is None


def test_reply_batch_queues_every_line_or_none(runs: dict[str, Results]) -> None:
    flow, ids = runs["flow"], runs["ids"]
    from_batch = json_lines(ok(flow["batch"]))
    assert [r["post"] for r in from_batch] == [ids["p0003"], ids["p0005"]]  # type: ignore[index]
    assert {r["state"] for r in from_batch} == {"queued"}
    assert "Line 2" in plain_error(flow["bad_batch"])
    assert len(json_lines(ok(flow["list"]))) == 3  # nothing of the bad batch was queued


def test_drain_while_offline_fails_and_says_what_is_left(runs: dict[str, Results]) -> None:
    flow = runs["flow"]
    assert "offline" in ok(flow["offline"])
    stuck = flow["stuck"]
    assert stuck.returncode == 1
    line = plain_error(stuck)
    assert line.startswith("parley: 3 replies still to send (") and line.endswith("; see `outbox list`.")
    assert "offline" in line, "say why nothing went out"
    assert stuck.stdout == "0 sent\n"


def test_drain_when_back_online_sends_everything_once(runs: dict[str, Results]) -> None:
    flow = runs["flow"]
    assert "online" in ok(flow["online"])
    assert "3 sent; nothing left to send" in ok(flow["drain"])
    listed = json_lines(ok(flow["list"]))
    assert len(listed) == 3
    for r in listed:
        assert r["state"] == "sent" and r["remote_id"] and r["attempts"] == 1 and r["last_error"] is None
    assert len({r["remote_id"] for r in listed}) == 3


def test_drain_fails_while_a_reply_waits_for_review(runs: dict[str, Results]) -> None:
    flow = runs["flow"]
    assert json_lines(ok(flow["again"]))[0]["state"] == "queued"
    held = flow["held"]
    assert held.returncode == 3, "nothing is left that would go out by itself, but not everything went out"
    assert plain_error(held) == "parley: 1 reply needs review; see `outbox list`."
    assert held.stdout == "0 sent\n"
