"""Tests for services.settings: defaults, plain-words validation, and persistence across restarts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services import settings as settings_mod
from services.changes import Changes
from services.core import Parley
from services.errors import InvalidInput
from services.networks.base import HISTORY_CAP, History
from services.store.db import open_database, sqlite_url
from services.store.models import Setting
from tests.conftest import Clock


def reopen(data_dir: Path) -> Parley:
    return Parley(open_database(sqlite_url(data_dir / "parley.sqlite")), data_dir)


def test_defaults(core: Parley) -> None:
    assert core.settings == {
        "urgency_threshold": 0.5,
        "sync_interval": 60,
        "theme": "system",
        "operator": "",
        "history": "7d",
    }
    assert core.settings == {key: opt.default for key, opt in settings_mod.OPTIONS.items()}
    assert core.triage().threshold == 0.5
    for opt in settings_mod.OPTIONS.values():
        assert opt.title and opt.description  # every setting can be shown in the dialog


def test_settings_is_a_copy(core: Parley) -> None:
    core.settings["theme"] = "dark"
    assert core.settings["theme"] == "system"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("urgency_threshold", 2, "Urgency threshold must be at most 0.95."),
        ("urgency_threshold", 0, "Urgency threshold must be at least 0.05."),
        ("urgency_threshold", "high", "Urgency threshold must be a number, not 'high'."),
        ("urgency_threshold", float("nan"), "Urgency threshold must be a number, not nan."),
        ("urgency_threshold", "inf", "Urgency threshold must be a number, not 'inf'."),
        ("urgency_threshold", None, "Urgency threshold must be a number, not None."),
        ("sync_interval", 1, "Sync interval (seconds) must be at least 5."),
        ("sync_interval", 86_400, "Sync interval (seconds) must be at most 3600."),
        ("sync_interval", "soon", "Sync interval (seconds) must be a whole number, not 'soon'."),
        ("theme", "neon", "Theme must be one of: system, light, dark."),
        ("history", "forever", "History for a new account must be one of: none, 1d, 7d, 30d."),
        ("colour", "red", "There is no setting called 'colour'."),
    ],
)
def test_invalid_values_are_refused_in_plain_words_and_change_nothing(
    core: Parley, data_dir: Path, key: str, value: object, message: str
) -> None:
    before = core.settings
    with pytest.raises(InvalidInput) as err:
        core.save_setting(key, value)
    assert str(err.value) == message
    assert "\n" not in str(err.value)
    assert core.settings == before
    again = reopen(data_dir)
    try:
        assert again.settings == before
    finally:
        again.db.close()


def test_values_are_coerced_to_their_type(core: Parley) -> None:
    core.save_setting("sync_interval", "120")
    core.save_setting("urgency_threshold", "0.7")
    core.save_setting("operator", "  Ana  ")
    assert core.settings["sync_interval"] == 120 and isinstance(core.settings["sync_interval"], int)
    assert core.settings["urgency_threshold"] == 0.7
    assert core.settings["operator"] == "  Ana  "


def test_settings_persist_across_a_reopen(core: Parley, data_dir: Path) -> None:
    assert core.save_setting("urgency_threshold", 0.8) == Changes(settings=True)
    core.save_setting("sync_interval", 300)
    core.save_setting("theme", "dark")
    core.save_setting("operator", "Ana")
    core.save_setting("theme", "light")  # the last value wins
    core.save_setting("history", "30d")
    expected = {"urgency_threshold": 0.8, "sync_interval": 300, "theme": "light", "operator": "Ana", "history": "30d"}
    assert core.settings == expected
    core.db.close()
    again = reopen(data_dir)
    try:
        assert again.settings == expected
        assert again.triage().threshold == 0.8
    finally:
        again.db.close()


def test_a_new_threshold_reaches_the_scorer_at_once(core: Parley) -> None:
    scorer = core.triage()
    core.save_setting("urgency_threshold", 0.9)
    assert scorer.threshold == 0.9
    assert core.triage() is scorer


def test_damaged_stored_values_fall_back_to_the_default(core: Parley, data_dir: Path) -> None:
    with core.db.session() as s:
        s.add(Setting(key="urgency_threshold", value="not json"))
        s.add(Setting(key="sync_interval", value="1"))  # out of range
        s.add(Setting(key="theme", value='"dark"'))
        s.add(Setting(key="retired_option", value="42"))  # from an older version
    core.db.close()
    again = reopen(data_dir)
    try:
        assert again.settings == {
            "urgency_threshold": 0.5,
            "sync_interval": 60,
            "theme": "dark",
            "operator": "",
            "history": "7d",
        }
    finally:
        again.db.close()


def test_the_history_choice_says_how_far_back_a_new_account_reads(core: Parley, clock: Clock) -> None:
    core.clock = clock
    now = clock.now
    assert core.history() == History(now - timedelta(days=7), HISTORY_CAP)
    core.save_setting("history", "1d")
    assert core.history() == History(now - timedelta(days=1), HISTORY_CAP)
    core.save_setting("history", "none")
    assert core.history() == History(now, 0)
    option = settings_mod.OPTIONS["history"]
    assert [option.label(c) for c in option.choices] == ["None: only new mentions", "1 day", "7 days", "30 days"]
