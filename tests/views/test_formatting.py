"""Plain-words formatting: ages, counts, snooze times, initials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from views.formatting import ago, compact_count, count_words, initials, plural, relative_time, snooze_until

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=10), "now"),
        (timedelta(minutes=5), "5 min"),
        (timedelta(hours=3, minutes=20), "3 h"),
        (timedelta(days=2), "2 d"),
    ],
)
def test_relative_time(delta: timedelta, text: str) -> None:
    assert relative_time(NOW - delta, NOW) == text


def test_old_posts_show_a_date_and_ago_reads_as_words() -> None:
    assert relative_time(NOW - timedelta(days=30), NOW)[0].isdigit()
    assert ago(NOW - timedelta(minutes=4), NOW) == "4 min ago"
    assert ago(NOW, NOW) == "just now"
    assert ago(None) == "never"


def test_counts() -> None:
    assert plural(1, "reply", "replies") == "1 reply"
    assert plural(3, "reply", "replies") == "3 replies"
    assert [compact_count(n, 10_000) for n in (7, 1234, 10_000)] == ["7", "1.2k", "10k+"]
    assert count_words(10_000, "post", 10_000) == "10,000+ posts"
    assert count_words(1, "post") == "1 post"


def test_snooze_until() -> None:
    assert snooze_until("1h", NOW) == NOW + timedelta(hours=1)
    assert snooze_until("4h", NOW) == NOW + timedelta(hours=4)
    tomorrow = snooze_until("tomorrow", NOW).astimezone()
    assert tomorrow.hour == 9 and tomorrow.minute == 0
    assert tomorrow.date() == (NOW.astimezone() + timedelta(days=1)).date()
    with pytest.raises(ValueError):
        snooze_until("never", NOW)


def test_initials() -> None:
    assert initials("Maria K.") == "MK"
    assert initials("tom.bsky.social") == "TB"
    assert initials("@AcmeHelp") == "A"
    assert initials("") == "?"
