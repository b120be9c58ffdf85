"""Business days and statutory unsubscribe deadlines (US CAN-SPAM, Canada CASL).

Both laws give a sender at most **10 business days** to give effect to an unsubscribe
(15 U.S.C. 7704(a)(4)(A); CASL s.11(3)). consentry's own target is one second (invariant 3); these
functions compute the *legal ceiling*, for reports and audits.

Holiday sources and choices:

* **United States**: the legal public holidays of 5 U.S.C. 6103(a), which is what 16 CFR 316.2
  means by "legal public holiday": New Year's Day, Birthday of Martin Luther King Jr. (third
  Monday of January), Washington's Birthday (third Monday of February), Memorial Day (last Monday
  of May), Juneteenth National Independence Day (19 June, from 2021), Independence Day, Labor Day
  (first Monday of September), Columbus Day (second Monday of October), Veterans Day (11 November),
  Thanksgiving Day (fourth Thursday of November) and Christmas Day. A holiday on a Saturday is
  observed on the Friday before, one on a Sunday on the Monday after (5 U.S.C. 6103(b),
  Executive Order 11582). New Year's Day on a Saturday is therefore observed on 31 December of the
  year before, and belongs to that year's set. Inauguration Day (Washington DC area only) is not
  included.
* **Canada**: the ten *general holidays* of the Canada Labour Code, s.166 (the federal statute
  for federally regulated employers): New Year's Day, Good Friday, Victoria Day (the Monday before
  25 May), Canada Day, Labour Day (first Monday of September), National Day for Truth and
  Reconciliation (30 September, from 2021), Thanksgiving Day (second Monday of October),
  Remembrance Day, Christmas Day and Boxing Day. Easter Monday and the August Civic Holiday are
  paid days off in the federal public service by collective agreement, not by statute, and are
  left out: fewer holidays gives an earlier deadline, which is the fail-closed side. A holiday on a
  Saturday or Sunday is observed on the next weekday that is not already a holiday (so Christmas
  on a Saturday is observed on Monday 27 and Boxing Day on Tuesday 28), as the federal public
  service does. Easter is computed with the anonymous Gregorian algorithm (Meeus/Jones/Butcher).

Each set holds the holidays' own dates *and* their observed weekdays that fall in the year.
The UK and the EU set no number of days for an unsubscribe, so only weekends count there and
:func:`unsubscribe_deadline` returns None.

The module also holds the calendar-month arithmetic of the CASL windows (:func:`add_months`).
It takes jurisdictions by value and imports nothing of ``domain.profiles`` at run time, so that
``profiles`` can use it.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING, Final

from consentry.domain.errors import InvalidLeaf

if TYPE_CHECKING:
    from consentry.domain.profiles import Jurisdiction

#: The business days CAN-SPAM and CASL allow for giving effect to an unsubscribe.
UNSUBSCRIBE_BUSINESS_DAYS: Final = 10
#: The values of ``profiles.Jurisdiction`` (a test keeps the two equal).
JURISDICTIONS: Final = frozenset({"uk", "eu", "ca", "us"})
_SAT, _SUN = 5, 6


def utc_date(at: datetime) -> date:
    """The UTC calendar day of an aware time; a naive time raises InvalidLeaf."""
    if at.tzinfo is UTC:
        return at.date()
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidLeaf(f"time {at!r} is naive; consentry only uses aware UTC times")
    return at.astimezone(UTC).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the end of the month
    (29 Feb + 24 months is 28 Feb; 31 Aug + 6 months is 28 or 29 Feb)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, monthrange(year, month0 + 1)[1]))


def _checked(jurisdiction: Jurisdiction | str) -> str:
    if jurisdiction not in JURISDICTIONS:
        raise ValueError(f"unknown jurisdiction {jurisdiction!r}")
    return str(jurisdiction)


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday, by the anonymous Gregorian (Meeus/Jones/Butcher) algorithm."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) given weekday (Monday = 0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _us_legal_days(year: int) -> list[date]:
    days = [
        date(year, 1, 1),
        _nth_weekday(year, 1, 0, 3),
        _nth_weekday(year, 2, 0, 3),
        _last_weekday(year, 5, 0),
        date(year, 7, 4),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 10, 0, 2),
        date(year, 11, 11),
        _nth_weekday(year, 11, 3, 4),
        date(year, 12, 25),
    ]
    if year >= 2021:
        days.append(date(year, 6, 19))
    return days


def _us_observed(day: date) -> date:
    if day.weekday() == _SAT:
        return day - timedelta(days=1)
    if day.weekday() == _SUN:
        return day + timedelta(days=1)
    return day


@cache
def us_federal_holidays(year: int) -> frozenset[date]:
    """US legal public holidays (5 U.S.C. 6103) and their observed days that fall in ``year``."""
    out: set[date] = set()
    for day in _us_legal_days(year) + _us_legal_days(year + 1):
        for candidate in (day, _us_observed(day)):
            if candidate.year == year:
                out.add(candidate)
    return frozenset(out)


def _ca_legal_days(year: int) -> list[date]:
    good_friday = easter_sunday(year) - timedelta(days=2)
    may_25 = date(year, 5, 25)
    victoria = may_25 - timedelta(days=(may_25.weekday() or 7))
    days = [
        date(year, 1, 1),
        good_friday,
        victoria,
        date(year, 7, 1),
        _nth_weekday(year, 9, 0, 1),
        _nth_weekday(year, 10, 0, 2),
        date(year, 11, 11),
        date(year, 12, 25),
        date(year, 12, 26),
    ]
    if year >= 2021:
        days.append(date(year, 9, 30))
    return sorted(days)


@cache
def ca_federal_holidays(year: int) -> frozenset[date]:
    """Canada Labour Code s.166 general holidays and their observed days (see module docstring)."""
    legal = _ca_legal_days(year)
    out = set(legal)
    for day in legal:
        if day.weekday() >= _SAT:
            observed = day
            while observed.weekday() >= _SAT or observed in out:
                observed += timedelta(days=1)
            out.add(observed)
    return frozenset(d for d in out if d.year == year)


def is_business_day(day: date, jurisdiction: Jurisdiction) -> bool:
    """Not a Saturday, Sunday or (US, CA) federal holiday."""
    if day.weekday() >= _SAT:
        return False
    where = _checked(jurisdiction)
    if where == "us":
        return day not in us_federal_holidays(day.year)
    if where == "ca":
        return day not in ca_federal_holidays(day.year)
    return True


def add_business_days(start: date, n: int, jurisdiction: Jurisdiction) -> date:
    """The n-th business day after ``start`` (``start`` itself is not counted; n = 0 -> start)."""
    if n < 0:
        raise ValueError(f"cannot add a negative number of business days ({n})")
    _checked(jurisdiction)
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_business_day(day, jurisdiction):
            n -= 1
    return day


def unsubscribe_deadline(received_at: datetime, jurisdiction: Jurisdiction) -> datetime | None:
    """The last instant by which an unsubscribe received at ``received_at`` must take effect.

    US and CA: the end (23:59:59.999999 UTC) of the 10th business day after the UTC day of
    receipt. UK and EU: None, as no statute gives a number of days; consentry acts at once.
    """
    received = utc_date(received_at)
    if _checked(jurisdiction) not in ("us", "ca"):
        return None
    last = add_business_days(received, UNSUBSCRIBE_BUSINESS_DAYS, jurisdiction)
    return datetime.combine(last, time.max, tzinfo=UTC)
