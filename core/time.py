"""Time helpers shared by every room: one notion of "now" and of a naive datetime."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(d: datetime | None) -> datetime | None:
    """``d`` with a time zone: a naive value is UTC (SQLite hands datetimes back naive)."""
    return d.replace(tzinfo=UTC) if d is not None and d.tzinfo is None else d


def iso(d: datetime | None) -> str | None:
    """ISO 8601 with its offset, or None."""
    d = aware(d)
    return d.isoformat() if d else None
