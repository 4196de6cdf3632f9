"""The store and the outbox on a real PostgreSQL server (team mode), each test in a fresh schema.

Set ``PARLEY_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
Without it, or when the server cannot be reached, these tests are skipped, except where ``CI=true``:
there they fail, because CI must exercise PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from services.core import Parley
from services.outbox import Outbox
from services.store import pgfold
from services.store import posts as store
from services.store.db import Database, open_database
from services.store.models import Account, Post
from services.store.posts import PageKey, PostRow, TimelineFilter
from services.triage import Triage
from tests.conftest import Clock
from tests.helpers.factories import ALICE, BOB, BRAND, T0, add_account, attach_world, remote_post
from tests.helpers.networks import InFlight, ScriptedRegistry

pytestmark = pytest.mark.postgres

TRIAGE = Triage()
HOSTILE = [
    "",
    "   ",
    '"',
    "*",
    "NEAR(",
    "'; DROP TABLE post; --",
    "a & b",
    "a | !b",
    "a:*",
    "(",
    "'",
    "\\",
    "\x00",
    "😀",
    "ŉ",  # unaccent turns these letters into tsquery syntax: ' and :
    "donʼt",
    "aː",
    "⑴",
]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The server URL, checked once; skip (or, where CI=true, fail) when there is none."""
    url = os.environ.get("PARLEY_TEST_POSTGRES_URL", "").strip()
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not url:
        if in_ci:
            pytest.fail("CI=true but PARLEY_TEST_POSTGRES_URL is not set: the PostgreSQL tests must run in CI.")
        pytest.skip("PARLEY_TEST_POSTGRES_URL is not set")
    engine = create_engine(make_url(url).update_query_dict({"connect_timeout": "3"}))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        where = make_url(url).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} is unreachable: {exc.__class__.__name__}"
        if in_ci:
            pytest.fail(
                f"CI=true and {reason}. Start it with: pg_ctlcluster --skip-systemctl-redirect <version> main start"
            )
        pytest.skip(reason)
    finally:
        engine.dispose()
    return url


@contextlib.contextmanager
def fresh_schema(pg_url: str) -> Iterator[str]:
    """A URL whose connections live in a fresh, private schema (dropped afterwards)."""
    schema = f"parley_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def schema_url(pg_url: str) -> Iterator[str]:
    with fresh_schema(pg_url) as url:
        yield url


@pytest.fixture
def pg(schema_url: str) -> Iterator[Database]:
    db = open_database(schema_url)
    yield db
    db.close()


def ingest(db: Database, account: Account, posts: list) -> list[int]:
    with db.session() as s:
        return store.ingest(s, account, posts, TRIAGE, T0 + timedelta(hours=1))


def count_posts(db: Database) -> int:
    with db.session() as s:
        return int(s.execute(text("SELECT count(*) FROM post")).scalar_one())


def search(db: Database, query: str) -> set[str]:
    with db.session() as s:
        rows = store.page(s, TimelineFilter(search=query), None, 500)
        assert store.count(s, TimelineFilter(search=query)) == len(rows)
    return {r.remote_id for r in rows}


def all_pages(db: Database, flt: TimelineFilter, limit: int) -> list[PostRow]:
    out: list[PostRow] = []
    after: PageKey | None = None
    with db.session() as s:
        for _ in range(count_posts(db) // limit + 2):
            rows = store.page(s, flt, after, limit)
            if not rows:
                return out
            out += rows
            after = PageKey(rows[-1].created_at, rows[-1].id)
    raise AssertionError("paging did not end")


# -- schema ----------------------------------------------------------------------------------------


def test_migrations_build_the_schema_and_are_idempotent(schema_url: str) -> None:
    first = open_database(schema_url)
    try:
        assert not first.is_sqlite
        insp = inspect(first.engine)
        tables = set(insp.get_table_names())
        assert {"account", "author", "post", "sync_cursor", "outbox_item", "outbox_attempt", "lease"} <= tables
        columns = {c["name"]: c for c in insp.get_columns("post")}
        assert str(columns["search"]["type"]).upper() == "TSVECTOR"
        index_sql = " ".join(
            first.engine.connect().execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'post'")).scalars()
        )
        assert "USING gin (search)" in index_sql
        add_account(first)
    finally:
        first.close()
    again = open_database(schema_url)  # a second start: nothing to do, nothing lost
    try:
        with again.session() as s:
            assert len(s.exec(select(Account)).all()) == 1
            assert len(s.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
    finally:
        again.close()


# -- ingest, search, paging -------------------------------------------------------------------------


def test_ingest_never_duplicates(pg: Database) -> None:
    acc = add_account(pg)
    batch = [remote_post(f"m{i}", f"post {i}", at=T0 + timedelta(minutes=i)) for i in range(5)]
    assert len(ingest(pg, acc, batch)) == 5
    assert ingest(pg, acc, batch) == []
    assert len(ingest(pg, acc, [*batch[3:], remote_post("m5", "post 5"), remote_post("m5", "post 5")])) == 1
    assert count_posts(pg) == 6
    with pg.session() as s:
        rows = {r.remote_id: r for r in store.page(s, TimelineFilter(), None, 50)}
    assert set(rows) == {f"m{i}" for i in range(6)}


SEARCH_POSTS = {
    "router": "My router keeps rebooting every night",
    "de_umlaut": "Seit drei Tagen kein Internet und niemand ruft zurück.",
    "refund": "Refunds take forever; where is my refund",
    "drop": "someone typed DROP TABLE post into the form",
}


@pytest.fixture(scope="module")
def searchable(pg_url: str) -> Iterator[Database]:
    """One read-only schema for every search test."""
    with fresh_schema(pg_url) as url:
        db = open_database(url)
        acc = add_account(db)
        posts = [
            remote_post(rid, body, at=T0 + timedelta(minutes=n)) for n, (rid, body) in enumerate(SEARCH_POSTS.items())
        ]
        ingest(db, acc, posts)
        yield db
        db.close()


def test_tsvector_search_finds_words_and_prefixes(searchable: Database) -> None:
    assert search(searchable, "router") == {"router"}
    assert search(searchable, "ROUTER") == {"router"}
    assert search(searchable, "rebooting router") == {"router"}
    assert search(searchable, "router refund") == set()
    assert search(searchable, "rout") == {"router"}
    assert search(searchable, "refund") == {"refund"}
    assert search(searchable, "zurück") == {"de_umlaut"}
    assert search(searchable, "'; DROP TABLE post; --") == {"drop"}
    assert count_posts(searchable) == len(SEARCH_POSTS)


def test_search_ignores_diacritics_like_sqlite(searchable: Database) -> None:
    for query in ("zuruck", "ZURUCK", "zurúck", "ruft zur", "niemand zurüc"):
        assert search(searchable, query) == {"de_umlaut"}, query
    assert search(searchable, "röuter") == {"router"}  # an accent typed by mistake still finds it


FOLDED = {
    "street": "Die Straße ist seit Montag gesperrt",
    "cafe": "Le café du coin a encore une panne, ça dure depuis déjà trois jours",
    "vn": "Mạng ở Việt Nam bị chậm quá",
}


def fold_mode(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return pgfold.mode(conn)


def test_search_folds_with_unaccent_where_the_server_has_it(pg: Database) -> None:
    with pg.engine.connect() as conn:
        available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")).scalar()
    if not available:
        pytest.skip("this PostgreSQL server has no unaccent extension")
    assert fold_mode(pg) == "unaccent"
    acc = add_account(pg)
    ingest(pg, acc, [remote_post(rid, body) for rid, body in FOLDED.items()])
    assert search(pg, "cafe deja") == search(pg, "CAFÉ DÉJÀ") == {"cafe"}
    assert search(pg, "viet nam cham") == {"vn"}
    assert search(pg, "strasse") == {"street"}  # unaccent also folds letters without a decomposition


@pytest.mark.slow  # a database of its own (the extension exists once per database): dropping it takes seconds
def test_without_the_right_to_add_unaccent_search_still_folds_accents(pg_url: str) -> None:
    """A role that may not create extensions (a managed server): built-in folding, same search."""
    name = f"parley_plain_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    own = create_engine(make_url(pg_url).set(database=name), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # template0: nobody is ever connected to it, unlike template1
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
            conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        with own.connect() as conn:  # the role owns one schema, and nothing else in the new database
            conn.execute(text(f'CREATE SCHEMA app AUTHORIZATION "{name}"'))
        own.dispose()
        url = make_url(pg_url).set(database=name, username=name).update_query_dict({"options": "-csearch_path=app"})
        db = open_database(url.render_as_string(hide_password=False))
        try:
            with db.engine.connect() as conn:
                assert pgfold.mode(conn) == "builtin"
                assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'unaccent'")).scalar() == 0
            acc = add_account(db)
            ingest(db, acc, [remote_post(rid, body) for rid, body in {**SEARCH_POSTS, **FOLDED}.items()])
            assert search(db, "zuruck") == search(db, "zurück") == {"de_umlaut"}
            assert search(db, "cafe deja") == {"cafe"} and search(db, "viet nam cham") == {"vn"}
            for query in HOSTILE:
                assert search(db, query) <= set(SEARCH_POSTS) | set(FOLDED), query
        finally:
            db.close()
    finally:
        own.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def test_hostile_search_input_never_raises(searchable: Database) -> None:
    for query in HOSTILE:
        assert search(searchable, query) <= set(SEARCH_POSTS), query
    assert search(searchable, '"') == set() and search(searchable, "NEAR(") == set()
    assert count_posts(searchable) == len(SEARCH_POSTS)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=40))
def test_any_search_text_is_safe(searchable: Database, query: str) -> None:
    assert search(searchable, query) <= set(SEARCH_POSTS)


def test_keyset_paging_and_views(pg: Database) -> None:
    accounts = [add_account(pg, "@a@example.social"), add_account(pg, "b.bsky.social", "bluesky")]
    texts = ["still no internet, third time asking, useless", "thanks, all good", "opening hours?"]
    for n, acc in enumerate(accounts):
        ingest(
            pg,
            acc,
            [
                remote_post(
                    f"{n}-{i}", f"{texts[i % 3]} #{i}", at=T0 + timedelta(minutes=i % 6), author=ALICE if i % 2 else BOB
                )
                for i in range(40)
            ],
        )
    with pg.session() as s:
        ids = list(s.scalars(select(Post.id).order_by(Post.id)))
        store.set_status(s, ids[:7], "done")
    for flt in (
        TimelineFilter(),
        TimelineFilter(view="urgent"),
        TimelineFilter(view="done"),
        TimelineFilter(network="bluesky"),
        TimelineFilter(account_id=accounts[0].id, view="unanswered"),
        TimelineFilter(search="internet"),
    ):
        for limit in (1, 7, 50):
            rows = all_pages(pg, flt, limit)
            ids_seen = [r.id for r in rows]
            assert len(ids_seen) == len(set(ids_seen))
            with pg.session() as s:
                assert len(rows) == store.count(s, flt), (flt, limit)
                expected = set(s.scalars(select(Post.id).where(*store.filter_clauses(s, flt))))
            assert set(ids_seen) == expected
            keys = [r.id for r in rows] if flt.by_id else [(r.created_at, r.id) for r in rows]
            assert keys == sorted(keys, reverse=True)
    assert len(all_pages(pg, TimelineFilter(), 9)) == 80


# -- the outbox -------------------------------------------------------------------------------------


@pytest.fixture
def pg_core(schema_url: str, data_dir: Path, clock: Clock) -> Iterator[Parley]:
    core = Parley(open_database(schema_url), data_dir, clock=clock)
    attach_world(core.networks, data_dir, clock)
    core.add_demo_accounts()
    assert run(core.sync_once()).fetched == 7
    yield core
    run(core.aclose())  # the connectors' HTTP clients and the database, as the app closes them


def post_id(core: Parley, remote_id: str) -> int:
    with core.db.session() as s:
        return int(s.exec(select(Post.id).where(Post.remote_id == remote_id)).one())


def test_outbox_drain_end_to_end_with_the_demo_network(pg_core: Parley, data_dir: Path, clock: Clock) -> None:
    world = pg_core.networks.demo_world
    registry = ScriptedRegistry(data_dir, world)
    ob = Outbox(pg_core.db, registry, clock=clock, holder="pg-sender")
    pid = post_id(pg_core, "p0006")
    plain = ob.queue(pid, "Sorry Lena, an engineer is on the way.")
    lost = ob.queue(post_id(pg_core, "p0003"), "We know about the outage in your street.")
    with pg_core.db.session() as s:
        account_of_lost = s.exec(select(Post.account_id).where(Post.remote_id == "p0003")).one()
    registry.script(account_of_lost, "after")  # delivered, answer lost
    world.set_offline(True)
    report = run(ob.drain_once())
    assert report.offline and report.pending == 2 and world.replies_count() == 0
    world.set_offline(False)
    clock.advance(seconds=10)
    run(ob.drain_once())
    assert ob.get(plain.id).state == "sent"
    assert ob.get(lost.id).state == "unknown"
    clock.advance(seconds=400)
    assert run(ob.drain_once()).sent == (lost.id,)
    assert ob.get(lost.id).state == "sent" and ob.get(lost.id).attempts == 1
    assert world.replies_count() == 2
    assert sorted(registry.deliveries().values()) == [1, 1]
    own = [r for r in pg_core.conversation(pid) if r.kind == "own_reply"]
    assert [r.remote_id for r in own] == [ob.get(plain.id).remote_id]
    assert pg_core.rows_by_id([pid])[0].answered


def test_lease_is_exclusive_between_two_outboxes(
    pg_core: Parley, schema_url: str, data_dir: Path, clock: Clock
) -> None:
    world = pg_core.networks.demo_world
    targets = ["p0001", "p0002", "p0003", "p0004", "p0005", "p0006"]
    queued = [pg_core.outbox.queue(post_id(pg_core, rid), f"Reply for {rid}") for rid in targets]
    in_flight, delivered = InFlight(), []
    dbs = [open_database(schema_url), open_database(schema_url)]
    a, b = (
        Outbox(
            db,
            ScriptedRegistry(data_dir, world, delay=0.01, in_flight=in_flight, delivered=delivered),
            clock=clock,
            holder=holder,
        )
        for db, holder in zip(dbs, ("operator-a", "operator-b"), strict=True)
    )
    account = pg_core.accounts()[0].id
    try:
        assert a._acquire(account)
        assert not b._acquire(account)
        a._release(account)
        assert b._acquire(account)
        b._release(account)

        async def both() -> None:
            for _ in range(10):
                reports = await asyncio.gather(a.drain_once(), b.drain_once())
                if all(r.pending == 0 for r in reports):
                    return
            raise AssertionError("the queue did not drain")

        run(both())
    finally:
        for db in dbs:
            db.close()
    assert len(delivered) == len(set(delivered)) == len(queued)
    assert world.replies_count() == len(queued)
    assert max(in_flight.peak.values()) == 1
    assert {pg_core.outbox.get(q.id).state for q in queued} == {"sent"}


def test_own_replies_from_ingest_mark_answered_on_postgres(pg: Database) -> None:
    acc = add_account(pg)
    ingest(
        pg,
        acc,
        [
            remote_post("q", "my bill is wrong", at=T0),
            remote_post(
                "r",
                "sorry, DM us",
                at=T0 + timedelta(minutes=5),
                author=BRAND,
                kind="own_reply",
                conversation="q",
                parent="q",
            ),
        ],
    )
    with pg.session() as s:
        rows = {p.remote_id: p for p in s.exec(select(Post))}
    assert rows["q"].answered and rows["r"].kind == "own_reply"


# -- operator corrections -----------------------------------------------------------------------------


def test_corrections_on_postgresql_apply_undo_and_keep_one_active_per_post(pg_core: Parley, schema_url: str) -> None:
    from services.corrections import CorrectionIndex
    from services.store.models import Correction
    from tests.helpers.factories import PARCEL, PARCEL_AGAIN, import_texts

    first, twin = import_texts(pg_core, [PARCEL, PARCEL_AGAIN])
    outcome = pg_core.correct(first, "not-urgent", "Ana")
    assert twin in outcome.similar
    rows = {r.id: r for r in pg_core.rows_by_id([first, twin])}
    assert not rows[first].urgent and rows[first].reasons[0].label == "marked not urgent by Ana"
    assert not rows[twin].urgent and any(r.code == f"like_corrected:{first}" for r in rows[twin].reasons)
    pg_core.correct(first, "urgent", "Bo")  # replaces Ana's: the partial unique index holds on PostgreSQL too
    assert pg_core.rows_by_id([first])[0].urgent
    with pytest.raises(IntegrityError), pg_core.db.session() as s:
        s.add(Correction(post_id=first, verdict="urgent", operator="Cy"))
        s.flush()
    # A teammate on the same database sees both on their next sync.
    teammate = Parley(open_database(schema_url), pg_core.data_dir, clock=pg_core.clock)
    try:
        index = teammate.triage().corrections
        assert isinstance(index, CorrectionIndex) and index.verdict_on(first) is not None
        pg_core.undo_correction(first, "Bo")
        assert teammate.refresh_corrections() and len(index) == 1 and len(teammate.triage().corrections or ()) == 0  # type: ignore[arg-type]
    finally:
        teammate.db.close()
    assert pg_core.rows_by_id([first])[0].urgent  # back to what triage says on its own
    history = pg_core.corrections(include_withdrawn=True)
    assert [(c.verdict, c.operator, c.active) for c in history] == [
        ("urgent", "Bo", False),
        ("not_urgent", "Ana", False),
    ]
