"""One registry of user settings, each declared once with its type, default and bounds; stored in the DB."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from services.errors import InvalidInput
from services.networks.base import HISTORY_CAP, History
from services.store.models import Setting

#: How a setting's type is named in an error message.
_KIND_WORDS: dict[type, str] = {int: "a whole number", float: "a number", str: "text"}


@dataclass(frozen=True, slots=True)
class Option:
    """A declared setting."""

    key: str
    default: Any
    title: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    #: How each choice is said in the settings dialog (same order as ``choices``).
    labels: tuple[str, ...] = ()

    def label(self, choice: str) -> str:
        """How one choice is said (the choice itself when no label was declared)."""
        if choice in self.choices and len(self.labels) == len(self.choices):
            return self.labels[self.choices.index(choice)]
        return choice

    def check(self, value: Any) -> Any:
        """Coerce ``value`` to this option's type, or raise ``InvalidInput`` in plain words."""
        kind = type(self.default)
        try:
            coerced = kind(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{self.title} must be {_KIND_WORDS.get(kind, 'a value')}, not {value!r}.") from None
        if isinstance(coerced, float) and not math.isfinite(coerced):
            raise InvalidInput(f"{self.title} must be a number, not {value!r}.")
        if self.choices and coerced not in self.choices:
            raise InvalidInput(f"{self.title} must be one of: {', '.join(self.choices)}.")
        if self.minimum is not None and coerced < self.minimum:
            raise InvalidInput(f"{self.title} must be at least {self.minimum}.")
        if self.maximum is not None and coerced > self.maximum:
            raise InvalidInput(f"{self.title} must be at most {self.maximum}.")
        return coerced


OPTIONS: dict[str, Option] = {
    o.key: o
    for o in (
        Option(
            "urgency_threshold",
            0.5,
            "Urgency threshold",
            "A negative post at or above this urgency (0 to 1) counts as urgent.",
            minimum=0.05,
            maximum=0.95,
        ),
        Option(
            "sync_interval",
            60,
            "Sync interval (seconds)",
            "How often every account is asked for new mentions.",
            minimum=5,
            maximum=3600,
        ),
        Option(
            "theme",
            "system",
            "Theme",
            "Light, dark, or follow the system.",
            choices=("system", "light", "dark"),
        ),
        Option("operator", "", "Your name", "Shown to teammates and recorded with your replies."),
        Option(
            "history",
            "7d",
            "History for a new account",
            f"How far back the first sync of an account you add reads its mentions (at most {HISTORY_CAP:,}, "
            "the newest). Accounts already added keep what they have.",
            choices=("none", "1d", "7d", "30d"),
            labels=("None: only new mentions", "1 day", "7 days", "30 days"),
        ),
    )
}

#: The span of each "history" choice.
HISTORY_SPANS: dict[str, timedelta] = {
    "none": timedelta(0),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


def history(choice: str, now: datetime) -> History:
    """What the first sync of a new account reads back, for a "history" setting."""
    span = HISTORY_SPANS.get(choice, HISTORY_SPANS[str(OPTIONS["history"].default)])
    return History(now - span, HISTORY_CAP if span else 0)


def get_all(session: Session) -> dict[str, Any]:
    """Every setting, stored value or default."""
    values = {key: opt.default for key, opt in OPTIONS.items()}
    for row in session.exec(select(Setting)):
        opt = OPTIONS.get(row.key)
        if opt is None:
            continue
        try:
            values[row.key] = opt.check(json.loads(row.value))
        except (InvalidInput, ValueError):
            continue  # a damaged stored value falls back to the default rather than blocking start
    return values


def put(session: Session, key: str, value: Any) -> Any:
    """Validate and store one setting; returns the stored value."""
    opt = OPTIONS.get(key)
    if opt is None:
        raise InvalidInput(f"There is no setting called {key!r}.")
    coerced = opt.check(value)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=json.dumps(coerced)))
    else:
        row.value = json.dumps(coerced)
        session.add(row)
    return coerced
