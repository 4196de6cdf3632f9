"""End to end: 1,000 replies through a faulty network and drains killed with SIGKILL, each sent exactly once.

The fake Mastodon server runs in this process; the fault proxy in front of it resets, delays, fails,
rate-limits and cuts connections by a seeded schedule; ``outbox drain`` runs as a subprocess and is
killed at seeded random moments until a drain finishes by itself. Both kinds of server are covered:
one that honours ``Idempotency-Key`` and one that ignores it, where only reconciliation (and waiting
out the settle time before trusting an "absent" verdict) stands between a retry and a double reply.
See ``tests/helpers/outbox_kill.py`` for the harness and ``bench/outbox_soak.py`` for the 10,000-reply soak.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.faultproxy import FAULT_KINDS
from tests.helpers.outbox_kill import OutboxKillSoak, Prepared, SoakConfig, describe, prepare

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Kept small enough that both modes together run in about two minutes on two cores.
CONFIG = SoakConfig(replies=1000, max_kills=5, kill_after=(2.5, 5.5))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """One account with 1,000 mentions synced and a reply queued to each, shared by both modes."""
    return prepare(CONFIG.replies, tmp_path_factory.mktemp("outbox-kill"))


@pytest.mark.parametrize("honour", [True, False], ids=["key-honoured", "key-ignored"])
def test_every_reply_arrives_exactly_once_through_kills_and_faults(
    honour: bool, prepared: Prepared, tmp_path: Path
) -> None:
    config = SoakConfig(**{**CONFIG.__dict__, "honour_idempotency": honour, "seed": 11 if honour else 12})
    assert config.settle > config.max_delay, "a held request must land before an absent verdict is trusted"
    with OutboxKillSoak(config, prepared, tmp_path, log=lambda _: None) as soak:
        result = soak.run()
    print(describe(result))  # shown with -rP: the figures of the run
    assert result.ok, describe(result)
    assert result.delivered == config.replies and not result.duplicates and not result.lost
    assert result.kills == config.max_kills
    # The faults really happened, and the "did it arrive?" cases were settled by reconciliation.
    missing = [kind for kind in FAULT_KINDS if not result.proxy.get(kind)]
    assert not missing, f"no {missing} in {result.proxy}"
    assert result.outcomes.get("reconciled: the reply had arrived", 0) > 0
    if not honour:
        assert result.server_attempts.get("created") == config.replies  # every POST that landed was a new reply
