"""Decision tables: organisation type x jurisdiction x basis, and the soft opt-in truth tables
of R13 (org type x enabled x each condition)."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from consentry.domain.policy import ALLOW_REASONS, Decision, decide
from consentry.domain.profiles import RULESET_VERSION

from .policy_cases import (
    ALL_FACTS,
    GIVEN_AT,
    NOW,
    at,
    ctx,
    matrix_cells,
    org,
    raw_org,
    record,
    state,
)

TYPES = ("commercial", "charity", "political-party")


def assert_decision(d: Decision, reason: str) -> None:
    assert d.reason == reason
    assert d.allowed is (reason in ALLOW_REASONS)
    assert d.ruleset == RULESET_VERSION
    if d.allowed:
        assert d.justifying is not None
    else:
        assert d.justifying is None


@pytest.mark.parametrize(
    ("org_type", "jur", "basis", "expected"),
    matrix_cells(),
    ids=[f"{t}-{j}-{b}" for t, j, b, _ in matrix_cells()],
)
def test_every_organisation_jurisdiction_and_basis(
    org_type: str, jur: str, basis: str, expected: str
) -> None:
    rec = record(basis=basis, jurisdiction=jur)
    d = decide(state(rec), ctx(org(org_type), jurisdiction=jur))
    assert_decision(d, "basis-forbidden" if expected == "-" else expected)
    if d.allowed:
        assert d.basis == basis
        assert d.justifying == rec.justifying
        assert d.jurisdiction == jur


def test_the_matrix_has_every_cell() -> None:
    assert len(matrix_cells()) == 3 * 4 * 9
    assert len({c[:3] for c in matrix_cells()}) == 108


def test_ca_implied_nbr_for_a_commercial_club_with_membership() -> None:
    rec = record(basis="ca_implied_nbr", jurisdiction="ca", facts={"membership": True})
    d = decide(state(rec), ctx(org("commercial"), jurisdiction="ca"))
    assert_decision(d, "ca-implied-nbr")


def _flags(*names_and_values: tuple[str, bool]) -> str:
    return "-".join(name if value else f"no_{name}" for name, value in names_and_values)


# --- uk_soft_optin_commercial and eu_soft_optin: type x enabled x sale x refusal x category ----

PRODUCT_ROWS = list(
    itertools.product(TYPES, [True, False], [True, False], [True, False], [True, False])
)


def _product_expected(
    basis_reason: str, org_type: str, enabled: bool, sale: bool, refusal: bool, in_set: bool
) -> str:
    if org_type != "commercial" or not enabled:
        return "basis-forbidden"
    return basis_reason if sale and refusal and in_set else "soft-opt-in-conditions-unmet"


@pytest.mark.parametrize(
    ("basis", "jur", "allow"),
    [
        ("uk_soft_optin_commercial", "uk", "soft-opt-in-commercial"),
        ("eu_soft_optin", "eu", "soft-opt-in-eu"),
    ],
    ids=["uk-commercial", "eu"],
)
@pytest.mark.parametrize(
    ("org_type", "enabled", "sale", "refusal", "in_set"),
    PRODUCT_ROWS,
    ids=[
        f"{t}-" + _flags(("enabled", e), ("sale", s), ("refusal", r), ("similar", i))
        for t, e, s, r, i in PRODUCT_ROWS
    ],
)
def test_product_soft_opt_in_truth_table(
    basis: str,
    jur: str,
    allow: str,
    org_type: str,
    enabled: bool,
    sale: bool,
    refusal: bool,
    in_set: bool,
) -> None:
    organisation = raw_org(org_type, [basis] if enabled else [], products=("books", "comics"))
    facts = {"sale_or_negotiation": sale, "refusal_offered": refusal, "product_category": "books"}
    rec = record(basis=basis, jurisdiction=jur, facts=facts)
    campaign = ctx(organisation, jurisdiction=jur, product_category="comics" if in_set else "cars")
    expected = _product_expected(allow, org_type, enabled, sale, refusal, in_set)
    assert_decision(decide(state(rec), campaign), expected)


# --- uk_soft_optin_charity: type x enabled x collected x sole purpose x interest x refusal -------

CHARITY_ROWS = list(
    itertools.product(
        TYPES, [True, False], [True, False], [True, False], [True, False], [True, False]
    )
)
BEFORE, FROM = at("2026-02-04T23:59:59"), at("2026-02-05T00:00:00")


@pytest.mark.parametrize(
    ("org_type", "enabled", "after", "sole", "interest", "refusal"),
    CHARITY_ROWS,
    ids=[
        f"{t}-" + _flags(("enabled", e), ("after", a), ("sole", s), ("interest", i), ("refusal", r))
        for t, e, a, s, i, r in CHARITY_ROWS
    ],
)
def test_charity_soft_opt_in_truth_table(
    org_type: str, enabled: bool, after: bool, sole: bool, interest: bool, refusal: bool
) -> None:
    organisation = raw_org(org_type, ["uk_soft_optin_charity"] if enabled else [])
    facts = {"charitable_interest": interest, "refusal_offered": refusal}
    given: datetime = FROM if after else BEFORE
    rec = record(basis="uk_soft_optin_charity", facts=facts, given_at=given)
    d = decide(state(rec), ctx(organisation, sole_purpose_charitable=sole))
    if org_type != "charity" or not enabled:
        expected = "basis-forbidden"
    elif after and sole and interest and refusal:
        expected = "soft-opt-in-charity"
    else:
        expected = "soft-opt-in-conditions-unmet"
    assert_decision(d, expected)


@pytest.mark.parametrize("basis", ["uk_soft_optin_commercial", "uk_soft_optin_charity"])
def test_political_party_soft_opt_in_denied_even_if_a_profile_enables_it(basis: str) -> None:
    rogue = raw_org("political-party", [basis])
    d = decide(state(record(basis=basis, facts=ALL_FACTS)), ctx(rogue))
    assert_decision(d, "basis-forbidden")


def test_soft_opt_in_conditions_need_true_not_truthy() -> None:
    facts = {"sale_or_negotiation": "yes", "refusal_offered": 1, "product_category": "books"}
    d = decide(state(record(basis="uk_soft_optin_commercial", facts=facts)), ctx())
    assert_decision(d, "soft-opt-in-conditions-unmet")


def test_commercial_soft_opt_in_needs_a_campaign_product_category() -> None:
    d = decide(state(record(basis="uk_soft_optin_commercial")), ctx(product_category=None))
    assert_decision(d, "soft-opt-in-conditions-unmet")


def test_fixture_times_are_in_order() -> None:
    assert GIVEN_AT < NOW
