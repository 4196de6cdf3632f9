"""Plain-words formatting shared by models and widgets: relative times, counts, plurals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def plural(n: int, one: str, many: str | None = None) -> str:
    """A count with its noun: "1 reply", "3 replies"."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def compact_count(n: int, cap: int | None = None) -> str:
    """A count for a small badge: "7", "1.2k", "10k+" (counts stop at ``cap``)."""
    if cap is not None and n >= cap:
        return f"{cap // 1000}k+" if cap >= 1000 else f"{cap}+"
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return f"{n // 1000}k"


def count_words(n: int, noun: str, cap: int | None = None) -> str:
    """A count in a sentence: "1 post", "2,431 posts", "10,000+ posts"."""
    if cap is not None and n >= cap:
        return f"{cap:,}+ {noun}s"
    return f"{n:,} {noun if n == 1 else noun + 's'}"


def relative_time(at: datetime, now: datetime | None = None) -> str:
    """A compact age for a card: "now", "5 min", "3 h", "2 d", then a date."""
    now = now or datetime.now(UTC)
    seconds = (now - at).total_seconds()
    if seconds < 45:
        return "now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)} d"
    local = at.astimezone()
    if local.year == now.astimezone().year:
        return f"{local.day} {local.strftime('%b')}"
    return f"{local.day} {local.strftime('%b %Y')}"


def ago(at: datetime | None, now: datetime | None = None) -> str:
    """An age in words: "just now", "4 min ago", "2 h ago", "never"."""
    if at is None:
        return "never"
    text = relative_time(at, now)
    if text == "now":
        return "just now"
    if text[0].isdigit() and text.split()[-1] in ("min", "h", "d"):
        return f"{text} ago"
    return f"on {text}"


def clock_time(at: datetime) -> str:
    """Local wall-clock time, with the date when it is not today."""
    local = at.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %H:%M')}"


def snooze_until(choice: str, now: datetime | None = None) -> datetime:
    """When a snooze ends: "1h", "4h", or "tomorrow" (9:00 local time the next day)."""
    now = now or datetime.now(UTC)
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "4h":
        return now + timedelta(hours=4)
    if choice == "tomorrow":
        local = now.astimezone()
        morning = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        return morning.astimezone(UTC)
    raise ValueError(f"unknown snooze choice {choice!r}")


def initials(name: str) -> str:
    """One or two letters for an avatar."""
    words = [w for w in name.replace("_", " ").replace(".", " ").replace("@", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:1].upper()
    return (words[0][:1] + words[1][:1]).upper()
