"""Soak the outbox: 10,000 replies through a faulty network while the sender is killed with SIGKILL.

    python -m bench.outbox_soak --replies 10000 [--modes honoured,ignored] [--kills 12] [--kill-after 10,30]

The world is set up once through the command line (a fake Mastodon server in this process, the
fault proxy in front of it, ``accounts add mastodon``, ``sync --once``, ``reply --batch``), then each
mode runs on its own copy: a server that honours ``Idempotency-Key`` and one that ignores it. In each,
``outbox drain`` subprocesses are killed at seeded random moments (``--kills`` times) while the proxy
injects every fault kind, until a drain finishes by itself. The harness is ``tests/helpers/outbox_kill.py``;
it prints delivered, duplicates, lost, elapsed and replies/s per mode; copy them into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.fakes.faultproxy import FaultRates
from tests.helpers.outbox_kill import OutboxKillSoak, SoakConfig, describe, prepare

#: Every fault kind, at a total of about 3 % of requests (the e2e test uses about 4.5 % on 1,000 replies).
SOAK_RATES = FaultRates(
    reset_before=0.004,
    reset_after=0.006,
    delay=0.004,
    error_before=0.004,
    error_after=0.006,
    rate_limit=0.003,
    outage=0.001,
)


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return (float(low), float(high or low))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.outbox_soak", description=__doc__.splitlines()[0])
    ap.add_argument("--replies", type=int, default=10_000)
    ap.add_argument("--modes", default="honoured,ignored", help="honoured, ignored or both (comma-separated)")
    ap.add_argument("--kills", type=int, default=12, help="SIGKILLs per mode before a drain may finish")
    ap.add_argument("--kill-after", type=_pair, default=(10.0, 30.0), help="seconds A,B after a drain's start")
    ap.add_argument("--rates", type=FaultRates.parse, default=SOAK_RATES, help="fault rates, e.g. reset_after=0.01,...")
    ap.add_argument("--settle", type=float, default=None, help="PARLEY_OUTBOX_SETTLE for the drains")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--deadline", type=float, default=1500.0, help="give up on a mode after this many seconds")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    base = SoakConfig(
        replies=args.replies,
        seed=args.seed,
        max_kills=args.kills,
        kill_after=args.kill_after,
        drain_timeout=900.0,
        deadline=args.deadline,
    )
    base = replace(base, rates=args.rates)
    if args.settle is not None:
        base = replace(base, settle=args.settle)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="parley-outbox-soak-"))
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}", flush=True)
    print(f"settings: {json.dumps(_settings(base))}", flush=True)
    started = time.monotonic()
    prepared = prepare(args.replies, root / "prepared")
    print(f"set-up: {args.replies} mentions synced and replies queued in {prepared.seconds:.0f} s", flush=True)
    figures = []
    ok = True
    for n, mode in enumerate(m.strip() for m in args.modes.split(",") if m.strip()):
        if mode not in ("honoured", "ignored"):
            ap.error(f"unknown mode {mode!r}")
        config = replace(base, honour_idempotency=mode == "honoured", seed=args.seed + n)
        with OutboxKillSoak(config, prepared, root / mode, log=lambda line: print(f"  {line}", flush=True)) as soak:
            result = soak.run()
        summary = result.summary()
        figures.append(summary)
        ok = ok and result.ok
        print(describe(result), flush=True)
        print(
            f"{mode:>9}: delivered {summary['delivered']}/{args.replies}, duplicates {summary['duplicates']}, "
            f"lost {summary['lost']}, {summary['drain_s']} s, {summary['replies_per_s']} replies/s, "
            f"{summary['kills']} kills, {summary['drains']} drains",
            flush=True,
        )
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"settings": _settings(base), "modes": figures}, indent=2) + "\n")
    return 0 if ok else 1


def _settings(config: SoakConfig) -> dict[str, object]:
    return {
        "replies": config.replies,
        "rates": config.rates.as_dict(),
        "delay_s": [config.min_delay, config.max_delay],
        "settle_s": config.settle,
        "outage_s": list(config.outage_seconds),
        "rate_limit_reset_s": config.rate_limit_reset,
        "kills": config.max_kills,
        "kill_after_s": list(config.kill_after),
        "seed": config.seed,
    }


if __name__ == "__main__":
    sys.exit(main())
