"""The sync cursors of Mastodon and Bluesky: stored text back and forth, and the cap on open stretches."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from services.networks import bluesky_cursor as bsky
from services.networks import mastodon_cursor as masto
from services.networks.base import Gap
from services.networks.holes import MAX_HOLES

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def hour(n: int) -> datetime:
    return NOW - timedelta(hours=n)


def test_a_mastodon_cursor_survives_its_stored_text() -> None:
    hole = masto.Hole("90", None, hour(30), hour(2), "history", 12)
    cursor = masto.MastodonCursor("100", hour(1), None, (hole,))
    back = masto.MastodonCursor.parse(cursor.dump())
    assert back == cursor
    assert back.gaps() == (Gap(hour(30), hour(2), "history"),)


def test_a_bluesky_cursor_survives_its_stored_text() -> None:
    seen = bsky.Mark(hour(1), "at://did:plc:a/app.bsky.feed.post/1")
    hole = bsky.Hole("page-2", bsky.Mark(hour(9), ""), bsky.Mark(hour(3), "at://x/3"), "gap", None)
    cursor = bsky.BlueskyCursor(seen, None, (hole,))
    back = bsky.BlueskyCursor.parse(cursor.dump())
    assert back == cursor
    assert back.gaps() == (Gap(hour(9), hour(3), "gap"),)


def test_a_cursor_with_nothing_seen_keeps_its_start_time() -> None:
    assert masto.MastodonCursor.parse(masto.MastodonCursor(since=NOW).dump()) == masto.MastodonCursor(since=NOW)
    assert bsky.BlueskyCursor.parse(bsky.BlueskyCursor(since=NOW).dump()) == bsky.BlueskyCursor(since=NOW)


def test_past_the_cap_the_oldest_two_mastodon_stretches_become_one_covering_both() -> None:
    cursor = masto.MastodonCursor("1000")
    for n in range(MAX_HOLES + 1):  # the oldest first: each new stretch is the newest
        top = 10 * (MAX_HOLES + 1 - n)
        cursor = cursor.with_hole(masto.Hole(str(top), str(top - 5), hour(top), hour(top - 5), "history", 3))
    assert len(cursor.holes) == MAX_HOLES
    merged = cursor.holes[-1]
    assert (merged.upper, merged.lower) == ("60", "65")
    assert (merged.start, merged.end) == (hour(70), hour(55))
    assert (merged.kind, merged.left) == ("gap", None)
    assert cursor.holes[0].upper == "10"


def test_past_the_cap_the_oldest_two_bluesky_stretches_become_one_covering_both() -> None:
    cursor = bsky.BlueskyCursor()
    for n in range(MAX_HOLES + 1):
        top = 10 * (MAX_HOLES + 1 - n)
        stop, last = bsky.Mark(hour(top), f"at://stop/{top}"), bsky.Mark(hour(top - 5), f"at://last/{top}")
        cursor = cursor.with_hole(bsky.Hole(f"resume-{top}", stop, last, "history", 3))
    assert len(cursor.holes) == MAX_HOLES
    merged = cursor.holes[-1]
    assert merged.resume == "resume-60"
    assert merged.stop == bsky.Mark(hour(70), "at://stop/70")
    assert merged.last == bsky.Mark(hour(55), "at://last/60")
    assert (merged.kind, merged.left) == ("gap", None)


@pytest.mark.parametrize("text", ["{not json", ""])
def test_unreadable_text_is_a_fresh_start(text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert masto.MastodonCursor.parse(text) == masto.MastodonCursor()
        assert bsky.BlueskyCursor.parse(text) == bsky.BlueskyCursor()
    assert ("unreadable" in caplog.text) == bool(text)


def test_json_that_is_not_an_object_is_a_fresh_start_for_bluesky_and_a_bare_id_for_mastodon() -> None:
    assert bsky.BlueskyCursor.parse("[1, 2]") == bsky.BlueskyCursor()
    assert masto.MastodonCursor.parse(" 12345\n") == masto.MastodonCursor(seen="12345")


def test_a_stretch_that_cannot_be_read_is_dropped_and_the_rest_kept() -> None:
    text = '{"v": 1, "seen": "5", "holes": [{"kind": "gap"}, {"upper": "4", "left": "many"}]}'
    cursor = masto.MastodonCursor.parse(text)
    assert cursor.seen == "5"
    assert cursor.holes == (masto.Hole("4", None, None, None, "gap", None),)
