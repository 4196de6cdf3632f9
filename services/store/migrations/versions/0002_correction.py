"""Operator corrections of triage: the correction table.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import services.store.types

# Frozen as written in revision 0002 (services/store/models.py holds the live copy).
ACTIVE_CORRECTION = "withdrawn_at IS NULL"

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("operator", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", services.store.types.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", services.store.types.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("cues", sa.Text(), nullable=False),
        sa.Column("before_urgency", sa.Float(), nullable=False),
        sa.Column("before_urgent", sa.Boolean(), nullable=False),
        sa.Column("before_negative", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_post_id"), ["post_id"], unique=False)
        batch_op.create_index(
            "ux_correction_active_post",
            ["post_id"],
            unique=True,
            sqlite_where=sa.text(ACTIVE_CORRECTION),
            postgresql_where=sa.text(ACTIVE_CORRECTION),
        )


def downgrade() -> None:
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index("ux_correction_active_post")
        batch_op.drop_index(batch_op.f("ix_correction_post_id"))
    op.drop_table("correction")
