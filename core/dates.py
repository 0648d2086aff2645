"""Dates as they enter firstline: one place decides what is a usable date.

Every date a user or a file gives passes through here once: a naive value takes the configured
zone, the result is UTC, and a value outside ``DATE_MIN``..``DATE_MAX`` is refused (placeholders
such as 9999-12-31 or 0001-01-01 are common in exports and cannot be indexed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
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


# -- reading dates from files and requests ------------------------------------------------------

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAYS = frozenset(
    "mon monday tue tues tuesday wed wednesday thu thur thurs thursday fri friday "
    "sat saturday sun sunday".split()
)
_UTC_NAMES = frozenset({"z", "utc", "gmt"})
_MAX_DATE_CHARS = 64
# A bare number is epoch seconds from 9 digits on (1973-03-03); fewer digits are more likely a
# year, a serial number or a typo than a date.
_EPOCH_MIN = 100_000_000
# Beyond this, epoch seconds would be after the year 5000: the number is milliseconds.
_EPOCH_MS_FROM = 100_000_000_000


def parse_date(
    value: object, order: str = "dmy", tz: str = "UTC", fmt: str | None = None
) -> datetime:
    """``value`` read as a date and returned aware, in UTC (see :func:`to_utc`).

    Understands ISO 8601 (with or without ``T``, seconds, fraction, offset or ``Z``), the
    formats ticketing tools export (Jira's ``30/Sep/21 17:20`` and ``30/Sep/21 5:20 PM``,
    ``2021-09-30 17:20:00``, ``Sep 30, 2021``, ``30 September 2021``), all-numeric dates such
    as ``03/04/2021`` or ``03.04.2021`` read day first or month first by ``order`` ("dmy" or
    "mdy"), and epoch seconds (milliseconds when the number is too big for seconds).  With
    ``fmt`` (a ``strptime`` format) only that format is accepted.  A value without a zone is
    in zone ``tz``.  Raises :class:`InvalidInputError` saying why a value is not a usable date.
    Linear in the value's length (which is capped): no backtracking patterns.
    """
    if order not in ("dmy", "mdy"):
        raise InvalidInputError(f"unknown date order {order!r}: use 'dmy' or 'mdy'")
    if isinstance(value, datetime):
        return to_utc(value, tz)
    if isinstance(value, date):
        return to_utc(datetime(value.year, value.month, value.day), tz)
    if isinstance(value, bool):
        raise InvalidInputError(f"{value!r} is not a date")
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not isinstance(value, str):
        raise InvalidInputError(f"{type(value).__name__} value is not a date")
    s = value.strip()
    if not s:
        raise InvalidInputError("empty date")
    if len(s) > _MAX_DATE_CHARS:
        raise InvalidInputError(f"{len(s)} characters is too long for a date")
    if fmt:
        try:
            parsed = datetime.strptime(s, fmt)
        except ValueError as e:
            raise InvalidInputError(f"{s!r} does not match the date format {fmt!r}") from e
        return to_utc(parsed, tz)
    if s.isascii() and s.isdigit() and len(s) != 8:  # 8 digits: 20210930
        return _from_epoch(int(s))
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError:
        parsed = _from_tokens(s, order)
    return to_utc(parsed, tz)


def _from_epoch(number: float) -> datetime:
    if number != number or abs(number) < _EPOCH_MIN:  # NaN, or too small to be a date
        raise InvalidInputError(f"{number!r} is not a date (epoch seconds have 9 digits or more)")
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_FROM else number
    if not (DATE_MIN.timestamp() <= seconds < DATE_MAX.timestamp()):
        raise InvalidInputError(
            f"epoch {number!r} is outside the supported range "
            f"({DATE_MIN.date()} to {DATE_MAX.date()})"
        )
    return datetime.fromtimestamp(seconds, UTC)


def _digits(t: str) -> bool:
    return t.isascii() and t.isdigit()


def _tokens(s: str) -> list[str]:
    """``s`` cut into runs of digits, runs of letters and single other characters (spaces
    dropped)."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        j = i + 1
        if ch.isspace():
            i = j
            continue
        if ch.isascii() and ch.isdigit():
            while j < n and s[j].isascii() and s[j].isdigit():
                j += 1
        elif ch.isalpha():
            while j < n and s[j].isalpha():
                j += 1
        out.append(s[i:j])
        i = j
    return out


def _from_tokens(s: str, order: str) -> datetime:  # noqa: C901 - one small state machine
    """A date written with separators, a month name, a 12- or 24-hour time and an offset."""
    unreadable = InvalidInputError(f"cannot read {s!r} as a date")
    toks = _tokens(s)
    numbers: list[str] = []
    month_name: int | None = None
    clock: list[str] = []  # hour, minute[, second[, fraction]]
    meridiem: str | None = None
    offset: timezone | None = None
    time_end = -1  # index of the token after the time (and its AM/PM): where an offset may be
    i = 0
    while i < len(toks):
        t = toks[i]
        low = t.lower()
        if _digits(t) and i + 2 < len(toks) and toks[i + 1] == ":" and not clock:
            clock = [t, toks[i + 2]]
            i += 3
            if i + 1 < len(toks) and toks[i] == ":" and _digits(toks[i + 1]):
                clock.append(toks[i + 1])
                i += 2
                if i + 1 < len(toks) and toks[i] in ".," and _digits(toks[i + 1]):
                    clock.append(toks[i + 1])
                    i += 2
            time_end = i
            continue
        if _digits(t):
            numbers.append(t)
        elif low in _MONTHS and month_name is None:
            month_name = _MONTHS[low]
        elif low in _WEEKDAYS:
            pass
        elif low in ("am", "pm", "a", "p") and clock and meridiem is None:
            meridiem = low[0]
            if i + 2 < len(toks) and toks[i + 1] == "." and toks[i + 2].lower() == "m":
                i += 2  # "p.m."
            time_end = i + 1
        elif low in _UTC_NAMES and clock and offset is None:
            offset = UTC
        elif t in "+-" and i == time_end and i + 1 < len(toks) and _digits(toks[i + 1]):
            offset, i = _offset(toks, i, unreadable)
            continue
        elif t in "/-.,":
            pass
        else:
            raise unreadable
        i += 1
    year, month, day = _ymd(numbers, month_name, order, s)
    hour, minute, second, micro = _clock(clock, meridiem, s)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=offset)
    except ValueError as e:
        raise InvalidInputError(f"{s!r} is not a valid date: {e}") from e


def _offset(toks: list[str], i: int, unreadable: InvalidInputError) -> tuple[timezone, int]:
    sign = -1 if toks[i] == "-" else 1
    digits = toks[i + 1]
    i += 2
    if len(digits) == 4:
        hours, minutes = int(digits[:2]), int(digits[2:])
    elif len(digits) <= 2:
        hours, minutes = int(digits), 0
        if i + 1 < len(toks) and toks[i] == ":" and len(toks[i + 1]) == 2:
            minutes = int(toks[i + 1])
            i += 2
    else:
        raise unreadable
    if hours > 23 or minutes > 59:
        raise unreadable
    return timezone(sign * timedelta(hours=hours, minutes=minutes)), i


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:  # as strptime's %y: 69-99 are 1969-1999, 00-68 are 2000-2068
        return y + (1900 if y >= 69 else 2000)
    return y


def _ymd(numbers: list[str], month_name: int | None, order: str, s: str) -> tuple[int, int, int]:
    if any(len(n) not in (1, 2, 4) for n in numbers):
        raise InvalidInputError(f"cannot read {s!r} as a date")
    if month_name is not None:
        if len(numbers) != 2:
            raise InvalidInputError(f"cannot read {s!r} as a date (expected a day and a year)")
        a, b = numbers
        if len(a) == 4 and len(b) != 4:  # 2021 Sep 30
            return int(a), month_name, int(b)
        return _year(b), month_name, int(a)  # 30 Sep 2021, Sep 30 2021, 30/Sep/21
    if len(numbers) != 3:
        raise InvalidInputError(f"cannot read {s!r} as a date")
    a, b, c = numbers
    if len(a) == 4:
        return int(a), int(b), int(c)
    if len(c) not in (2, 4):
        raise InvalidInputError(f"cannot read {s!r} as a date (where is the year?)")
    day, month = (a, b) if order == "dmy" else (b, a)
    if int(month) > 12:
        first = "day" if order == "dmy" else "month"
        raise InvalidInputError(
            f"{s!r}: no month {int(month)} (numeric dates are read {first} first; "
            "see the date order setting)"
        )
    return _year(c), int(month), int(day)


def _clock(clock: list[str], meridiem: str | None, s: str) -> tuple[int, int, int, int]:
    if not clock:
        if meridiem:
            raise InvalidInputError(f"cannot read {s!r} as a date")
        return 0, 0, 0, 0
    if any(len(p) > 2 for p in clock[:3]):
        raise InvalidInputError(f"cannot read {s!r} as a time")
    hour, minute = int(clock[0]), int(clock[1])
    second = int(clock[2]) if len(clock) > 2 else 0
    micro = int(clock[3][:6].ljust(6, "0")) if len(clock) > 3 else 0
    if meridiem:
        if not 1 <= hour <= 12:
            raise InvalidInputError(f"{s!r}: hour {hour} with AM/PM")
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    return hour, minute, second, micro
