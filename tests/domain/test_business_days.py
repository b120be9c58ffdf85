"""US and Canadian federal holidays, business-day arithmetic and unsubscribe deadlines (R14)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.business_days import (
    add_business_days,
    ca_federal_holidays,
    easter_sunday,
    is_business_day,
    unsubscribe_deadline,
    us_federal_holidays,
    utc_date,
)
from consentry.domain.errors import InvalidLeaf
from consentry.domain.profiles import Jurisdiction

US, CA, UK, EU = Jurisdiction.US, Jurisdiction.CA, Jurisdiction.UK, Jurisdiction.EU


def days(*texts: str) -> frozenset[date]:
    return frozenset(date.fromisoformat(t) for t in texts)


# Published OPM and Government of Canada calendars; (observed) marks a weekday substitute.
US_HOLIDAYS = {
    2025: days(
        "2025-01-01",
        "2025-01-20",
        "2025-02-17",
        "2025-05-26",
        "2025-06-19",
        "2025-07-04",
        "2025-09-01",
        "2025-10-13",
        "2025-11-11",
        "2025-11-27",
        "2025-12-25",
    ),
    2026: days(
        "2026-01-01",
        "2026-01-19",
        "2026-02-16",
        "2026-05-25",
        "2026-06-19",
        "2026-07-03",  # Independence Day (observed): 4 July is a Saturday
        "2026-07-04",
        "2026-09-07",
        "2026-10-12",
        "2026-11-11",
        "2026-11-26",
        "2026-12-25",
    ),
    2027: days(
        "2027-01-01",
        "2027-01-18",
        "2027-02-15",
        "2027-05-31",
        "2027-06-18",  # Juneteenth (observed): 19 June is a Saturday
        "2027-06-19",
        "2027-07-04",
        "2027-07-05",  # Independence Day (observed): 4 July is a Sunday
        "2027-09-06",
        "2027-10-11",
        "2027-11-11",
        "2027-11-25",
        "2027-12-24",  # Christmas Day (observed): 25 December is a Saturday
        "2027-12-25",
        "2027-12-31",  # New Year's Day 2028 (observed): 1 January 2028 is a Saturday
    ),
}
CA_HOLIDAYS = {
    2025: days(
        "2025-01-01",
        "2025-04-18",
        "2025-05-19",
        "2025-07-01",
        "2025-09-01",
        "2025-09-30",
        "2025-10-13",
        "2025-11-11",
        "2025-12-25",
        "2025-12-26",
    ),
    2026: days(
        "2026-01-01",
        "2026-04-03",
        "2026-05-18",
        "2026-07-01",
        "2026-09-07",
        "2026-09-30",
        "2026-10-12",
        "2026-11-11",
        "2026-12-25",
        "2026-12-26",
        "2026-12-28",  # Boxing Day (observed): 26 December is a Saturday
    ),
    2027: days(
        "2027-01-01",
        "2027-03-26",
        "2027-05-24",
        "2027-07-01",
        "2027-09-06",
        "2027-09-30",
        "2027-10-11",
        "2027-11-11",
        "2027-12-25",
        "2027-12-26",
        "2027-12-27",  # Christmas Day (observed)
        "2027-12-28",  # Boxing Day (observed)
    ),
}


@pytest.mark.parametrize("year", sorted(US_HOLIDAYS))
def test_us_federal_holidays(year: int) -> None:
    assert us_federal_holidays(year) == US_HOLIDAYS[year]


@pytest.mark.parametrize("year", sorted(CA_HOLIDAYS))
def test_ca_federal_holidays(year: int) -> None:
    assert ca_federal_holidays(year) == CA_HOLIDAYS[year]


def test_new_years_day_observed_on_the_friday_before_belongs_to_the_old_year() -> None:
    assert date(2021, 12, 31) in us_federal_holidays(2021)
    assert date(2021, 12, 31) not in us_federal_holidays(2022)
    assert date(2022, 1, 3) in ca_federal_holidays(2022)  # Canada moves it to the Monday after


def test_christmas_on_a_sunday_in_canada() -> None:
    assert {date(2022, 12, 26), date(2022, 12, 27)} <= ca_federal_holidays(2022)


def test_holidays_created_in_2021() -> None:
    assert date(2020, 6, 19) not in us_federal_holidays(2020)
    assert date(2021, 6, 18) in us_federal_holidays(2021)  # Juneteenth 2021 was a Saturday
    assert date(2020, 9, 30) not in ca_federal_holidays(2020)
    assert date(2021, 9, 30) in ca_federal_holidays(2021)


def test_no_easter_monday_or_civic_holiday_in_canada() -> None:
    assert date(2026, 4, 6) not in ca_federal_holidays(2026)
    assert date(2026, 8, 3) not in ca_federal_holidays(2026)


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2000, "2000-04-23"),
        (2008, "2008-03-23"),
        (2011, "2011-04-24"),
        (2019, "2019-04-21"),
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2027, "2027-03-28"),
        (2038, "2038-04-25"),
        (2285, "2285-03-22"),
    ],
)
def test_easter(year: int, easter: str) -> None:
    assert easter_sunday(year) == date.fromisoformat(easter)


@given(st.integers(1583, 4099))
def test_easter_is_a_sunday_between_22_march_and_25_april(year: int) -> None:
    e = easter_sunday(year)
    assert e.weekday() == 6
    assert date(year, 3, 22) <= e <= date(year, 4, 25)


ADD_ROWS = [
    # (id, start, n, jurisdiction, expected)
    ("zero", "2025-08-30", 0, US, "2025-08-30"),
    ("us-labor-day-weekend", "2025-08-29", 1, US, "2025-09-02"),
    ("ca-labour-day-weekend", "2025-08-29", 1, CA, "2025-09-02"),
    ("uk-labour-day-is-a-workday", "2025-08-29", 1, UK, "2025-09-01"),
    ("eu-weekend-only", "2025-12-24", 1, EU, "2025-12-25"),
    ("us-independence-observed-friday", "2026-07-02", 1, US, "2026-07-06"),
    ("ca-christmas-2027", "2027-12-24", 1, CA, "2027-12-29"),
    ("us-christmas-2027", "2027-12-23", 1, US, "2027-12-27"),
    ("us-new-year-2028-observed", "2027-12-30", 1, US, "2028-01-03"),
    ("ca-new-year-2028-observed", "2027-12-31", 1, CA, "2028-01-04"),
    ("ca-good-friday-2026", "2026-04-02", 1, CA, "2026-04-06"),
    ("us-good-friday-is-a-workday", "2026-04-02", 1, US, "2026-04-03"),
    ("from-a-saturday", "2025-11-08", 1, US, "2025-11-10"),
    ("us-ten-over-thanksgiving", "2025-11-21", 10, US, "2025-12-08"),
    ("ca-ten-over-thanksgiving", "2025-10-03", 10, CA, "2025-10-20"),
]


@pytest.mark.parametrize(
    ("start", "n", "jurisdiction", "expected"),
    [r[1:] for r in ADD_ROWS],
    ids=[r[0] for r in ADD_ROWS],
)
def test_add_business_days(start: str, n: int, jurisdiction: Jurisdiction, expected: str) -> None:
    assert add_business_days(date.fromisoformat(start), n, jurisdiction) == date.fromisoformat(
        expected
    )


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(0, 40),
    st.sampled_from(Jurisdiction),
)
def test_add_business_days_counts_exactly_n(start: date, n: int, where: Jurisdiction) -> None:
    end = add_business_days(start, n, where)
    span = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(is_business_day(d, where) for d in span) == n
    assert n == 0 or is_business_day(end, where)


def test_add_business_days_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_days(date(2025, 1, 1), -1, US)
    with pytest.raises(ValueError, match="unknown jurisdiction"):
        add_business_days(date(2025, 1, 1), 1, "fr")  # type: ignore[arg-type]


DEADLINE_ROWS = [
    # (id, received at, jurisdiction, expected last instant or None)
    ("us-over-christmas", datetime(2025, 12, 19, 15, tzinfo=UTC), US, "2026-01-06"),
    ("ca-over-christmas", datetime(2025, 12, 19, 15, tzinfo=UTC), CA, "2026-01-07"),
    ("us-plain-fortnight", datetime(2026, 3, 2, 9, tzinfo=UTC), US, "2026-03-16"),
    ("ca-good-friday", datetime(2026, 3, 30, 9, tzinfo=UTC), CA, "2026-04-14"),
    ("us-received-on-a-sunday", datetime(2026, 3, 1, 23, tzinfo=UTC), US, "2026-03-13"),
    (
        "local-evening-is-next-utc-day",
        datetime(2026, 2, 27, 20, tzinfo=timezone(timedelta(hours=-5))),
        US,
        "2026-03-13",
    ),
    ("uk-no-statutory-number", datetime(2026, 3, 2, 9, tzinfo=UTC), UK, None),
    ("eu-no-statutory-number", datetime(2026, 3, 2, 9, tzinfo=UTC), EU, None),
]


@pytest.mark.parametrize(
    ("received", "jurisdiction", "expected"),
    [r[1:] for r in DEADLINE_ROWS],
    ids=[r[0] for r in DEADLINE_ROWS],
)
def test_unsubscribe_deadline(
    received: datetime, jurisdiction: Jurisdiction, expected: str | None
) -> None:
    deadline = unsubscribe_deadline(received, jurisdiction)
    if expected is None:
        assert deadline is None
    else:
        assert deadline == datetime.fromisoformat(expected + "T23:59:59.999999+00:00")
        assert deadline is not None and deadline.tzinfo is UTC


def test_unsubscribe_deadline_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidLeaf, match="naive"):
        unsubscribe_deadline(datetime(2026, 3, 2, 9), US)


def test_utc_date() -> None:
    assert utc_date(datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-1)))) == date(
        2026, 3, 2
    )
