"""Decision tables for the rules of ``decide``, in the order it applies them, and the codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from consentry.domain.policy import (
    ALLOW_REASONS,
    DENY_REASONS,
    Decision,
    SendContext,
    decide,
)
from consentry.domain.profiles import RULESET_VERSION, TemplateClass
from consentry.domain.state import ConsentStatus, SubjectState

from .policy_cases import NOW, ctx, org, raw_org, record, ref, state, sup
from .test_policy_matrix import assert_decision

EARLIER = NOW - timedelta(seconds=1)
LATER = NOW + timedelta(microseconds=1)
GOOD = state(record())

# --- rules 1-3 and the shape of a decision -------------------------------------------------------

ORDER_ROWS: list[tuple[str, SubjectState | None, SendContext, str]] = [
    ("clock-regressed", GOOD, ctx(ledger_last_at=LATER), "clock-regressed"),
    ("clock-equal-is-fine", GOOD, ctx(ledger_last_at=NOW), "consent-given"),
    ("clock-earlier-is-fine", GOOD, ctx(ledger_last_at=EARLIER), "consent-given"),
    ("clock-regressed-beats-unknown-subject", None, ctx(ledger_last_at=LATER), "clock-regressed"),
    ("unknown-subject-marketing", None, ctx(), "unknown-subject"),
    ("unknown-subject-service", None, ctx(template="service"), "unknown-subject"),
    ("no-consent-for-this-list", GOOD, ctx(list_id="offers"), "no-consent"),
    ("naive-now", GOOD, ctx(now=NOW.replace(tzinfo=None)), "policy-error"),
    ("naive-ledger-time", GOOD, ctx(ledger_last_at=NOW.replace(tzinfo=None)), "policy-error"),
    ("service-with-a-relationship", GOOD, ctx(template="service"), "service-message"),
    (
        "promotional-service-is-marketing",
        state(record(status=ConsentStatus.WITHDRAWN)),
        ctx(template="service", promotional=True),
        "consent-withdrawn",
    ),
    (
        "plain-service-to-a-withdrawn-consent",
        state(record(status=ConsentStatus.WITHDRAWN)),
        ctx(template="service"),
        "service-message",
    ),
]


@pytest.mark.parametrize(
    ("state_", "context", "expected"),
    [row[1:] for row in ORDER_ROWS],
    ids=[row[0] for row in ORDER_ROWS],
)
def test_rule_order(state_: SubjectState | None, context: SendContext, expected: str) -> None:
    assert_decision(decide(state_, context), expected)


def test_decision_records_what_invariant_2_asks() -> None:
    rec = record(grant=41, justifying=42)
    d = decide(state(rec), ctx(ledger_size=1234))
    assert d == Decision(
        True, "consent-given", "consent", ref(42), RULESET_VERSION, "uk", "marketing", 1234
    )
    assert d.to_json() == {
        "allowed": True,
        "reason": "consent-given",
        "basis": "consent",
        "justifying": {"index": 42, "hash": f"{42:064x}"},
        "ruleset": RULESET_VERSION,
        "jurisdiction": "uk",
        "template_class": "marketing",
        "ledger_size": 1234,
    }


def test_deny_json_has_null_justifying_and_effective_class() -> None:
    d = decide(None, ctx(template="service", promotional=True, jurisdiction="ca"))
    assert d.to_json()["justifying"] is None
    assert (d.template_class, d.jurisdiction, d.basis) == ("marketing", "ca", None)


def test_effective_class() -> None:
    assert ctx(template="service").effective_class is TemplateClass.SERVICE
    assert ctx(template="service", promotional=True).effective_class is TemplateClass.MARKETING
    assert ctx(template="marketing").effective_class is TemplateClass.MARKETING


def test_decide_never_raises_on_garbage() -> None:
    broken: Any = object()
    d = decide(broken, ctx())
    assert (d.allowed, d.reason, d.justifying) == (False, "policy-error", None)
    d = decide(GOOD, broken)
    assert (d.allowed, d.reason, d.ledger_size) == (False, "policy-error", -1)


# --- rule 6: the consent record -------------------------------------------------------------------

STATUS_ROWS = [
    (s, "consent-given" if s is ConsentStatus.GIVEN else f"consent-{s.value}")
    for s in ConsentStatus
]


@pytest.mark.parametrize(("status", "expected"), STATUS_ROWS, ids=[s.value for s, _ in STATUS_ROWS])
def test_only_given_allows_marketing(status: ConsentStatus, expected: str) -> None:
    assert_decision(decide(state(record(status=status)), ctx()), expected)


RECORD_ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("missing-evidence", {"evidence": None}, "missing-evidence"),
    ("valid-until-exactly-now", {"valid_until": NOW}, "consent-expired"),
    ("valid-until-passed", {"valid_until": EARLIER}, "consent-expired"),
    ("valid-until-1us-ahead", {"valid_until": LATER}, "consent-given"),
    ("no-justifying-leaf", {"justifying": None}, "no-justifying-leaf"),
    ("unknown-basis", {"basis": "legitimate_interest"}, "basis-forbidden"),
    ("membership-is-no-basis-r32", {"basis": "membership"}, "basis-forbidden"),
    ("unknown-source", {"source": "bought-list"}, "unknown-source"),
    ("third-party-source", {"source": "third-party:partner"}, "consent-given"),
    ("import-source", {"source": "import:mailchimp"}, "consent-given"),
    (
        "bad-transaction-at",
        {
            "basis": "uk_soft_optin_commercial",
            "facts": {
                "sale_or_negotiation": True,
                "refusal_offered": True,
                "transaction_at": "yesterday",
            },
        },
        "policy-error",
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [r[1:] for r in RECORD_ROWS], ids=[r[0] for r in RECORD_ROWS]
)
def test_record_checks(changes: dict[str, Any], expected: str) -> None:
    assert_decision(decide(state(record(**changes)), ctx()), expected)


def test_an_unconfirmed_record_is_enough_without_a_suppression() -> None:
    assert_decision(decide(state(record(confirmed=False)), ctx()), "consent-given")


def test_every_allow_names_the_records_justifying_leaf() -> None:
    rec = record(grant=7, justifying=9)
    assert decide(state(rec), ctx()).justifying == ref(9)
    assert decide(state(rec), ctx(template="service")).justifying == ref(7)


# --- R15 and R32 ----------------------------------------------------------------------------------

OLD = NOW - timedelta(days=400)
REPERMISSION_ROWS: list[tuple[str, Any, str]] = [
    ("status-expired", record(status=ConsentStatus.EXPIRED), "consent-expired"),
    ("aged-out-third-party", record(source="third-party:broker", given_at=OLD), "consent-expired"),
    ("past-valid-until", record(valid_until=OLD), "consent-expired"),
]


@pytest.mark.parametrize("template", ["marketing", "service-promotional"])
@pytest.mark.parametrize(
    ("rec", "expected"), [r[1:] for r in REPERMISSION_ROWS], ids=[r[0] for r in REPERMISSION_ROWS]
)
def test_repermission_campaign_to_expired_consent_is_blocked_in_the_uk(
    template: str, rec: Any, expected: str
) -> None:
    campaign = ctx(template="service", promotional=True) if "service" in template else ctx()
    d = decide(state(rec), replace(campaign, organisation=org(jurisdiction="uk")))
    assert_decision(d, expected)


@pytest.mark.parametrize(
    ("rec", "template", "promotional", "expected"),
    [
        (record(basis="membership"), "marketing", False, "basis-forbidden"),
        (record(basis="membership"), "service", False, "service-message"),
        (record(basis="membership"), "service", True, "basis-forbidden"),
        (record(basis="consent"), "marketing", False, "consent-given"),
    ],
    ids=["member-marketing", "member-service", "member-promotional-service", "recorded-consent"],
)
def test_political_member_mail_r32(
    rec: Any, template: str, promotional: bool, expected: str
) -> None:
    campaign = ctx(org("political-party"), template=template, promotional=promotional)
    assert_decision(decide(state(rec), campaign), expected)


# --- every code is reachable ----------------------------------------------------------------------


def _reachable() -> dict[str, tuple[SubjectState | None, SendContext]]:
    ca, us = ctx(jurisdiction="ca"), ctx(jurisdiction="us")
    ca_rec: dict[str, Any] = {"jurisdiction": "ca", "facts": {"membership": True}}
    examples: dict[str, tuple[SubjectState | None, SendContext]] = {
        "clock-regressed": (GOOD, ctx(ledger_last_at=LATER)),
        "unknown-subject": (None, ctx()),
        "no-relationship": (state(), ctx(template="service")),
        "no-consent": (state(), ctx()),
        "missing-evidence": (state(record(evidence=None)), ctx()),
        "consent-expired": (state(record(valid_until=NOW)), ctx()),
        "basis-forbidden": (state(record(basis="us_optout")), ctx()),
        "soft-opt-in-conditions-unmet": (
            state(record(basis="uk_soft_optin_commercial")),
            ctx(product_category="cars"),
        ),
        "unknown-source": (state(record(source="?")), ctx()),
        "no-justifying-leaf": (state(record(justifying=None)), ctx()),
        "policy-error": (GOOD, ctx(now=datetime(2026, 1, 1))),
        "service-message": (GOOD, ctx(template="service")),
        "consent-given": (GOOD, ctx()),
        "soft-opt-in-commercial": (state(record(basis="uk_soft_optin_commercial")), ctx()),
        "soft-opt-in-charity": (state(record(basis="uk_soft_optin_charity")), ctx(org("charity"))),
        "soft-opt-in-eu": (state(record(basis="eu_soft_optin")), ctx(jurisdiction="eu")),
        "ca-implied-ebr-purchase": (state(record(basis="ca_implied_ebr_purchase", **ca_rec)), ca),
        "ca-implied-ebr-inquiry": (state(record(basis="ca_implied_ebr_inquiry", **ca_rec)), ca),
        "ca-implied-nbr": (state(record(basis="ca_implied_nbr", **ca_rec)), ca),
        "us-opt-out": (state(record(basis="us_optout", jurisdiction="us")), us),
    }
    for status in ConsentStatus:
        if status is not ConsentStatus.GIVEN:
            examples[f"consent-{status.value}"] = (state(record(status=status)), ctx())
    for reason in (
        "unsubscribe",
        "withdrawal",
        "complaint",
        "hard-bounce",
        "manual",
        "legal",
        "erasure",
    ):
        examples[f"suppressed-{reason}"] = (state(record(), suppressions=[sup(reason)]), ctx())
    return examples


REACHABLE = _reachable()


@pytest.mark.parametrize("code", sorted(ALLOW_REASONS | DENY_REASONS))
def test_every_code_is_reachable(code: str) -> None:
    state_, context = REACHABLE[code]
    d = decide(state_, context)
    assert d.reason == code
    assert d.allowed is (code in ALLOW_REASONS)


def test_codes_are_disjoint_kebab_case_and_all_have_examples() -> None:
    assert not ALLOW_REASONS & DENY_REASONS
    assert set(REACHABLE) == ALLOW_REASONS | DENY_REASONS
    for code in ALLOW_REASONS | DENY_REASONS:
        assert code == code.lower() and " " not in code and "_" not in code


def test_a_rogue_profile_is_still_checked() -> None:
    rogue = raw_org("charity", ["uk_soft_optin_commercial"])
    d = decide(state(record(basis="uk_soft_optin_commercial")), ctx(rogue))
    assert_decision(d, "basis-forbidden")
