"""Boundary days: CASL implied windows (R14), consent age-out by source (R15), valid_until."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from consentry.domain.business_days import add_months
from consentry.domain.policy import decide

from .policy_cases import at, ctx, org, record, state
from .test_policy_matrix import assert_decision

START = at("2025-01-10T15:00")


def _ca(
    basis: str, now: datetime, facts: dict[str, Any] | None = None, given_at: datetime = START
) -> str:
    rec = record(basis=basis, jurisdiction="ca", given_at=given_at, facts=facts or {})
    return decide(state(rec), ctx(org("charity"), jurisdiction="ca", now=now)).reason


CASL_ROWS = [
    # (id, basis, send day, expected)
    ("purchase-day-729", "ca_implied_ebr_purchase", "2027-01-09", "ca-implied-ebr-purchase"),
    ("purchase-day-730", "ca_implied_ebr_purchase", "2027-01-10", "ca-implied-ebr-purchase"),
    ("purchase-day-731", "ca_implied_ebr_purchase", "2027-01-11", "consent-expired"),
    ("nbr-day-730", "ca_implied_nbr", "2027-01-10", "ca-implied-nbr"),
    ("nbr-day-731", "ca_implied_nbr", "2027-01-11", "consent-expired"),
    ("inquiry-6m-minus-1", "ca_implied_ebr_inquiry", "2025-07-09", "ca-implied-ebr-inquiry"),
    ("inquiry-6m", "ca_implied_ebr_inquiry", "2025-07-10", "ca-implied-ebr-inquiry"),
    ("inquiry-6m-plus-1", "ca_implied_ebr_inquiry", "2025-07-11", "consent-expired"),
    ("express-10-years", "ca_express", "2035-01-11", "consent-given"),
    ("consent-in-ca-10-years", "consent", "2035-01-11", "consent-given"),
]


@pytest.mark.parametrize(
    ("basis", "day", "expected"), [r[1:] for r in CASL_ROWS], ids=[r[0] for r in CASL_ROWS]
)
def test_casl_windows_from_2025_01_10(basis: str, day: str, expected: str) -> None:
    assert (date.fromisoformat(day) - START.date()).days in range(180, 3700)
    for clock in ("T00:00", "T23:59:59"):  # whole days: the time of day does not matter
        assert _ca(basis, at(day + clock)) == expected


def test_casl_day_730_is_two_years_in_a_non_leap_span() -> None:
    assert (date(2027, 1, 10) - date(2025, 1, 10)).days == 730


@pytest.mark.parametrize(
    ("start", "send", "basis", "expected"),
    [
        ("2024-02-29", "2026-02-28", "ca_implied_ebr_purchase", "ca-implied-ebr-purchase"),
        ("2024-02-29", "2026-03-01", "ca_implied_ebr_purchase", "consent-expired"),
        ("2025-08-31", "2026-02-28", "ca_implied_ebr_inquiry", "ca-implied-ebr-inquiry"),
        ("2025-08-31", "2026-03-01", "ca_implied_ebr_inquiry", "consent-expired"),
        ("2023-08-31", "2024-02-29", "ca_implied_ebr_inquiry", "ca-implied-ebr-inquiry"),
        ("2023-08-31", "2024-03-01", "ca_implied_ebr_inquiry", "consent-expired"),
    ],
    ids=[
        "feb29-plus-2y",
        "feb29-plus-2y-and-1",
        "aug31-plus-6m",
        "aug31-plus-6m-and-1",
        "aug31-plus-6m-leap",
        "aug31-plus-6m-leap-and-1",
    ],
)
def test_casl_month_ends_clamp(start: str, send: str, basis: str, expected: str) -> None:
    assert _ca(basis, at(send), given_at=at(start)) == expected


def test_casl_window_restarts_with_each_transaction() -> None:
    facts = {"transaction_at": "2026-01-05T10:00:00.000000Z"}
    assert _ca("ca_implied_ebr_purchase", at("2027-06-01"), facts) == "ca-implied-ebr-purchase"
    assert _ca("ca_implied_ebr_purchase", at("2027-06-01")) == "consent-expired"
    assert _ca("ca_implied_ebr_purchase", at("2028-01-06"), facts) == "consent-expired"


AGE_ROWS = [
    # (id, source, max_age_days override, age in days, expected)
    ("first-party-max-minus-1", "first-party", None, 729, "consent-given"),
    ("first-party-max", "first-party", None, 730, "consent-given"),
    ("first-party-max-plus-1", "first-party", None, 731, "consent-expired"),
    ("third-party-max-minus-1", "third-party:broker", None, 182, "consent-given"),
    ("third-party-max", "third-party:broker", None, 183, "consent-given"),
    ("third-party-max-plus-1", "third-party:broker", None, 184, "consent-expired"),
    ("import-max", "import:mailchimp", None, 730, "consent-given"),
    ("import-max-plus-1", "import:mailchimp", None, 731, "consent-expired"),
    ("configured-90-at-90", "first-party", {"first-party": 90}, 90, "consent-given"),
    ("configured-90-at-91", "first-party", {"first-party": 90}, 91, "consent-expired"),
    ("configured-0-same-day", "first-party", {"first-party": 0}, 0, "consent-given"),
    ("configured-0-next-day", "first-party", {"first-party": 0}, 1, "consent-expired"),
    ("no-age-out", "third-party:broker", {"third-party": None}, 5000, "consent-given"),
]


@pytest.mark.parametrize("jurisdiction", ["uk", "eu", "us"])
@pytest.mark.parametrize(
    ("source", "ages", "age", "expected"), [r[1:] for r in AGE_ROWS], ids=[r[0] for r in AGE_ROWS]
)
def test_consent_ages_out_by_source(
    jurisdiction: str, source: str, ages: dict[str, int | None] | None, age: int, expected: str
) -> None:
    given = at("2024-01-01T12:00")
    rec = record(source=source, given_at=given)
    organisation = org(max_age_days=ages)
    # whole UTC calendar days, not 24-hour periods: the time of day does not matter
    for clock in ("T23:59:59",) if age == 0 else ("T00:00", "T23:59:59"):
        now = at(str(given.date() + timedelta(days=age)) + clock)
        d = decide(state(rec), ctx(organisation, jurisdiction=jurisdiction, now=now))
        assert_decision(d, expected)


SOFT_AGE_ROWS = [
    # (id, basis, facts transaction_at, age of the grant in days, expected)
    ("commercial-grant-730", "uk_soft_optin_commercial", None, 730, "soft-opt-in-commercial"),
    ("commercial-grant-731", "uk_soft_optin_commercial", None, 731, "consent-expired"),
    (
        "commercial-later-purchase",
        "uk_soft_optin_commercial",
        "2025-06-01T00:00:00.000000Z",
        900,
        "soft-opt-in-commercial",
    ),
    ("eu-grant-731", "eu_soft_optin", None, 731, "consent-expired"),
    ("charity-grant-730", "uk_soft_optin_charity", None, 730, "soft-opt-in-charity"),
    ("charity-grant-731", "uk_soft_optin_charity", None, 731, "consent-expired"),
]


@pytest.mark.parametrize(
    ("basis", "tx", "age", "expected"),
    [r[1:] for r in SOFT_AGE_ROWS],
    ids=[r[0] for r in SOFT_AGE_ROWS],
)
def test_soft_opt_in_ages_out_from_the_last_transaction(
    basis: str, tx: str | None, age: int, expected: str
) -> None:
    given = at("2026-02-10")
    facts: dict[str, Any] = {
        "sale_or_negotiation": True,
        "refusal_offered": True,
        "charitable_interest": True,
    }
    if tx is not None:
        given = at("2024-06-01")
        facts["transaction_at"] = tx
    kind = "charity" if basis == "uk_soft_optin_charity" else "commercial"
    jur = "eu" if basis == "eu_soft_optin" else "uk"
    rec = record(basis=basis, given_at=given, facts=facts)
    d = decide(state(rec), ctx(org(kind), jurisdiction=jur, now=given + timedelta(days=age)))
    assert_decision(d, expected)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2025-01-10", 24, "2027-01-10"),
        ("2024-02-29", 24, "2026-02-28"),
        ("2024-02-29", 48, "2028-02-29"),
        ("2025-08-31", 6, "2026-02-28"),
        ("2025-12-31", 2, "2026-02-28"),
        ("2025-07-15", 6, "2026-01-15"),
        ("2025-01-31", 0, "2025-01-31"),
    ],
)
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(date.fromisoformat(day), months) == date.fromisoformat(expected)
