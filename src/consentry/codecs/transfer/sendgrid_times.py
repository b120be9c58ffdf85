"""SendGrid's timestamps: Unix seconds or a zoned time as written, and the naive times of the
legacy v2 API (``YYYY-MM-DD HH:MM:SS``, documented as US Pacific time) and of spreadsheets
(``M/D/YYYY [h:mm[:ss] [AM|PM]]``), read as US Pacific wall time (``local_assumed``) with the US
daylight-saving rules (from 2007: second Sunday of March to first Sunday of November; 1987-2006:
first Sunday of April to last Sunday of October). Pure: no time-zone database is read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from consentry.codecs.transfer.times import parse_time
from consentry.domain.transfer import TimeValue

_US_TIME = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\Z"
)


def created_time(raw: str) -> TimeValue | None:
    """``created``: Unix seconds or a zoned time as written; a naive time (ISO, or US
    ``M/D/YYYY [h:mm[:ss] [AM|PM]]``) is Pacific, as v2 wrote it."""
    value = parse_time(raw)
    if value is None or value.assumption != "utc_assumed":
        return value
    naive = value.at.replace(tzinfo=None) if value.at is not None else _us_time(value.raw)
    if naive is None:
        return value
    return TimeValue(value.raw, pacific_to_utc(naive), "local_assumed")


def _us_time(text: str) -> datetime | None:
    found = _US_TIME.match(text)
    if not found:
        return None
    month, day, year, hour, minute, second, half = found.groups()
    h = int(hour or 0)
    if half:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if half.lower() == "pm" else 0)
    try:
        return datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0))
    except ValueError:
        return None


def _sunday(year: int, month: int, nth: int) -> datetime:
    """The nth Sunday of the month (nth -1: the last), at 02:00."""
    if nth > 0:
        first = datetime(year, month, 1, 2)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    last = datetime(year + (month == 12), month % 12 + 1, 1, 2) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def pacific_to_utc(naive: datetime) -> datetime:
    """US Pacific wall time to UTC (US daylight-saving rules from 1987; 2007 onwards)."""
    if naive.year >= 2007:
        start, end = _sunday(naive.year, 3, 2), _sunday(naive.year, 11, 1)
    else:
        start, end = _sunday(naive.year, 4, 1), _sunday(naive.year, 10, -1)
    offset = 7 if start <= naive < end else 8
    return (naive + timedelta(hours=offset)).replace(tzinfo=UTC)
