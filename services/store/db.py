"""The engine, sessions, migrations on start, and the single worker that runs blocking DB calls."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event, inspect, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from services.errors import StorageError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")

_REVISION = re.compile(r"^revision\s*(?::[^=\n]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=\n]*)?=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revisions of the migration scripts, read from the files without loading Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        if revision := _REVISION.search(source):
            revisions.add(revision.group(1))
        if down := _DOWN_REVISION.search(source):
            parents.update(_QUOTED.findall(down.group(1)))
    return frozenset(revisions - parents)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def redact(url: str) -> str:
    """A database URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show nothing of it that could hold a secret
        return "<database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the GUI read while the sync worker writes; NORMAL is durable in WAL mode
    # except for the last transaction on power loss, never corrupting.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Database:
    """One database (SQLite file or PostgreSQL URL) with migrations applied."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        try:
            if self.is_sqlite:
                self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
                event.listen(self.engine, "connect", _sqlite_pragmas)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StorageError(f"The database {redact(url)} cannot be used: {exc}") from None
        # SQLite allows one writer: every write goes through this one thread, in order.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-db")

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to call on every start).

        When the stored revision is already the newest, Alembic is not even imported: that saves
        ~0.1 s on every start, on the way to the first window.
        """
        try:
            heads = head_revisions()
            if heads and self.stored_revisions() == heads:
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as exc:
            raise StorageError(
                f"The database {redact(self.url)} cannot be opened or upgraded: {_first_line(exc)}"
            ) from None

    def stored_revisions(self) -> frozenset[str]:
        """The schema revisions the database says it is at (none for a new database)."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return frozenset()
            return frozenset(str(v) for v in conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                # Full disk, a locked or vanished file, a dropped server: known conditions, not bugs.
                raise StorageError(f"The database could not be used: {_plain(exc)}") from exc
            except BaseException:
                s.rollback()
                raise

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking DB function on the database worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish queued work and release connections."""
        self._worker.shutdown(wait=True)
        self.engine.dispose()


def _plain(exc: OperationalError) -> str:
    """The driver's message in words a person can act on."""
    text = _first_line(exc)
    if "disk is full" in text or "No space left" in text:
        return "the disk is full. Free some space; nothing was lost, the last change was not saved."
    if "database is locked" in text:
        return "another program holds the database locked. Try again in a moment."
    if "readonly" in text or "read-only" in text:
        return "the database file is read-only."
    return text


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def open_database(url: str) -> Database:
    """Open (creating if needed) and migrate the database at ``url``."""
    db = Database(url)
    db.migrate()
    return db
