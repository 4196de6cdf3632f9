"""``correct`` and ``corrections list`` as a user runs them, with ``import``, ``timeline`` and ``triage`` around.

The commands run once, in order, in a module fixture (each starts an interpreter); the independent
ones side by side. The tests then read the results.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.cli import json_lines, run_cli
from tests.helpers.factories import GIFT_CARD, OUTAGE, PARCEL, PARCEL_AGAIN

Results = dict[str, subprocess.CompletedProcess[str]]
TEXTS = (PARCEL, PARCEL_AGAIN, OUTAGE, GIFT_CARD)  # stored as posts 1 to 4


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def plain_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit and one plain sentence on stderr."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("parley: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Results:
    data = tmp_path_factory.mktemp("corrections")
    start = datetime.now(UTC) - timedelta(minutes=10)
    archive = data / "posts.jsonl"
    archive.write_text(
        "".join(
            json.dumps(
                {
                    "network": "mastodon",
                    "remote_id": f"m{n}",
                    "author": f"person{n}",
                    "text": text,
                    "created_at": (start + timedelta(minutes=n)).isoformat(),
                }
            )
            + "\n"
            for n, text in enumerate(TEXTS)
        ),
        encoding="utf-8",
    )
    out: Results = {}
    out["import"] = run_cli(data, "import", "--jsonl", str(archive))
    out["before"] = run_cli(data, "timeline", "--json")
    out["correct"] = run_cli(data, "correct", "1", "--as", "not-urgent", "--by", "Ana")
    side_by_side = {
        "after": ("timeline", "--json"),
        "list": ("corrections", "list"),
        "missing": ("correct", "99", "--as", "urgent"),
        "bad verdict": ("correct", "3", "--as", "somewhat"),
        "nothing to undo": ("correct", "3", "--undo"),
        "neither": ("correct", "3"),
    }
    stdin = json.dumps({"id": "x", "text": "parcel tracking says delivered but nothing arrived, third refund ask"})
    with ThreadPoolExecutor(4) as pool:
        futures = {name: pool.submit(run_cli, data, *args) for name, args in side_by_side.items()}
        futures["triage"] = pool.submit(run_cli, data, "triage", stdin=stdin + "\n")
        out.update({name: f.result() for name, f in futures.items()})
        out["undo"] = run_cli(data, "correct", "1", "--undo", "--json")
        undone = pool.submit(run_cli, data, "timeline", "--json")
        history = pool.submit(run_cli, data, "corrections", "list", "--all", "--json")
        out["undone"], out["history"] = undone.result(), history.result()
    return out


def by_id(result: subprocess.CompletedProcess[str]) -> dict[int, dict[str, object]]:
    return {int(str(line["id"])): line for line in json_lines(ok(result))}


def test_the_corrected_post_and_its_twin_leave_the_urgent_view(runs: Results) -> None:
    assert ok(runs["import"]).startswith("4 imported")
    before = by_id(runs["before"])
    assert before[1]["urgent"] and before[2]["urgent"] and before[3]["urgent"]
    assert ok(runs["correct"]) == "post 1 marked not urgent by Ana; 1 similar open post scored again (2)\n"
    after = by_id(runs["after"])
    assert not after[1]["urgent"] and after[1]["reasons"][0] == "marked not urgent by Ana"  # type: ignore[index]
    assert after[1]["reason_codes"][0] == "operator_verdict"  # type: ignore[index]
    assert not after[2]["urgent"]
    assert any(str(r).startswith("like #1 marked not urgent (-") for r in after[2]["reasons"])  # type: ignore[attr-defined]
    assert "like_corrected:1" in after[2]["reason_codes"]  # type: ignore[operator]
    assert after[3] == before[3] and after[4] == before[4]


def test_corrections_list_shows_who_said_what_and_what_triage_said_before(runs: Results) -> None:
    (line,) = ok(runs["list"]).splitlines()
    assert "post 1" in line and "not urgent" in line and "Ana" in line and "(withdrawn)" not in line
    (entry,) = json_lines(ok(runs["history"]))
    assert (entry["post"], entry["verdict"], entry["operator"], entry["active"]) == (1, "not_urgent", "Ana", False)
    assert entry["withdrawn_at"] and entry["text"] == PARCEL
    assert entry["before"]["urgent"] is True and entry["before"]["negative"] is True  # type: ignore[index]


def test_triage_on_the_command_line_uses_the_data_dirs_corrections(runs: Results) -> None:
    (line,) = json_lines(ok(runs["triage"]))
    assert any(str(r).startswith("like #1 marked not urgent") for r in line["reasons"])  # type: ignore[attr-defined]


def test_bad_corrections_fail_in_one_plain_sentence(runs: Results) -> None:
    assert plain_error(runs["missing"]) == "parley: There is no post 99."
    assert plain_error(runs["bad verdict"]) == (
        "parley: 'somewhat' is not a verdict; use urgent, not-urgent or not-negative."
    )
    assert plain_error(runs["nothing to undo"]) == "parley: Post 3 has no correction to undo."
    assert runs["neither"].returncode == 2 and "one of the arguments --as --undo is required" in runs["neither"].stderr


def test_undo_puts_both_posts_back_and_keeps_the_history(runs: Results) -> None:
    (line,) = json_lines(ok(runs["undo"]))
    assert line["post"] == 1 and not line["active"] and line["similar"] == [2]
    undone = by_id(runs["undone"])
    before = by_id(runs["before"])
    for post in (1, 2):
        assert undone[post]["urgent"] and undone[post]["reasons"] == before[post]["reasons"]
