"""Dates as they enter firstline: one place decides what is a usable date.

Every date a user or a file gives passes through here once: a naive value takes the configured
zone, the result is UTC, and a value outside ``DATE_MIN``..``DATE_MAX`` is refused (placeholders
such as 9999-12-31 or 0001-01-01 are common in exports and cannot be indexed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import InvalidInputError

DATE_MIN = datetime(1900, 1, 1, tzinfo=UTC)
DATE_MAX = datetime(2200, 1, 1, tzinfo=UTC)


def zone(name: str) -> ZoneInfo | type[UTC]:
    """The time zone called ``name`` (IANA, e.g. "Europe/Amsterdam"; "UTC")."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise InvalidInputError(f"unknown time zone {name!r}") from e


def to_utc(value: datetime, tz: str = "UTC") -> datetime:
    """``value`` in UTC, a naive value read in zone ``tz``; outside the supported range
    (1900-01-01 to 2200-01-01) it is an :class:`InvalidInputError`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    if not (DATE_MIN <= value < DATE_MAX):
        raise InvalidInputError(
            f"date {value.isoformat()} is outside the supported range "
            f"({DATE_MIN.date()} to {DATE_MAX.date()})"
        )
    return value.astimezone(UTC)
