"""PostgreSQL search folds accents: the tsvector is built from parley_fold(text) (unaccent where allowed).

SQLite is unchanged: its FTS5 table already removes diacritics (``remove_diacritics 2``).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from services.store import pgfold

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    pgfold.install(op.get_bind())
    # A generated column's expression cannot be altered in place: build it again (and its index).
    op.execute("DROP INDEX IF EXISTS ix_post_search")
    op.execute("ALTER TABLE post DROP COLUMN IF EXISTS search")
    op.execute(
        "ALTER TABLE post ADD COLUMN search tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', parley_fold(text))) STORED"
    )
    op.execute("CREATE INDEX ix_post_search ON post USING GIN (search)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_post_search")
    op.execute("ALTER TABLE post DROP COLUMN IF EXISTS search")
    op.execute("ALTER TABLE post ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED")
    op.execute("CREATE INDEX ix_post_search ON post USING GIN (search)")
    op.execute("DROP FUNCTION IF EXISTS parley_fold(text)")
