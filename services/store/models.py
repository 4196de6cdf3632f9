"""The tables (design section 2) as SQLModel models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlalchemy import text as sql_text  # the Post class has a field named `text`
from sqlmodel import Field, SQLModel

from services.store.types import UTCDateTime, utcnow

# Post.kind values.
KIND_MENTION = "mention"
KIND_COMMENT = "comment"
KIND_DM = "dm"
KIND_OWN_REPLY = "own_reply"

# The conditions of the partial indexes (see Post.__table_args__ and services/store/posts.py).
OPEN_INCOMING = "status IN ('new', 'open') AND kind != 'own_reply'"
URGENT_OPEN = f"urgent = TRUE AND {OPEN_INCOMING}"
UNANSWERED_OPEN = f"answered = FALSE AND {OPEN_INCOMING}"


def status_incoming(status: str) -> str:
    """The condition of the partial index of one closed status (snoozed, done, ignored)."""
    return f"status = '{status}' AND kind != 'own_reply'"


# Post.status values, in the order the GUI offers them.
STATUSES = ("new", "open", "snoozed", "done", "ignored")


def _ts(*, nullable: bool = True, index: bool = False) -> datetime | None:
    field: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))
    return field


class Account(SQLModel, table=True):
    """One brand account on one network (credentials live in the keyring, never here)."""

    id: int | None = Field(default=None, primary_key=True)
    network: str = Field(index=True)
    handle: str
    display_name: str = ""
    server_url: str = ""
    remote_user_id: str = ""
    # Network-specific, non-secret settings (character limit, demo flavour...), as JSON text.
    config: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_sync_at: datetime | None = _ts()
    last_error: str | None = None
    last_error_kind: str | None = None

    __table_args__ = (UniqueConstraint("network", "server_url", "handle", name="uq_account_identity"),)


#: The server address of an account that exists only because an archive was imported.
ARCHIVE_SERVER = "import://"


def is_archive(account: Account) -> bool:
    """Whether an account only holds imported posts: nothing to fetch, no one to reply as."""
    return not account.enabled or account.server_url.startswith(ARCHIVE_SERVER)


class Author(SQLModel, table=True):
    """Someone who wrote a post, as the network knows them."""

    id: int | None = Field(default=None, primary_key=True)
    network: str
    remote_id: str
    handle: str
    name: str = ""
    followers: int | None = None
    is_bot: bool = False

    __table_args__ = (UniqueConstraint("network", "remote_id", name="uq_author_remote"),)


class Post(SQLModel, table=True):
    """A mention, comment, message or our own reply, stored once per account."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    network: str
    remote_id: str
    conversation_key: str = Field(index=True)
    parent_remote_id: str | None = None
    author_id: int = Field(foreign_key="author.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    url: str | None = None
    lang: str | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    fetched_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = KIND_MENTION
    sentiment: float = 0.0
    negative: bool = False
    urgency: float = 0.0
    urgent: bool = False
    # Triage reasons as a JSON list of {code, label, weight}.
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    # When triage last ran: waiting time grows, so open posts are scored again now and then.
    scored_at: datetime | None = _ts()
    status: str = "new"
    snoozed_until: datetime | None = _ts()
    assignee: str | None = None
    answered: bool = False
    raw: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))

    __table_args__ = (
        UniqueConstraint("account_id", "remote_id", name="uq_post_remote"),
        # The timeline is ordered newest first and paged by (created_at, id).
        Index("ix_post_created", "created_at", "id"),
        Index("ix_post_account_created", "account_id", "created_at", "id"),
        Index("ix_post_network_created", "network", "created_at", "id"),
        Index("ix_post_assignee_created", "assignee", "created_at", "id"),
        # Partial indexes for the working views; their conditions must stay word for word those of
        # services/store/posts.py, or the planner will not use them.
        Index(
            "ix_post_urgent_open",
            "created_at",
            "id",
            sqlite_where=sql_text(URGENT_OPEN),
            postgresql_where=sql_text(URGENT_OPEN),
        ),
        Index(
            "ix_post_unanswered_open",
            "created_at",
            "id",
            sqlite_where=sql_text(UNANSWERED_OPEN),
            postgresql_where=sql_text(UNANSWERED_OPEN),
        ),
        *(
            Index(
                f"ix_post_{status}",
                "created_at",
                "id",
                sqlite_where=sql_text(status_incoming(status)),
                postgresql_where=sql_text(status_incoming(status)),
            )
            for status in ("snoozed", "done", "ignored")
        ),
        Index(
            "ix_post_open_account",
            "account_id",
            sqlite_where=sql_text(OPEN_INCOMING),
            postgresql_where=sql_text(OPEN_INCOMING),
        ),
    )


class SyncCursor(SQLModel, table=True):
    """Where the last fetch of one stream of one account stopped."""

    __tablename__ = "sync_cursor"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id")
    stream: str = "mentions"
    cursor: str | None = None
    last_success: datetime | None = _ts()
    last_error: str | None = None

    __table_args__ = (UniqueConstraint("account_id", "stream", name="uq_cursor_stream"),)


class OutboxItem(SQLModel, table=True):
    """A reply, written down before any send (design section 4)."""

    __tablename__ = "outbox_item"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    conversation_key: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    # Frozen for the item's whole life: the idempotency key / rkey and the exact payload sent.
    client_key: str = Field(unique=True)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    state: str = Field(default="queued", index=True)
    remote_id: str | None = None
    remote_url: str | None = None
    attempts: int = 0
    last_error: str | None = None
    review_reason: str | None = None
    operator: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()


class OutboxAttempt(SQLModel, table=True):
    """One try at sending an outbox item: what was asked (no secrets) and what came back."""

    __tablename__ = "outbox_attempt"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="outbox_item.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    request_summary: str = ""
    status: str = ""
    outcome: str = ""
    detail: str | None = None


class Lease(SQLModel, table=True):
    """A time-limited lock held in the database (one sender per account across processes)."""

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Operator(SQLModel, table=True):
    """A person who works the inbox (team mode)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Claim(SQLModel, table=True):
    """A soft, expiring lock on a conversation by an operator."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_key: str = Field(index=True)
    operator: str
    since: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Template(SQLModel, table=True):
    """A saved reply."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    text: str = Field(sa_column=Column(Text, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Something an operator or the app did, for the record."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    operator: str | None = None
    action: str
    target: str = ""
    detail: str = ""


#: The condition of an active (not withdrawn) correction; one per post (see Correction.__table_args__).
ACTIVE_CORRECTION = "withdrawn_at IS NULL"


class Correction(SQLModel, table=True):
    """An operator's verdict on a post's triage (urgent, not urgent, not negative); undoing keeps it, withdrawn.

    What the similarity index compares is frozen here when the correction is made, so a later change
    of the triage rules or of the post does not quietly change which posts it nudges.
    """

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="post.id", index=True)
    verdict: str
    operator: str = ""
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    withdrawn_at: datetime | None = _ts()
    withdrawn_by: str | None = None
    # Content words and cue codes of the post's text, space-separated (see services/corrections.py).
    words: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    cues: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # What triage said before the operator disagreed.
    before_urgency: float = 0.0
    before_urgent: bool = False
    before_negative: bool = False

    __table_args__ = (
        Index(
            "ux_correction_active_post",
            "post_id",
            unique=True,
            sqlite_where=sql_text(ACTIVE_CORRECTION),
            postgresql_where=sql_text(ACTIVE_CORRECTION),
        ),
    )


class Setting(SQLModel, table=True):
    """One stored setting (JSON value), see services/settings.py for the registry."""

    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))
