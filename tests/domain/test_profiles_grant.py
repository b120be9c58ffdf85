"""Grant-time checks (``check_grant``): the same matrix as ``decide``, and the R13 conditions."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from consentry.domain.errors import BasisForbidden, InputError, InvalidLeaf
from consentry.domain.profiles import Organisation, check_grant

from .policy_cases import ALL_FACTS, GIVEN_AT, at, matrix_cells, org

# --- check_grant ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("org_type", "jur", "basis", "expected"),
    matrix_cells(),
    ids=[f"{t}-{j}-{b}" for t, j, b, _ in matrix_cells()],
)
def test_grant_matrix_agrees_with_decide(
    org_type: str, jur: str, basis: str, expected: str
) -> None:
    if expected == "-":
        with pytest.raises(BasisForbidden, match=basis):
            check_grant(org(org_type), basis, jur, ALL_FACTS, GIVEN_AT)
    else:
        check_grant(org(org_type), basis, jur, ALL_FACTS, GIVEN_AT)


COMMERCIAL_ROWS = list(itertools.product([True, False, None], [True, False, None], ["books", None]))


@pytest.mark.parametrize(
    "basis_jur", [("uk_soft_optin_commercial", "uk"), ("eu_soft_optin", "eu")], ids=["uk", "eu"]
)
@pytest.mark.parametrize(
    ("sale", "refusal", "category"),
    COMMERCIAL_ROWS,
    ids=[f"sale={s}-refusal={r}-category={c}" for s, r, c in COMMERCIAL_ROWS],
)
def test_grant_commercial_soft_opt_in_facts(
    basis_jur: tuple[str, str], sale: bool | None, refusal: bool | None, category: str | None
) -> None:
    basis, jur = basis_jur
    facts = {
        k: v
        for k, v in [
            ("sale_or_negotiation", sale),
            ("refusal_offered", refusal),
            ("product_category", category),
        ]
        if v is not None
    }
    if sale is True and refusal is True and category:
        check_grant(org(), basis, jur, facts, GIVEN_AT)
    else:
        with pytest.raises(BasisForbidden, match=basis):
            check_grant(org(), basis, jur, facts, GIVEN_AT)


CHARITY_ROWS = list(itertools.product([True, False], [True, False], [True, False]))


@pytest.mark.parametrize(
    ("after", "interest", "refusal"),
    CHARITY_ROWS,
    ids=[f"after={a}-interest={i}-refusal={r}" for a, i, r in CHARITY_ROWS],
)
def test_grant_charity_soft_opt_in(after: bool, interest: bool, refusal: bool) -> None:
    given_at = at("2026-02-05T00:00") if after else at("2026-02-04T23:59:59")
    facts = {"charitable_interest": interest, "refusal_offered": refusal}
    if after and interest and refusal:
        check_grant(org("charity"), "uk_soft_optin_charity", "uk", facts, given_at)
    else:
        with pytest.raises(BasisForbidden, match="uk_soft_optin_charity"):
            check_grant(org("charity"), "uk_soft_optin_charity", "uk", facts, given_at)


def test_charity_soft_opt_in_date_is_read_in_utc() -> None:
    # 2026-02-05 00:30 in UTC+1 is still 4 February in UTC.
    local = datetime(2026, 2, 5, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    facts = {"charitable_interest": True, "refusal_offered": True}
    with pytest.raises(BasisForbidden, match="before 2026-02-05"):
        check_grant(org("charity"), "uk_soft_optin_charity", "uk", facts, local)


GRANT_ERRORS: list[tuple[str, Any, str, str, Any, str]] = [
    ("unknown-basis", org(), "legitimate_interest", "uk", {}, "unknown lawful basis"),
    ("membership-is-no-basis", org("political-party"), "membership", "uk", {}, "unknown lawful"),
    ("unknown-jurisdiction", org(), "consent", "fr", {}, "unknown jurisdiction"),
    ("us-optout-in-uk", org(), "us_optout", "uk", {}, "not a lawful basis in the uk"),
    (
        "political-soft-opt-in",
        org("political-party"),
        "uk_soft_optin_commercial",
        "uk",
        ALL_FACTS,
        "political parties cannot use any soft opt-in",
    ),
    (
        "political-charity-soft-opt-in",
        org("political-party"),
        "uk_soft_optin_charity",
        "uk",
        ALL_FACTS,
        "political parties cannot use any soft opt-in",
    ),
    ("not-enabled", org(soft=[]), "uk_soft_optin_commercial", "uk", ALL_FACTS, "not enabled"),
    (
        "wrong-type",
        org("charity"),
        "uk_soft_optin_commercial",
        "uk",
        ALL_FACTS,
        "only for commercial",
    ),
    ("nbr-commercial", org(), "ca_implied_nbr", "ca", {}, "charity or political party"),
    (
        "bad-transaction-at",
        org(),
        "ca_implied_ebr_purchase",
        "ca",
        {"transaction_at": "2025"},
        "transaction_at",
    ),
    (
        "transaction-after-grant",
        org(),
        "ca_implied_ebr_purchase",
        "ca",
        {"transaction_at": "2026-03-02T00:00:00.000000Z"},
        "after the grant",
    ),
    (
        "purchase-already-lapsed",
        org(),
        "ca_implied_ebr_purchase",
        "ca",
        {"transaction_at": "2024-02-28T00:00:00.000000Z"},
        "already lapsed",
    ),
    (
        "inquiry-already-lapsed",
        org(),
        "ca_implied_ebr_inquiry",
        "ca",
        {"transaction_at": "2025-08-31T00:00:00.000000Z"},
        "already lapsed",
    ),
    ("facts-not-a-map", org(), "consent", "uk", ["x"], "facts must be an object"),
]


@pytest.mark.parametrize(
    ("organisation", "basis", "jur", "facts", "message"),
    [r[1:] for r in GRANT_ERRORS],
    ids=[r[0] for r in GRANT_ERRORS],
)
def test_grant_refuses(
    organisation: Organisation, basis: str, jur: str, facts: Any, message: str
) -> None:
    with pytest.raises(BasisForbidden, match=message) as caught:
        check_grant(organisation, basis, jur, facts, GIVEN_AT)
    assert caught.value.exit_code == 14


GRANT_OK: list[tuple[str, Any, str, str, dict[str, Any]]] = [
    ("nbr-member", org(), "ca_implied_nbr", "ca", {"membership": True}),
    (
        "purchase-in-window",
        org(),
        "ca_implied_ebr_purchase",
        "ca",
        {"transaction_at": "2024-03-01T00:00:00.000000Z"},
    ),
    (
        "inquiry-in-window",
        org(),
        "ca_implied_ebr_inquiry",
        "ca",
        {"transaction_at": "2025-09-01T00:00:00.000000Z"},
    ),
    ("transaction-defaults-to-grant", org(), "ca_implied_ebr_inquiry", "ca", {}),
    ("consent-ignores-facts", org(), "consent", "eu", {"transaction_at": "junk"}),
]


@pytest.mark.parametrize(
    ("organisation", "basis", "jur", "facts"),
    [r[1:] for r in GRANT_OK],
    ids=[r[0] for r in GRANT_OK],
)
def test_grant_accepts(
    organisation: Organisation, basis: str, jur: str, facts: dict[str, Any]
) -> None:
    check_grant(organisation, basis, jur, facts, GIVEN_AT)


def test_grant_with_a_naive_time_is_an_input_error() -> None:
    with pytest.raises(InvalidLeaf) as caught:
        check_grant(org(), "consent", "uk", {}, datetime(2026, 3, 1))
    assert isinstance(caught.value, InputError)
