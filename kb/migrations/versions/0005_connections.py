"""connections (with their sync state), external links and webhook deliveries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("watermark", sa.JSON, nullable=False),
        sa.Column("lease_until", TS),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("last_started_at", TS),
        sa.Column("last_finished_at", TS),
        sa.Column("last_status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("last_counts", sa.JSON, nullable=False),
        sa.Column("totals", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "external_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer, nullable=False, index=True),
        sa.Column("external_id", sa.String(500), nullable=False),
        sa.Column("desk_ticket_id", sa.Integer, index=True),
        sa.Column("remote_updated", sa.String(40)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("pushed_at", TS),
        sa.Column("pushed", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("connection_id", "external_id"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("connection_id", sa.Integer, nullable=False, index=True),
        sa.Column("event_key", sa.String(100), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.UniqueConstraint("connection_id", "event_key"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", "webhook_deliveries")
    for table in ("webhook_deliveries", "external_links", "connections"):
        op.drop_table(table)
