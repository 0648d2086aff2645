"""Dates as users' files and requests write them: read once, into aware UTC, or refused with
the reason (issue #11 failures 2 and 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.dates import parse_date
from core.errors import InvalidInputError

SEP30_1720 = datetime(2021, 9, 30, 17, 20, tzinfo=UTC)
SEP30 = datetime(2021, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601, with and without T, seconds, fraction, offset or Z
        ("2021-09-30T17:20:00", SEP30_1720),
        ("2021-09-30 17:20:00", SEP30_1720),
        ("2021-09-30T17:20Z", SEP30_1720),
        ("2021-09-30T19:20:00+02:00", SEP30_1720),
        ("2021-09-30T17:20:00.000+0000", SEP30_1720),
        ("2021-09-30", SEP30),
        ("20210930", SEP30),
        # Jira and other tools
        ("30/Sep/21 17:20", SEP30_1720),
        ("30/Sep/21 5:20 PM", SEP30_1720),
        ("30/sep/21 5:20 pm", SEP30_1720),
        ("30/Sep/2021 5:20 PM", SEP30_1720),
        ("30/Sep/21 5:20 p.m.", SEP30_1720),
        ("30-Sep-2021 17:20:00", SEP30_1720),
        ("2021/09/30 17:20", SEP30_1720),
        ("2021-09-30 17:20:00 UTC", SEP30_1720),
        ("30/Sep/21 12:20 -0500", SEP30_1720),
        ("Thu, 30 Sep 2021 19:20:00 +0200", SEP30_1720),
        # named months
        ("Sep 30, 2021", SEP30),
        ("September 30 2021 17:20", SEP30_1720),
        ("30 September 2021", SEP30),
        ("Sept. 30, 2021", SEP30),
        # numeric, day first by default
        ("30/09/2021 17:20", SEP30_1720),
        ("30.09.2021", SEP30),
        ("30-09-21", SEP30),
        # epoch seconds and milliseconds
        ("1633022400", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        ("1633022400000", datetime(2021, 9, 30, 17, 20, tzinfo=UTC)),
        (1633022400, SEP30_1720),
        (1633022400.5, datetime(2021, 9, 30, 17, 20, 0, 500_000, tzinfo=UTC)),
        # already typed
        (datetime(2021, 9, 30, 17, 20), SEP30_1720),
        (date(2021, 9, 30), SEP30),
    ],
)
def test_common_formats_are_read(text: object, expected: datetime) -> None:
    got = parse_date(text)
    assert got == expected
    assert got.tzinfo is UTC


def test_numeric_dates_follow_the_date_order() -> None:
    assert parse_date("03/04/2021 10:00", "dmy") == datetime(2021, 4, 3, 10, tzinfo=UTC)
    assert parse_date("03/04/2021 10:00", "mdy") == datetime(2021, 3, 4, 10, tzinfo=UTC)
    # ISO and named months do not depend on it
    assert parse_date("2021-03-04", "mdy") == parse_date("2021-03-04", "dmy")
    assert parse_date("4 Mar 2021", "mdy") == parse_date("4 Mar 2021", "dmy")


def test_a_date_without_a_zone_takes_the_configured_zone() -> None:
    # 17:20 in Amsterdam (summer time, UTC+2) is 15:20 UTC; a written offset wins over the zone
    got = parse_date("30/Sep/21 17:20", tz="Europe/Amsterdam")
    assert got == datetime(2021, 9, 30, 15, 20, tzinfo=UTC)
    assert parse_date("2021-09-30T17:20Z", tz="Europe/Amsterdam") == SEP30_1720


def test_an_explicit_format_is_the_only_one_accepted() -> None:
    assert parse_date("30.09.21 17h20", fmt="%d.%m.%y %Hh%M") == SEP30_1720
    with pytest.raises(InvalidInputError, match="does not match the date format"):
        parse_date("2021-09-30", fmt="%d.%m.%y %Hh%M")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("9999-12-31", "outside the supported range"),
        ("0001-01-01", "outside the supported range"),
        ("31/12/9999 23:59", "outside the supported range"),
        ("1899-12-31T23:00:00", "outside the supported range"),
        ("99999999999999999999", "outside the supported range"),
        ("not a date", "cannot read 'not a date'"),
        ("31/02/2021", "not a valid date"),
        ("13/13/2021", "no month 13"),
        ("2021", "not a date"),
        ("25:00 30/Sep/21", "not a valid date"),
        ("13:00 PM 30/Sep/21", "hour 13 with AM/PM"),
        ("٣/٣/2021", "cannot read"),  # digits other than ASCII are not read as numbers
        ("", "empty date"),
        ("1" * 65, "too long for a date"),
        (True, "not a date"),
        (float("nan"), "not a date"),
    ],
)
def test_unusable_values_are_refused_with_the_reason(value: object, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        parse_date(value)


def test_unknown_zone_and_order_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown time zone"):
        parse_date("2021-09-30", tz="Mars/Olympus")
    with pytest.raises(InvalidInputError, match="unknown date order"):
        parse_date("2021-09-30", order="ymd")
