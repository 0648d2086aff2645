"""request_embedding on tickets: the vector of the text triage reads, stored at ingestion

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty on existing rows: `firstline reindex` (or the next training, which encodes what
    # is missing) fills them; nothing reads a vector that is not there.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_embedding", sa.LargeBinary, nullable=True))
        batch_op.add_column(sa.Column("request_embedding_model", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("request_embedding_model")
        batch_op.drop_column("request_embedding")
