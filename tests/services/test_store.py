"""Tests for services.store: migrations, SQLite settings, idempotent ingest, search, paging, views."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import select

from services.core import Parley
from services.errors import InvalidInput, StorageError
from services.store import posts as store
from services.store.db import MIGRATIONS, Database, open_database, sqlite_url
from services.store.models import Account, Author, Post
from services.store.posts import PageKey, PostRow, TimelineFilter
from services.store.types import UTCDateTime
from services.triage import Triage
from tests.helpers.factories import ALICE, BOB, BRAND, T0, add_account, remote_post

TRIAGE = Triage()
EXPECTED_TABLES = {
    "account",
    "author",
    "post",
    "sync_cursor",
    "outbox_item",
    "outbox_attempt",
    "lease",
    "operator",
    "claim",
    "template",
    "audit_event",
    "setting",
    "correction",
    "alembic_version",
    "post_fts",
}
HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    "*",
    "**",
    "NEAR(",
    "NEAR(a b",
    "'; DROP TABLE post; --",
    'router"',
    '"router',
    "rout*",
    "-router",
    "router OR",
    "AND",
    "OR NOT",
    "NOT router",
    "text:router",
    "post_fts:router",
    "^router",
    "(",
    ")",
    "{text}: router",
    "a" * 5000,
    "x " * 400,
    "\x00",
    "%_%",
    "\\",
    "😀",
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(sqlite_url(tmp_path / "parley.sqlite"))
    yield database
    database.close()


def ingest(db: Database, account: Account, posts: list, now: datetime = T0 + timedelta(hours=1)) -> list[int]:
    with db.session() as s:
        return store.ingest(s, account, posts, TRIAGE, now)


def post_count(db: Database) -> int:
    with db.session() as s:
        return int(s.execute(text("SELECT count(*) FROM post")).scalar_one())


def all_pages(db: Database, flt: TimelineFilter, limit: int) -> list[PostRow]:
    out: list[PostRow] = []
    after: PageKey | None = None
    with db.session() as s:
        total = int(s.execute(text("SELECT count(*) FROM post")).scalar_one())
        for _ in range(total // limit + 2):  # a paging bug must fail, not loop for ever
            rows = store.page(s, flt, after, limit)
            assert len(rows) <= limit
            if not rows:
                return out
            out += rows
            after = PageKey(rows[-1].created_at, rows[-1].id)
    raise AssertionError("paging did not end: a page repeated rows")


def search(db: Database, query: str) -> set[str]:
    with db.session() as s:
        rows = store.page(s, TimelineFilter(search=query), None, 500)
        assert store.count(s, TimelineFilter(search=query)) == len(rows)
    return {r.remote_id for r in rows}


# -- migrations and connection settings ---------------------------------------------------------


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def test_migrations_create_every_table_on_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "parley.sqlite"
    path.parent.mkdir()
    assert not path.exists()
    database = open_database(sqlite_url(path))
    try:
        assert path.exists()
        tables = set(inspect(database.engine).get_table_names())
        assert tables >= EXPECTED_TABLES, EXPECTED_TABLES - tables
        with database.session() as s:
            assert s.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
    finally:
        database.close()


def test_migrations_are_idempotent_on_a_second_and_third_open(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "parley.sqlite")
    first = open_database(url)
    acc = add_account(first)
    ingest(first, acc, [remote_post("m1", "my router is broken")])
    tables = set(inspect(first.engine).get_table_names())
    first.close()
    for _ in range(2):
        again = open_database(url)
        try:
            assert set(inspect(again.engine).get_table_names()) == tables
            with again.session() as s:
                assert s.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
                assert [a.handle for a in s.exec(select(Account))] == [acc.handle]
            assert post_count(again) == 1
            assert search(again, "router") == {"m1"}  # the FTS index survived too
        finally:
            again.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(
            Post(
                account_id=999,
                network="mastodon",
                remote_id="orphan",
                conversation_key="orphan",
                author_id=999,
                text="nobody owns me",
                created_at=T0,
            )
        )
        s.flush()
    assert post_count(db) == 0


# -- ingest ---------------------------------------------------------------------------------------


def test_ingesting_the_same_posts_again_never_duplicates(db: Database) -> None:
    acc = add_account(db)
    batch = [remote_post(f"m{i}", f"post number {i}", at=T0 + timedelta(minutes=i)) for i in range(5)]
    first = ingest(db, acc, batch)
    assert len(first) == 5 and post_count(db) == 5
    assert ingest(db, acc, batch) == []
    assert ingest(db, acc, list(reversed(batch))) == []
    assert post_count(db) == 5
    # A page that overlaps what is stored adds only the new post.
    newer = remote_post("m5", "post number 5", at=T0 + timedelta(minutes=5))
    added = ingest(db, acc, [batch[3], batch[4], newer])
    assert len(added) == 1 and post_count(db) == 6
    # The same post twice in one page is stored once.
    dup = remote_post("m6", "twice in one page", at=T0 + timedelta(minutes=6))
    assert len(ingest(db, acc, [dup, dup])) == 1
    assert post_count(db) == 7
    with db.session() as s:
        remote_ids = [p.remote_id for p in s.exec(select(Post))]
        assert sorted(remote_ids) == sorted(set(remote_ids))
        # One author row however many posts they wrote.
        assert len(list(s.exec(select(Author).where(Author.remote_id == ALICE.remote_id)))) == 1


def test_the_same_remote_id_on_two_accounts_is_two_posts(db: Database) -> None:
    one, two = add_account(db, "@one@example.social"), add_account(db, "@two@example.social")
    p = remote_post("shared", "mentions both brands")
    assert len(ingest(db, one, [p])) == 1
    assert len(ingest(db, two, [p])) == 1
    assert ingest(db, one, [p]) == ingest(db, two, [p]) == []
    assert post_count(db) == 2


def test_ingest_scores_every_post_and_explains_complaints(db: Database) -> None:
    acc = add_account(db)
    ids = ingest(
        db,
        acc,
        [
            remote_post("c1", "Still waiting for my refund, third time I ask. Terrible service.", author=BOB),
            remote_post("c2", "Thanks so much, the engineer was brilliant!", at=T0 + timedelta(minutes=1)),
        ],
    )
    with db.session() as s:
        rows = {r.remote_id: r for r in store.rows_by_id(s, ids)}
    complaint, praise = rows["c1"], rows["c2"]
    assert complaint.negative and complaint.sentiment < 0
    assert complaint.reasons, "a complaint must carry its reasons"
    assert all(r.label for r in complaint.reasons)
    assert complaint.urgent and 0 < complaint.urgency <= 1
    assert not praise.negative and praise.sentiment > 0 and not praise.urgent
    for r in rows.values():
        assert -1 <= r.sentiment <= 1 and 0 <= r.urgency <= 1
        assert r.status == "new"


def test_an_own_reply_answers_the_earlier_posts_of_its_conversation(db: Database) -> None:
    acc = add_account(db)
    ingest(
        db,
        acc,
        [
            remote_post("q1", "my bill is wrong", at=T0),
            remote_post(
                "r1",
                "sorry, DM us",
                at=T0 + timedelta(minutes=5),
                author=BRAND,
                kind="own_reply",
                conversation="q1",
                parent="q1",
            ),
            remote_post("q2", "DM sent, still wrong", at=T0 + timedelta(minutes=9), conversation="q1", parent="r1"),
            remote_post("other", "unrelated question", at=T0 + timedelta(minutes=1)),
        ],
    )
    with db.session() as s:
        rows = {p.remote_id: p for p in s.exec(select(Post))}
    assert rows["q1"].answered
    assert not rows["q2"].answered  # written after our reply
    assert not rows["other"].answered
    assert rows["r1"].kind == "own_reply" and rows["r1"].status == "done"


# -- full-text search -----------------------------------------------------------------------------

SEARCH_POSTS = {
    "router": "My router keeps rebooting every night",
    "de_umlaut": "Seit drei Tagen kein Internet und niemand ruft zurück.",
    "de_plain": "Der Techniker kam zuruck ohne Ersatzteil",
    "cafe": "Café au lait and crème brûlée on my invoice?!",
    "refund": "Refunds take forever; where is my refund",
    "drop": "someone typed DROP TABLE post into the form",
    "emoji": "Great service today 😀👍 merci",
}


@pytest.fixture(scope="module")
def searchable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One read-only database for every search test of this module."""
    database = open_database(sqlite_url(tmp_path_factory.mktemp("search") / "parley.sqlite"))
    acc = add_account(database)
    posts = [remote_post(rid, body, at=T0 + timedelta(minutes=n)) for n, (rid, body) in enumerate(SEARCH_POSTS.items())]
    ingest(database, acc, posts)
    yield database
    database.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("router", {"router"}),
        ("ROUTER", {"router"}),
        ("rebooting router", {"router"}),  # every word, in any order
        ("router invoice", set()),
        ("rout", {"router"}),  # the last word is a prefix
        ("reboo", {"router"}),
        ("refund", {"refund"}),
        ("zurück", {"de_umlaut", "de_plain"}),
        ("zuruck", {"de_umlaut", "de_plain"}),
        ("ZURÜCK", {"de_umlaut", "de_plain"}),
        ("zur", {"de_umlaut", "de_plain"}),
        ("creme brulee", {"cafe"}),
        ("crème brûlée", {"cafe"}),
        ("cafe", {"cafe"}),
        ("merci", {"emoji"}),
        ("nothing-like-this", set()),
    ],
)
def test_search_finds_words_prefixes_and_ignores_case_and_diacritics(
    searchable: Database, query: str, expected: set[str]
) -> None:
    assert search(searchable, query) == expected


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_search_input_never_raises(searchable: Database, query: str) -> None:
    before = post_count(searchable)
    found = search(searchable, query)
    assert found <= set(SEARCH_POSTS)
    with searchable.session() as s:
        store.matches(s, TimelineFilter(search=query), list(range(1, 20)))
        store.rows_newer_than(s, TimelineFilter(search=query), 0)
    assert post_count(searchable) == before


def test_punctuation_only_and_empty_searches_find_nothing_and_injection_is_just_words(searchable: Database) -> None:
    for query in ('"', "*", "NEAR(", "(", ")", "^", "-"):
        assert search(searchable, query) == set(), query
    # Empty search means "no search": the whole timeline.
    with searchable.session() as s:
        assert store.count(s, TimelineFilter(search="")) == len(SEARCH_POSTS)
    # The injection attempt is searched for as words, and the table is still there.
    assert search(searchable, "'; DROP TABLE post; --") == {"drop"}
    assert search(searchable, 'router"') == {"router"}
    assert post_count(searchable) == len(SEARCH_POSTS)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=60))
def test_any_search_text_is_safe(searchable: Database, query: str) -> None:
    found = search(searchable, query)
    assert found <= set(SEARCH_POSTS)


# -- keyset paging --------------------------------------------------------------------------------


def fill_crowded(db: Database) -> list[Account]:
    """137 posts on three accounts of two networks, with many equal timestamps."""
    accounts = [
        add_account(db, "@acme@example.social", "mastodon"),
        add_account(db, "@help@example.social", "mastodon"),
        add_account(db, "acme.bsky.social", "bluesky"),
    ]
    rng = random.Random(7)
    texts = [
        "still no internet and nobody calls back, this is a disgrace",
        "thanks for the quick fix!",
        "what are your opening hours?",
        "refund still missing, third time asking",
    ]
    batches: list[list] = [[], [], []]
    for n in range(137):
        at = T0 + timedelta(minutes=rng.randrange(0, 20))  # ~7 posts share each minute
        batches[n % 3].append(remote_post(f"p{n}", f"{texts[n % 4]} #{n}", at=at, author=ALICE if n % 2 else BOB))
    for acc, batch in zip(accounts, batches, strict=True):
        ingest(db, acc, batch)
    return accounts


@pytest.fixture(scope="module")
def crowded_ro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, list[Account]]]:
    """The crowded timeline, shared read-only by the paging properties."""
    database = open_database(sqlite_url(tmp_path_factory.mktemp("crowded") / "parley.sqlite"))
    yield database, fill_crowded(database)
    database.close()


@pytest.fixture
def crowded(db: Database) -> tuple[Database, list[Account]]:
    """The crowded timeline, for a test that changes it."""
    return db, fill_crowded(db)


def newest_first(rows: list[PostRow]) -> list[tuple[datetime, int]]:
    return [(r.created_at, r.id) for r in rows]


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 60), which=st.integers(0, 5))
def test_keyset_paging_returns_every_row_once_newest_first(
    crowded_ro: tuple[Database, list[Account]], limit: int, which: int
) -> None:
    db, accounts = crowded_ro
    flt = [
        TimelineFilter(),
        TimelineFilter(view="urgent"),
        TimelineFilter(network="mastodon"),
        TimelineFilter(account_id=accounts[2].id),
        TimelineFilter(search="internet"),
        TimelineFilter(view="unanswered", account_id=accounts[0].id),
    ][which]
    rows = all_pages(db, flt, limit)
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)), "a row came twice"
    with db.session() as s:
        assert len(rows) == store.count(s, flt)
        expected = set(s.scalars(select(Post.id).where(*store.filter_clauses(s, flt))))
    assert set(ids) == expected, "a row was skipped"
    if flt.by_id:
        assert ids == sorted(ids, reverse=True)
    else:
        keys = newest_first(rows)
        assert keys == sorted(keys, reverse=True)


@settings(max_examples=12, deadline=None, database=None)
@given(
    offsets=st.lists(st.integers(0, 5), min_size=0, max_size=40),
    limit=st.integers(1, 7),
)
def test_keyset_paging_with_arbitrary_timestamp_ties(
    tmp_path_factory: pytest.TempPathFactory, offsets: list[int], limit: int
) -> None:
    database = open_database(sqlite_url(tmp_path_factory.mktemp("ties") / "p.sqlite"))
    try:
        acc = add_account(database)
        posts = [remote_post(f"t{n}", f"tie {n}", at=T0 + timedelta(seconds=o)) for n, o in enumerate(offsets)]
        ingest(database, acc, posts)
        rows = all_pages(database, TimelineFilter(), limit)
        assert sorted(r.remote_id for r in rows) == sorted(p.remote_id for p in posts)
        keys = newest_first(rows)
        assert keys == sorted(keys, reverse=True)
    finally:
        database.close()


def test_paging_is_stable_while_new_posts_arrive(db: Database) -> None:
    acc = add_account(db)
    ingest(db, acc, [remote_post(f"o{n}", f"old {n}", at=T0 + timedelta(minutes=n % 4)) for n in range(30)])
    flt = TimelineFilter()
    seen: list[PostRow] = []
    with db.session() as s:
        first = store.page(s, flt, None, 7)
    seen += first
    # New posts arrive (newer and, from a late fetch, older) between two page loads.
    ingest(db, acc, [remote_post(f"n{n}", f"new {n}", at=T0 + timedelta(hours=1, minutes=n)) for n in range(5)])
    after = PageKey(first[-1].created_at, first[-1].id)
    with db.session() as s:
        for _ in range(10):  # 23 more old posts: 4 pages, then an empty one
            rows = store.page(s, flt, after, 7)
            if not rows:
                break
            seen += rows
            after = PageKey(rows[-1].created_at, rows[-1].id)
        else:
            raise AssertionError("paging did not end")
    old = [r.remote_id for r in seen if r.remote_id.startswith("o")]
    assert sorted(old) == sorted(f"o{n}" for n in range(30))
    assert not [r for r in seen if r.remote_id.startswith("n")], "newer arrivals must not appear on later pages"
    with db.session() as s:
        arrivals = store.rows_newer_than(s, flt, max(r.id for r in seen))
    assert sorted(r.remote_id for r in arrivals) == [f"n{n}" for n in range(5)]


# -- views --------------------------------------------------------------------------------------


def test_every_view_counts_and_pages_consistently(crowded: tuple[Database, list[Account]]) -> None:
    db, accounts = crowded
    with db.session() as s:
        ids = list(s.scalars(select(Post.id).order_by(Post.id)))
        store.set_status(s, ids[0:10], "done")
        store.set_status(s, ids[10:14], "ignored")
        store.set_status(s, ids[14:20], "snoozed", T0 + timedelta(days=1))
        store.set_status(s, ids[20:25], "open")
        for p in (s.get(Post, i) for i in ids[25:33]):
            assert p is not None
            p.assignee = "ana"
            s.add(p)
        for p in (s.get(Post, i) for i in ids[33:40]):
            assert p is not None
            p.answered = True
            s.add(p)
    # An own reply never shows in any view.
    ingest(
        db,
        accounts[0],
        [
            remote_post(
                "own",
                "we are on it",
                at=T0 + timedelta(hours=2),
                author=BRAND,
                kind="own_reply",
                conversation="p0",
                parent="p0",
            )
        ],
    )
    with db.session() as s:
        posts = {p.id: p for p in s.exec(select(Post))}
    incoming = {i: p for i, p in posts.items() if p.kind != "own_reply"}
    predicates = {
        "all": lambda p: True,
        "urgent": lambda p: p.urgent and p.status in ("new", "open"),
        "unanswered": lambda p: not p.answered and p.status in ("new", "open"),
        "mine": lambda p: p.assignee == "ana",
        "snoozed": lambda p: p.status == "snoozed",
        "done": lambda p: p.status == "done",
        "ignored": lambda p: p.status == "ignored",
        "open": lambda p: p.status in ("new", "open"),
    }
    assert any(p.urgent for p in incoming.values()), "the data set needs urgent posts"
    for view, keep in predicates.items():
        for network in (None, "mastodon", "bluesky"):
            for account in (None, accounts[0], accounts[2]):
                flt = TimelineFilter(
                    view=view, network=network, account_id=account.id if account else None, operator="ana"
                )
                expected = {
                    i
                    for i, p in incoming.items()
                    if keep(p)
                    and (network is None or p.network == network)
                    and (account is None or p.account_id == account.id)
                }
                rows = all_pages(db, flt, 9)
                with db.session() as s:
                    assert store.count(s, flt) == len(rows) == len(expected), (view, network, account)
                    assert store.matches(s, flt, list(posts)) == expected
                assert {r.id for r in rows} == expected, (view, network, account)
    # Without an operator name, "mine" is empty rather than "everything unassigned".
    with db.session() as s:
        assert store.count(s, TimelineFilter(view="mine")) == 0


def test_core_counts_match_the_views(core: Parley) -> None:
    acc = core.accounts()[0]
    with core.db.session() as s:
        account = s.get(Account, acc.id)
        assert account is not None
    ingest(
        core.db,
        account,
        [remote_post(f"v{n}", f"no internet again #{n}", at=T0 + timedelta(minutes=n)) for n in range(6)],
    )
    core.set_status([1, 2], "done")
    counts = core.counts()
    for view in store.VIEWS:
        assert counts[view] == core.count(TimelineFilter(view=view))
    assert counts["done"] == 2
    assert counts["all"] == 6
    assert counts[f"acc:{acc.id}"] == 4  # open posts only
    assert counts[f"net:{acc.network}"] == 4


# -- status, snooze, wake -------------------------------------------------------------------------


def test_set_status_and_wake_snoozed(db: Database) -> None:
    acc = add_account(db)
    ids = ingest(db, acc, [remote_post(f"s{n}", f"question {n}", at=T0) for n in range(4)])
    until = T0 + timedelta(hours=2)
    with db.session() as s:
        assert sorted(store.set_status(s, ids[:2], "snoozed", until)) == sorted(ids[:2])
        assert store.set_status(s, [ids[2], 99_999], "done") == [ids[2]]  # unknown ids are skipped
    with db.session() as s:
        assert store.count(s, TimelineFilter(view="snoozed")) == 2
        assert store.wake_snoozed(s, until - timedelta(seconds=1)) == []
    with db.session() as s:
        assert sorted(store.wake_snoozed(s, until)) == sorted(ids[:2])
    with db.session() as s:
        woken = [s.get(Post, i) for i in ids[:2]]
        assert all(p is not None and p.status == "open" and p.snoozed_until is None for p in woken)
        assert store.count(s, TimelineFilter(view="snoozed")) == 0
        assert store.wake_snoozed(s, until + timedelta(days=1)) == []  # nothing left to wake
        # Leaving "snoozed" any other way clears the wake-up time.
        store.set_status(s, [ids[3]], "snoozed", until)
        store.set_status(s, [ids[3]], "done")
        p3 = s.get(Post, ids[3])
        assert p3 is not None and p3.status == "done" and p3.snoozed_until is None


def test_core_set_status_validates_in_plain_words(core: Parley) -> None:
    with pytest.raises(InvalidInput, match="Unknown status"):
        core.set_status([1], "archived")
    with pytest.raises(InvalidInput, match="snooze"):
        core.set_status([1], "snoozed")


# -- damaged databases and plain errors ------------------------------------------------------------


def assert_plain(message: str) -> None:
    assert message.strip()
    assert "\n" not in message.strip()
    assert "Traceback" not in message and "sqlalchemy" not in message.lower()


def test_a_file_of_random_bytes_is_a_plain_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "parley.sqlite"
    path.write_bytes(random.Random(3).randbytes(8192))
    with pytest.raises(StorageError) as err:
        open_database(sqlite_url(path))
    assert_plain(str(err.value))
    assert "cannot be opened" in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_sqlite_header_followed_by_garbage_is_a_plain_storage_error(tmp_path: Path) -> None:
    good = tmp_path / "good.sqlite"
    open_database(sqlite_url(good)).close()
    data = bytearray(good.read_bytes())
    data[100:] = random.Random(4).randbytes(len(data) - 100)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(bytes(data))
    with pytest.raises(StorageError) as err:
        open_database(sqlite_url(bad))
    assert_plain(str(err.value))


def test_a_database_in_a_missing_folder_is_a_plain_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as err:
        open_database(sqlite_url(tmp_path / "no" / "such" / "dir" / "parley.sqlite"))
    assert_plain(str(err.value))


def test_an_unreachable_server_error_never_shows_the_password() -> None:
    database = Database("postgresql+psycopg://parley:s3cret-pw@127.0.0.1:1/parley?connect_timeout=2")
    try:
        with pytest.raises(StorageError) as err:
            database.migrate()
    finally:
        database.close()
    assert "s3cret-pw" not in str(err.value)
    assert_plain(str(err.value))


# -- the UTC datetime column type -------------------------------------------------------------------


def test_utc_datetime_rejects_naive_datetimes(db: Database) -> None:
    col = UTCDateTime()
    dialect = db.engine.dialect
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2025, 1, 1, 12, 0), dialect)
    with pytest.raises(StatementError), db.session() as s:
        s.add(Account(network="x", handle="naive", created_at=datetime(2025, 1, 1)))
        s.flush()


def test_utc_datetime_stores_any_zone_and_reads_back_utc(db: Database) -> None:
    cest = timezone(timedelta(hours=2))
    moment = datetime(2025, 6, 1, 14, 30, tzinfo=cest)
    with db.session() as s:
        acc = Account(network="x", handle="zoned", created_at=moment)
        s.add(acc)
        s.flush()
        acc_id = acc.id
    with db.session() as s:
        back = s.get(Account, acc_id)
        assert back is not None
        assert back.created_at == moment
        assert back.created_at.utcoffset() == timedelta(0)
        assert back.created_at.hour == 12
