"""The command-line contract of design section 6: each command as a plain async function."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

from services import settings as settings_mod
from services.core import Parley
from services.corrections import verdict_words
from services.errors import InvalidInput, NotFound
from services.outbox import DrainReport
from services.store.posts import PageKey, PostRow, TimelineFilter
from services.triage import TriageInput

EXPORT_FIELDS = (
    "id",
    "network",
    "remote_id",
    "account",
    "author",
    "author_name",
    "text",
    "url",
    "lang",
    "created_at",
    "kind",
    "conversation",
    "sentiment",
    "negative",
    "urgency",
    "urgent",
    "reasons",
    "status",
    "answered",
)


def _emit(out: IO[str], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _when(row: PostRow) -> str:
    return row.created_at.strftime("%Y-%m-%d %H:%M")


async def accounts_list(core: Parley, *, as_json: bool, out: IO[str]) -> int:
    """``accounts list``."""
    # Blocking keyring reads (Bluesky session expiry): off the loop.
    health = {h.account_id: h for h in await asyncio.to_thread(core.health)}
    for a in core.accounts():
        h = health.get(a.id)
        if as_json:
            _emit(out, {**a.to_json(), **(h.to_json() if h else {})})
        else:
            last = a.last_sync_at.strftime("%Y-%m-%d %H:%M") if a.last_sync_at else "never"
            problem = f"  ({h.headline})" if h and h.headline else f"  ({a.last_error})" if a.last_error else ""
            out.write(f"{a.id:>3}  {a.label:<22} {a.handle:<28} last sync {last}{problem}\n")
    return 0


def settings_list(core: Parley, *, as_json: bool, out: IO[str]) -> int:
    """``settings list``: every setting with its value."""
    for key, value in core.settings.items():
        option = settings_mod.OPTIONS[key]
        if as_json:
            _emit(out, {"key": key, "value": value, "title": option.title, "choices": list(option.choices)})
        else:
            choices = f"  ({' | '.join(option.choices)})" if option.choices else ""
            out.write(f"{key:<18} {value!s:<12}{choices}\n")
    return 0


async def settings_set(core: Parley, *, key: str, value: str, out: IO[str]) -> int:
    """``settings set KEY VALUE`` (validated as the Settings dialog validates it)."""
    await core.db.run(core.save_setting, key, value)
    out.write(f"{key} = {core.settings[key]}\n")
    return 0


async def accounts_add_mastodon(core: Parley, *, instance: str, token: str, out: IO[str]) -> int:
    """``accounts add mastodon --instance URL --token-stdin`` (the token is the first line of stdin)."""
    row = await core.add_mastodon_account(instance, token.strip())
    out.write(f"{row.id:>3}  {row.label:<22} {row.handle:<28} added (replies up to {row.char_limit} characters)\n")
    return 0


async def accounts_sign_in_mastodon(
    core: Parley, *, instance: str, read_code: Callable[[], str], out: IO[str], err: IO[str]
) -> int:
    """``accounts add mastodon --instance URL`` without ``--token-stdin``: approve in a browser, paste the code."""
    async with core.mastodon_sign_in(instance, loopback=False) as sign_in:
        url = await sign_in.start()
        out.write(f"Open this address in a browser, approve Parley, then paste the code it shows:\n{url}\n")
        out.flush()
        err.write("Code: ")
        err.flush()
        code = (await asyncio.to_thread(read_code)).strip()
        if not code:
            raise InvalidInput(
                "No code was pasted; run the command again to sign in, or pipe an access token in with --token-stdin."
            )
        row = await sign_in.finish(code)
    out.write(f"{row.id:>3}  {row.label:<22} {row.handle:<28} added (replies up to {row.char_limit} characters)\n")
    return 0


async def accounts_add_bluesky(core: Parley, *, pds: str, handle: str, password: str, out: IO[str]) -> int:
    """``accounts add bluesky --pds URL --handle H --password-stdin`` (the app password is stdin's first line)."""
    row = await core.add_bluesky_account(pds, handle, password.strip())
    out.write(f"{row.id:>3}  {row.label:<22} {row.handle:<28} added (replies up to {row.char_limit} characters)\n")
    return 0


async def sync(core: Parley, *, once: bool, out: IO[str], err: IO[str]) -> int:
    """``sync --once``: one pass; without ``--once``, poll at the configured interval until stopped."""
    while True:
        report = await core.sync_once()
        out.write(f"{report.fetched} new post{'s' if report.fetched != 1 else ''}\n")
        for p in report.problems:
            err.write(f"{p.handle}: {p.message}\n")
        if once:
            # Failing means every account it tried failed (an imported archive is never tried).
            return 1 if report.problems and len(report.problems) >= len(report.changes.accounts) else 0
        await asyncio.sleep(float(core.settings["sync_interval"]))


async def timeline(
    core: Parley, *, urgent: bool, search: str, limit: int, view: str, as_json: bool, out: IO[str]
) -> int:
    """``timeline``: the merged timeline, newest first."""
    flt = TimelineFilter(view="urgent" if urgent else view, search=search, operator=core.settings["operator"])
    remaining = max(0, limit)
    after = None
    while remaining:
        rows = core.page(flt, after, min(remaining, 500))
        if not rows:
            break
        for r in rows:
            if as_json:
                _emit(out, r.to_json())
            else:
                flag = "!" if r.urgent else " "
                reasons = ", ".join(x.label for x in r.reasons[:3])
                text = " ".join(r.text.split())
                out.write(f"{flag} {r.id:>6}  {_when(r)}  {r.author_handle:<22} {text[:90]}")
                out.write(f"  [{reasons}]\n" if reasons else "\n")
        remaining -= len(rows)
        last = rows[-1]
        after = PageKey(last.created_at, last.id)
    return 0


async def reply(core: Parley, *, post_id: int | None, text: str | None, batch: IO[str] | None, out: IO[str]) -> int:
    """``reply POST_ID --text TEXT`` or ``reply --batch FILE`` (JSON lines {"post", "text"})."""
    if batch is not None:
        items = []
        for n, line in enumerate(batch, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                items.append((int(data["post"]), str(data["text"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f'Line {n} of the batch is not {{"post": id, "text": "..."}}: {exc}') from None
        for pid, body in items:
            row = await core.queue_reply(pid, body)
            _emit(out, row.to_json())
        return 0
    if post_id is None or text is None:
        raise InvalidInput("Give a post id and --text, or --batch FILE.")
    row = await core.queue_reply(post_id, text)
    _emit(out, row.to_json())
    return 0


async def outbox_list(core: Parley, *, as_json: bool, out: IO[str]) -> int:
    """``outbox list``."""
    for r in core.outbox.rows(limit=None):  # every item, not the panel's newest 500
        if as_json:
            _emit(out, r.to_json())
        else:
            why = f"  ({r.last_error})" if r.last_error and r.state != "sent" else ""
            out.write(f"{r.id:>5}  {r.state:<12} post {r.post_id:<6} {r.text[:60]}{why}\n")
    return 0


#: ``outbox drain``'s exit status when the queue is empty of work but replies wait for a person
#: (held for review, or refused): running it again will not help, unlike a timeout (1).
DRAIN_NEEDS_YOU = 3


def what_is_left(report: DrainReport) -> str:
    """What a drain leaves behind, in words: "3 replies still to send, 2 need review, 1 failed"."""
    phrases: list[str] = []
    for n, one, many in (
        (report.pending, "still to send", "still to send"),
        (report.needs_review, "needs review", "need review"),
        (report.failed, "failed", "failed"),
    ):
        if n:
            # Only the first count names what it counts: "2 replies need review, 1 failed".
            what = f"{n} repl{'y' if n == 1 else 'ies'}" if not phrases else str(n)
            phrases.append(f"{what} {one if n == 1 else many}")
    return ", ".join(phrases) or "nothing left to send"


async def outbox_drain(core: Parley, *, seconds: float | None, out: IO[str], err: IO[str]) -> int:
    """``outbox drain``: send until nothing is left to send.

    Exit 0 only when nothing is left: 1 when the timeout passed with replies still to send, and
    ``DRAIN_NEEDS_YOU`` when the rest failed or is held for review. Then one sentence on stderr says
    what is left (and the last outage, if any).
    """
    deadline = time.monotonic() + seconds if seconds is not None else None
    sent = 0
    reason: str | None = None  # the last stop (offline...): later passes may find nothing due and say nothing
    while True:
        report = await core.drain_outbox()
        sent += len(report.sent)
        reason = report.error or reason
        now = time.monotonic()
        timed_out = deadline is not None and now >= deadline
        if report.pending == 0 or timed_out:
            left = report.pending + report.needs_review + report.failed
            out.write(f"{sent} sent{'' if left else '; nothing left to send'}\n")
            if not left:
                return 0
            why = f" ({reason.rstrip('.')})" if reason and report.pending else ""
            err.write(f"parley: {what_is_left(report)}{why}; see `outbox list`.\n")
            return 1 if report.pending else DRAIN_NEEDS_YOU
        wait = 0.5
        if report.next_due is not None:
            wait = max(0.05, min(5.0, (report.next_due - core.clock()).total_seconds()))
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - now))
        await asyncio.sleep(wait)


async def outbox_action(core: Parley, *, action: str, item_id: int, text: str | None, out: IO[str]) -> int:
    """``outbox retry|cancel|edit|send-anyway ID``."""
    ob = core.outbox
    if action == "retry":
        row = await core.db.run(ob.retry, item_id)
    elif action == "send-anyway":
        row = await core.db.run(ob.retry, item_id, send_anyway=True)
    elif action == "cancel":
        row = await core.db.run(ob.cancel, item_id)
    elif action == "edit":
        if not text:
            raise InvalidInput("Give the new text with --text.")
        row = await core.edit_reply(item_id, text)  # new @handles are looked up as for a new reply
    else:  # pragma: no cover - argparse limits the choices
        raise InvalidInput(f"Unknown outbox action {action!r}.")
    _emit(out, row.to_json())
    return 0


async def outbox_attempts(core: Parley, *, out: IO[str]) -> int:
    """``outbox attempts``: every recorded send attempt as JSON lines."""
    for a in await core.db.run(core.outbox.attempts):
        _emit(out, a)
    return 0


def triage_stream(core: Parley, lines: Iterable[str], out: IO[str], err: IO[str]) -> int:
    """``triage``: JSON lines {"id", "text"} in, scores out, in the same order."""
    scorer = core.triage()
    bad = 0
    batch: list[tuple[Any, TriageInput]] = []

    def flush() -> None:
        scores = scorer.score_many([item for _, item in batch])
        for (ident, _), sc in zip(batch, scores, strict=True):
            _emit(
                out,
                {
                    "id": ident,
                    "sentiment": round(sc.sentiment, 4),
                    "negative": sc.negative,
                    "urgency": round(sc.urgency, 4),
                    "urgent": sc.urgent,
                    "reasons": [r.label for r in sc.reasons],
                    "reason_codes": [r.code for r in sc.reasons],
                },
            )
        batch.clear()

    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            text = data["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
            followers = data.get("followers")
            item = TriageInput(
                text=text,
                lang=data.get("lang"),
                author_followers=int(followers) if followers is not None else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            err.write(f'line {n}: not {{"id", "text"}} ({exc})\n')
            bad += 1
            continue
        batch.append((data.get("id"), item))
        if len(batch) >= 1000:
            flush()
    flush()
    return 1 if bad else 0


def export(core: Parley, *, fmt: str, out: IO[str]) -> int:
    """``export --format csv|jsonl``."""
    if fmt == "jsonl":
        for row in core.export_rows():
            _emit(out, row.to_json())
        return 0
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in core.export_rows():
        data = row.to_json()
        data["reasons"] = "; ".join(data["reasons"])
        writer.writerow(data)
    return 0


def import_jsonl(core: Parley, stream: IO[str], out: IO[str], err: IO[str], *, size: int | None = None) -> int:
    """``import --jsonl FILE`` (``size`` in bytes, when known, decides whether to use every core)."""
    # An exported line is a few hundred bytes; the estimate only chooses between one and all cores.
    new, skipped, errors = core.import_lines(stream, expected=size // 300 if size is not None else None)
    for e in errors[:20]:
        err.write(f"{e}\n")
    if len(errors) > 20:
        err.write(f"... and {len(errors) - 20} more lines that could not be read\n")
    out.write(f"{new} imported, {skipped} already stored, {len(errors)} unreadable\n")
    return 1 if errors and not new else 0


async def set_status(core: Parley, *, ids: list[int], status: str, out: IO[str]) -> int:
    """``mark ID... --as done|open|ignored``."""
    changes = await core.db.run(core.set_status, ids, status)
    missing = set(ids) - set(changes.updated_posts)
    if missing:
        raise NotFound(f"There is no post {', '.join(str(i) for i in sorted(missing))}.")
    out.write(f"{len(ids)} marked {status}\n")
    return 0


async def correct(
    core: Parley, *, post_id: int, verdict: str | None, operator: str | None, as_json: bool, out: IO[str]
) -> int:
    """``correct POST_ID --as urgent|not-urgent|not-negative`` or ``correct POST_ID --undo``."""
    if verdict is None:
        outcome = await core.db.run(core.undo_correction, post_id, operator)
    else:
        outcome = await core.db.run(core.correct, post_id, verdict, operator)
    row = outcome.correction
    if as_json:
        _emit(out, {**row.to_json(), "similar": list(outcome.similar), "rescored": sorted(outcome.rescored)})
        return 0
    words = verdict_words(row.verdict)
    if row.active:
        out.write(f"post {row.post_id} marked {words}{f' by {row.operator}' if row.operator else ''}")
    else:
        out.write(f"post {row.post_id}: correction withdrawn (it was marked {words})")
    n = len(outcome.similar)
    similar = f"; {n} similar open post{'s' if n != 1 else ''} scored again ({', '.join(map(str, outcome.similar))})"
    out.write((similar if n else "; no similar open posts") + "\n")
    return 0


async def corrections_list(core: Parley, *, include_withdrawn: bool, as_json: bool, out: IO[str]) -> int:
    """``corrections list [--all] [--json]``: newest first."""
    for r in await core.db.run(lambda: core.corrections(include_withdrawn=include_withdrawn)):
        if as_json:
            _emit(out, r.to_json())
            continue
        state = "" if r.active else "  (withdrawn)"
        who = r.operator or "-"
        text = " ".join(r.text.split())
        when = r.created_at.strftime("%Y-%m-%d %H:%M")
        out.write(
            f"{r.id:>5}  post {r.post_id:<6} {verdict_words(r.verdict):<13} {who:<12} {when}  {text[:60]}{state}\n"
        )
    return 0


def demo_switch(core: Parley, *, offline: bool | None, faults: float | None, out: IO[str]) -> int:
    """``demo offline on|off`` and ``demo faults RATE``: drive the demo network."""
    world = core.networks.demo_world
    if offline is not None:
        world.set_offline(offline)
    if faults is not None:
        world.set_fault_rate(faults)
    out.write(f"demo network: {'offline' if world.offline else 'online'}, fault rate {world.fault_rate:g}\n")
    return 0
