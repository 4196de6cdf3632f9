"""Parley's composition root: arguments, data dir, logging, then the CLI or the GUI."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

APP = "parley"
LOG_NAME = "parley.log"


def build_parser() -> argparse.ArgumentParser:
    """The command line of design section 6."""
    p = argparse.ArgumentParser(prog="parley", description="Parley: a desktop console for social customer care.")
    p.add_argument("--data-dir", type=Path, help="where the database, log and demo state live")
    p.add_argument("--db", metavar="URL", help="database URL (default: SQLite in the data dir)")
    p.add_argument("--demo", action="store_true", help="use the built-in demo network")
    p.add_argument("--screenshot", metavar="FILE", type=Path, help="open the GUI, wait for the timeline, save a PNG")
    p.add_argument("--verbose", action="store_true", help="log debug details")
    sub = p.add_subparsers(dest="command")

    acc = sub.add_parser("accounts", help="list or add accounts")
    acc_sub = acc.add_subparsers(dest="accounts_command", required=True)
    lst = acc_sub.add_parser("list")
    lst.add_argument("--json", action="store_true")
    add = acc_sub.add_parser("add")
    add.add_argument("network", choices=["demo", "mastodon", "bluesky"])
    add.add_argument("--instance")
    add.add_argument("--pds")
    add.add_argument("--handle")
    add.add_argument("--token-stdin", action="store_true")
    add.add_argument("--password-stdin", action="store_true")

    s = sub.add_parser("sync", help="fetch new mentions from every account")
    s.add_argument("--once", action="store_true", help="one pass, then exit")

    t = sub.add_parser("timeline", help="the merged timeline, newest first")
    t.add_argument("--urgent", action="store_true")
    t.add_argument("--view", default="all", choices=["all", "urgent", "unanswered", "mine", "snoozed", "done"])
    t.add_argument("--search", default="")
    t.add_argument("--limit", type=int, default=50)
    t.add_argument("--json", action="store_true")

    r = sub.add_parser("reply", help="queue a reply")
    r.add_argument("post", nargs="?", type=int)
    r.add_argument("--text")
    r.add_argument("--batch", type=Path, help='JSON lines {"post": id, "text": "..."}')

    o = sub.add_parser("outbox", help="the reply queue")
    o_sub = o.add_subparsers(dest="outbox_command", required=True)
    ol = o_sub.add_parser("list")
    ol.add_argument("--json", action="store_true")
    od = o_sub.add_parser(
        "drain",
        help="send what is queued",
        description="Send until nothing is left to send. Exit 0 only then; 1 when the timeout passes with "
        "replies still to send; 3 when the rest failed or waits for review (see `outbox list`).",
    )
    od.add_argument("--timeout", type=float, help="give up after S seconds (exit 1 if replies are still to send)")
    o_sub.add_parser("attempts", help="every send attempt, as JSON lines")
    for action in ("retry", "cancel", "edit", "send-anyway"):
        a = o_sub.add_parser(action)
        a.add_argument("item", type=int)
        if action == "edit":
            a.add_argument("--text", required=True)

    sub.add_parser("triage", help='score JSON lines {"id", "text"} from stdin')

    e = sub.add_parser("export", help="write every stored post")
    e.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
    e.add_argument("--out", type=Path)

    i = sub.add_parser("import", help="read posts from an export or another tool's archive")
    i.add_argument("--jsonl", type=Path, required=True)

    m = sub.add_parser("mark", help="mark posts done, open, ignored or new")
    m.add_argument("posts", type=int, nargs="+")
    m.add_argument("--as", dest="status", required=True, choices=["new", "open", "done", "ignored"])

    co = sub.add_parser("correct", help="correct a post's triage; posts like it are scored again")
    co.add_argument("post", type=int)
    verdict = co.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--as", dest="verdict", metavar="urgent|not-urgent|not-negative")
    verdict.add_argument("--undo", action="store_true", help="withdraw the post's correction")
    co.add_argument("--by", metavar="NAME", help="who corrects (default: the operator setting)")
    co.add_argument("--json", action="store_true")
    cl = sub.add_parser("corrections", help="operators' corrections of triage")
    cl_sub = cl.add_subparsers(dest="corrections_command", required=True)
    cl_list = cl_sub.add_parser("list")
    cl_list.add_argument("--all", action="store_true", help="withdrawn ones too")
    cl_list.add_argument("--json", action="store_true")

    st = sub.add_parser("settings", help="show or change a setting (the ones of the Settings dialog)")
    st_sub = st.add_subparsers(dest="settings_command", required=True)
    st_sub.add_parser("list").add_argument("--json", action="store_true")
    st_set = st_sub.add_parser("set")
    st_set.add_argument("key")
    st_set.add_argument("value")

    d = sub.add_parser("demo", help="drive the demo network")
    d.add_argument("switch", choices=["offline", "online", "faults"])
    d.add_argument("rate", nargs="?", type=float, default=None)
    return p


def resolve_data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir``, then ``PARLEY_DATA_DIR``, then a throwaway dir for ``--demo``, else the platform's."""
    if args.data_dir:
        path = Path(args.data_dir)
    elif os.environ.get("PARLEY_DATA_DIR"):
        path = Path(os.environ["PARLEY_DATA_DIR"])
    elif args.demo:
        path = Path(tempfile.mkdtemp(prefix="parley-demo-"))
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_logging(data_dir: Path, verbose: bool) -> Path:
    """Log to a rotating file in the data dir; only warnings reach stderr."""
    log_path = data_dir / LOG_NAME
    handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_path


async def run_command(args: argparse.Namespace, core: object) -> int:
    """Dispatch one CLI command."""
    from services import commands as c
    from services.core import Parley
    from services.errors import InvalidInput

    assert isinstance(core, Parley)
    out, err = sys.stdout, sys.stderr
    cmd = args.command
    if cmd == "accounts":
        if args.accounts_command == "list":
            return await c.accounts_list(core, as_json=args.json, out=out)
        if args.network == "demo":
            core.add_demo_accounts()
            return await c.accounts_list(core, as_json=False, out=out)
        if args.network == "mastodon":
            if not args.instance:
                raise InvalidInput(
                    "Give --instance URL (and pipe an access token in with --token-stdin, or leave that out "
                    "to sign in in a browser)."
                )
            if not args.token_stdin:
                # Sign in in a browser: the authorize address goes out, the code the server shows comes in.
                return await c.accounts_sign_in_mastodon(
                    core, instance=args.instance, read_code=sys.stdin.readline, out=out, err=err
                )
            # Tokens come from stdin only: arguments show up in `ps` and in shell history.
            if sys.stdin.isatty():  # typed by hand: do not echo it to the screen
                import getpass

                token = getpass.getpass("Mastodon access token: ")
            else:
                token = sys.stdin.readline()
            return await c.accounts_add_mastodon(core, instance=args.instance, token=token, out=out)
        if args.network == "bluesky":
            if not args.pds or not args.handle or not args.password_stdin:
                raise InvalidInput("Give --pds URL and --handle H, and pipe the app password in with --password-stdin.")
            # The app password comes from stdin only: arguments show up in `ps` and in shell history.
            return await c.accounts_add_bluesky(
                core, pds=args.pds, handle=args.handle, password=sys.stdin.readline(), out=out
            )
        raise InvalidInput(
            f"Adding {args.network} accounts is not available in this version yet; try the demo with --demo."
        )
    if cmd == "sync":
        return await c.sync(core, once=args.once, out=out, err=err)
    if cmd == "timeline":
        return await c.timeline(
            core, urgent=args.urgent, search=args.search, limit=args.limit, view=args.view, as_json=args.json, out=out
        )
    if cmd == "reply":
        if args.batch:
            with _open_input(args.batch) as fh:
                return await c.reply(core, post_id=None, text=None, batch=fh, out=out)
        return await c.reply(core, post_id=args.post, text=args.text, batch=None, out=out)
    if cmd == "outbox":
        sub = args.outbox_command
        if sub == "list":
            return await c.outbox_list(core, as_json=args.json, out=out)
        if sub == "drain":
            return await c.outbox_drain(core, seconds=args.timeout, out=out, err=err)
        if sub == "attempts":
            return await c.outbox_attempts(core, out=out)
        return await c.outbox_action(core, action=sub, item_id=args.item, text=getattr(args, "text", None), out=out)
    if cmd == "triage":
        return c.triage_stream(core, sys.stdin, out, err)
    if cmd == "export":
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as fh:  # noqa: ASYNC230 (CLI: nothing else on this loop)
                return c.export(core, fmt=args.format, out=fh)
        return c.export(core, fmt=args.format, out=out)
    if cmd == "import":
        with _open_input(args.jsonl) as fh:
            return c.import_jsonl(core, fh, out, err, size=os.fstat(fh.fileno()).st_size)
    if cmd == "mark":
        return await c.set_status(core, ids=args.posts, status=args.status, out=out)
    if cmd == "correct":
        return await c.correct(
            core, post_id=args.post, verdict=args.verdict, operator=args.by, as_json=args.json, out=out
        )
    if cmd == "corrections":
        return await c.corrections_list(core, include_withdrawn=args.all, as_json=args.json, out=out)
    if cmd == "settings":
        if args.settings_command == "set":
            return await c.settings_set(core, key=args.key, value=args.value, out=out)
        return c.settings_list(core, as_json=args.json, out=out)
    if cmd == "demo":
        if args.switch == "faults":
            return c.demo_switch(core, offline=None, faults=args.rate or 0.0, out=out)
        return c.demo_switch(core, offline=args.switch == "offline", faults=None, out=out)
    raise InvalidInput(f"Unknown command {cmd!r}.")


def _open_input(path: Path):  # type: ignore[no-untyped-def]
    from services.errors import InvalidInput

    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from None


def open_core(args: argparse.Namespace, data_dir: Path):  # type: ignore[no-untyped-def]
    """Open the database and build the core (adding the demo accounts with ``--demo``)."""
    from services.core import Parley
    from services.store.db import open_database, sqlite_url

    url = args.db or os.environ.get("PARLEY_DATABASE_URL") or sqlite_url(data_dir / "parley.sqlite")
    core = Parley(open_database(url), data_dir)
    if args.demo:
        core.add_demo_accounts()
    return core


def cli_main(args: argparse.Namespace, data_dir: Path, log_path: Path) -> int:
    """Run one CLI command; errors become one plain sentence on stderr and a non-zero exit."""
    from services.errors import ParleyError

    core = None
    try:
        core = open_core(args, data_dir)
        return asyncio.run(run_command(args, core))
    except ParleyError as exc:
        print(f"parley: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception:
        logging.getLogger(APP).exception("unexpected error in %s", args.command)
        print(f"parley: an unexpected error stopped {args.command}; the details are in {log_path}", file=sys.stderr)
        return 70
    finally:
        if core is not None:
            core.db.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    data_dir = resolve_data_dir(args)
    log_path = setup_logging(data_dir, args.verbose)
    if args.command:
        return cli_main(args, data_dir, log_path)
    from ui.app import run_gui

    return run_gui(args, data_dir, log_path, open_core)


if __name__ == "__main__":
    sys.exit(main())
