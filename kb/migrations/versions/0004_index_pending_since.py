"""pending_since on tickets and articles: how long a row has waited for the index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 01:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("tickets", "articles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("pending_since", sa.DateTime(timezone=True)))
        t = sa.table(
            table,
            sa.column("pending_since", sa.DateTime(timezone=True)),
            sa.column("indexed_hash", sa.String),
            sa.column("content_hash", sa.String),
        )
        op.execute(
            t.update()
            .where(sa.or_(t.c.indexed_hash.is_(None), t.c.indexed_hash != t.c.content_hash))
            .values(pending_since=sa.func.current_timestamp())
        )


def downgrade() -> None:
    for table in ("tickets", "articles"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("pending_since")
