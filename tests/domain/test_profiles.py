"""Organisation profiles, settings round trips, sources, and grant-time checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentry.domain import business_days
from consentry.domain.errors import ProfileError
from consentry.domain.profiles import (
    BASES_BY_JURISDICTION,
    CHARITY_SOFT_OPT_IN_FROM,
    DEFAULT_MAX_AGE_DAYS,
    RULESET_VERSION,
    SOFT_OPT_IN_BASES,
    Basis,
    Jurisdiction,
    Organisation,
    OrganisationType,
    configure_organisation,
    source_type,
)

from .policy_cases import org

# --- constants ------------------------------------------------------------------------------------


def test_bases_by_jurisdiction() -> None:
    assert {j: sorted(b) for j, b in BASES_BY_JURISDICTION.items()} == {
        Jurisdiction.UK: ["consent", "uk_soft_optin_charity", "uk_soft_optin_commercial"],
        Jurisdiction.EU: ["consent", "eu_soft_optin"],
        Jurisdiction.CA: [
            "ca_express",
            "ca_implied_ebr_inquiry",
            "ca_implied_ebr_purchase",
            "ca_implied_nbr",
            "consent",
        ],
        Jurisdiction.US: ["consent", "us_optout"],
    }
    assert set().union(*BASES_BY_JURISDICTION.values()) == set(Basis)


def test_fixed_values() -> None:
    assert RULESET_VERSION == "2026.11.1"
    assert CHARITY_SOFT_OPT_IN_FROM.isoformat() == "2026-02-05"
    assert {
        "uk_soft_optin_commercial",
        "uk_soft_optin_charity",
        "eu_soft_optin",
    } == SOFT_OPT_IN_BASES
    assert dict(DEFAULT_MAX_AGE_DAYS) == {"first-party": 730, "third-party": 183, "import": 730}
    assert {j.value for j in Jurisdiction} == business_days.JURISDICTIONS


# --- configure_organisation -----------------------------------------------------------------------

CONFIG_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    (
        "political-commercial-soft",
        {"type": "political-party", "soft_opt_in": ["uk_soft_optin_commercial"]},
        "political parties cannot use any soft opt-in",
    ),
    (
        "political-charity-soft",
        {"type": "political-party", "soft_opt_in": ["uk_soft_optin_charity"]},
        "political parties cannot use any soft opt-in",
    ),
    (
        "political-eu-soft",
        {"type": "political-party", "soft_opt_in": ["eu_soft_optin"]},
        "political parties cannot use any soft opt-in",
    ),
    (
        "charity-soft-for-commercial",
        {"soft_opt_in": ["uk_soft_optin_charity"]},
        "only for charity organisations",
    ),
    (
        "commercial-soft-for-charity",
        {"type": "charity", "soft_opt_in": ["uk_soft_optin_commercial"]},
        "only for commercial organisations",
    ),
    (
        "eu-soft-for-charity",
        {"type": "charity", "soft_opt_in": ["eu_soft_optin"]},
        "only for commercial organisations",
    ),
    (
        "commercial-soft-no-products",
        {"soft_opt_in": ["uk_soft_optin_commercial"], "similar_products": []},
        "needs similar_products",
    ),
    (
        "eu-soft-no-products",
        {"soft_opt_in": ["eu_soft_optin"], "similar_products": []},
        "needs similar_products",
    ),
    ("not-a-soft-opt-in", {"soft_opt_in": ["consent"]}, "is not a soft opt-in"),
    ("soft-opt-in-as-string", {"soft_opt_in": "eu_soft_optin"}, "must be a list"),
    ("empty-product", {"similar_products": [""]}, "non-empty strings"),
    ("unknown-type", {"type": "club"}, "unknown organisation type 'club'"),
    ("unknown-jurisdiction", {"jurisdiction": "fr"}, "unknown jurisdiction 'fr'"),
    ("empty-controller", {"controller": " "}, "controller"),
    ("unknown-source-type", {"max_age_days": {"partner": 10}}, "unknown source type 'partner'"),
    ("negative-age", {"max_age_days": {"import": -1}}, "must be a whole number >= 0"),
    ("bool-age", {"max_age_days": {"import": True}}, "must be a whole number >= 0"),
    ("float-age", {"max_age_days": {"import": 1.5}}, "must be a whole number >= 0"),
    ("ages-not-a-map", {"max_age_days": [1]}, "max_age_days must map"),
]


@pytest.mark.parametrize(
    ("changes", "message"), [r[1:] for r in CONFIG_ERRORS], ids=[r[0] for r in CONFIG_ERRORS]
)
def test_configure_refuses(changes: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "controller": "Example",
        "type": "commercial",
        "jurisdiction": "uk",
        "similar_products": ["books"],
        **changes,
    }
    with pytest.raises(ProfileError, match=message) as caught:
        configure_organisation(**args)
    assert caught.value.exit_code == 16


@pytest.mark.parametrize(
    ("org_type", "soft"),
    [
        ("commercial", ["uk_soft_optin_commercial", "eu_soft_optin"]),
        ("commercial", []),
        ("charity", ["uk_soft_optin_charity"]),
        ("charity", []),
        ("political-party", []),
    ],
)
def test_configure_accepts(org_type: str, soft: list[str]) -> None:
    o = configure_organisation("Example", org_type, "uk", soft, ["books"], {"third-party": 90})
    assert o.type is OrganisationType(org_type)
    assert o.soft_opt_in == {Basis(b) for b in soft}
    assert dict(o.max_age_days) == {"first-party": 730, "third-party": 90, "import": 730}


def test_organisation_is_frozen_and_hashable() -> None:
    o = org()
    assert hash(o) == hash(org())
    with pytest.raises(TypeError):
        o.max_age_days["import"] = 1  # type: ignore[index]


# --- settings -------------------------------------------------------------------------------------


@given(
    org_type=st.sampled_from(OrganisationType),
    jurisdiction=st.sampled_from(Jurisdiction),
    soft=st.sets(st.sampled_from(sorted(SOFT_OPT_IN_BASES))),
    products=st.sets(st.text(min_size=1, max_size=8), min_size=1, max_size=4),
    ages=st.dictionaries(
        st.sampled_from(["first-party", "third-party", "import"]), st.none() | st.integers(0, 5000)
    ),
)
def test_settings_round_trip(
    org_type: OrganisationType,
    jurisdiction: Jurisdiction,
    soft: set[Basis],
    products: set[str],
    ages: dict[str, int | None],
) -> None:
    try:
        o = configure_organisation("Example", org_type, jurisdiction, soft, products, ages)
    except ProfileError:
        return
    settings = o.to_settings()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["soft_opt_in"]["enabled"] == sorted(settings["soft_opt_in"]["enabled"])
    assert settings["soft_opt_in"]["similar_products"] == sorted(products)
    assert Organisation.from_settings(settings) == o
    assert Organisation.from_settings({**settings, "origin": "https://x", "actor": "a"}) == o


def test_settings_shape() -> None:
    assert org().to_settings() == {
        "controller": "Example Ltd",
        "organisation": "commercial",
        "jurisdiction": "uk",
        "soft_opt_in": {
            "enabled": ["eu_soft_optin", "uk_soft_optin_commercial"],
            "similar_products": ["books"],
        },
        "max_age_days": {"first-party": 730, "import": 730, "third-party": 183},
        "ruleset": RULESET_VERSION,
    }


def test_settings_without_max_age_take_defaults() -> None:
    settings = org().to_settings()
    del settings["max_age_days"]
    assert Organisation.from_settings(settings) == org()


SETTINGS_ERRORS: list[tuple[str, Any, str]] = [
    ("not-a-map", ["x"], "must be an object"),
    ("unknown-key", {"colour": "red"}, "unknown organisation setting 'colour'"),
    ("missing-controller", {"organisation": "charity", "jurisdiction": "uk"}, "'controller'"),
    (
        "bad-soft-opt-in",
        {
            "controller": "x",
            "organisation": "charity",
            "jurisdiction": "uk",
            "soft_opt_in": ["uk_soft_optin_charity"],
        },
        "soft_opt_in may only hold",
    ),
    (
        "political-soft-opt-in",
        {
            "controller": "x",
            "organisation": "political-party",
            "jurisdiction": "uk",
            "soft_opt_in": {"enabled": ["uk_soft_optin_charity"]},
        },
        "political parties",
    ),
]


@pytest.mark.parametrize(
    ("settings", "message"), [r[1:] for r in SETTINGS_ERRORS], ids=[r[0] for r in SETTINGS_ERRORS]
)
def test_from_settings_refuses(settings: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Organisation.from_settings(settings)


# --- source_type ----------------------------------------------------------------------------------

SOURCES = [
    ("first-party", "first-party"),
    ("third-party:acme", "third-party"),
    ("third-party:a:b", "third-party"),
    ("import:mailchimp", "import"),
    ("import:", None),
    ("third-party", None),
    ("import", None),
    ("First-Party", None),
    ("", None),
    ("staff:42", None),
]


@pytest.mark.parametrize(("source", "expected"), SOURCES, ids=[s or "empty" for s, _ in SOURCES])
def test_source_type(source: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ProfileError, match="is not first-party"):
            source_type(source)
    else:
        assert source_type(source) == expected
