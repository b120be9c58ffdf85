"""Suppression beats consent (invariant 3, R12): scope, lifting, and service mail."""

from __future__ import annotations

from typing import Any

import pytest

from consentry.domain.policy import decide
from consentry.domain.state import ConsentStatus, Suppression

from .policy_cases import ctx, record, state, sup
from .test_policy_matrix import assert_decision

#: A consent for "news" granted at 30 and confirmed by double opt-in at 31: newer than the
#: suppressions (index 20) in the rows below.
FRESH: dict[str, Any] = {"grant": 30, "justifying": 31, "confirmed": True}
OLD_OFFERS = record("offers", grant=5, confirmed=True)

SUPPRESSION_ROWS: list[tuple[str, list[Suppression], dict[str, Any], str, str]] = [
    # (id, suppressions, record changes for "news", list sent to, expected)
    ("global-unsubscribe-old-consent", [sup("unsubscribe")], {}, "news", "suppressed-unsubscribe"),
    ("doi-newer-consent-lifts-in-its-list", [sup("unsubscribe")], FRESH, "news", "consent-given"),
    (
        "global-unsubscribe-stays-for-other-lists",
        [sup("unsubscribe")],
        FRESH,
        "offers",
        "suppressed-unsubscribe",
    ),
    (
        "list-unsubscribe-news",
        [sup("unsubscribe", scope="news")],
        {},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "list-unsubscribe-does-not-touch-offers",
        [sup("unsubscribe", scope="news")],
        {},
        "offers",
        "consent-given",
    ),
    ("other-list-scope-ignored", [sup("complaint", scope="offers")], {}, "news", "consent-given"),
    (
        "unconfirmed-newer-grant",
        [sup("unsubscribe")],
        {"grant": 30, "confirmed": False},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "confirmed-but-not-given",
        [sup("unsubscribe")],
        {**FRESH, "status": ConsentStatus.REQUESTED},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "old-grant-confirmed-after",
        [sup("unsubscribe")],
        {"grant": 10, "justifying": 31, "confirmed": True},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "grant-at-suppression-index",
        [sup("unsubscribe", index=30)],
        FRESH,
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "confirmed-without-justifying-leaf",
        [sup("unsubscribe")],
        {"grant": 30, "justifying": None, "confirmed": True},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "import-never-lifts",
        [sup("unsubscribe")],
        {**FRESH, "source": "import:mailchimp"},
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "third-party-doi-lifts",
        [sup("unsubscribe")],
        {**FRESH, "source": "third-party:partner"},
        "news",
        "consent-given",
    ),
    ("withdrawal-lifted-by-doi", [sup("withdrawal")], FRESH, "news", "consent-given"),
    ("erasure-lifted-by-doi", [sup("erasure")], FRESH, "news", "consent-given"),
    ("complaint-never-lifted", [sup("complaint")], FRESH, "news", "suppressed-complaint"),
    ("hard-bounce-never-lifted", [sup("hard-bounce")], FRESH, "news", "suppressed-hard-bounce"),
    ("manual-never-lifted", [sup("manual")], FRESH, "news", "suppressed-manual"),
    ("legal-never-lifted", [sup("legal")], FRESH, "news", "suppressed-legal"),
    (
        "later-unsubscribe-beats-doi",
        [sup("unsubscribe", index=40)],
        FRESH,
        "news",
        "suppressed-unsubscribe",
    ),
    (
        "first-unlifted-by-ledger-order",
        [sup("legal", index=25), sup("unsubscribe", index=22)],
        FRESH,
        "news",
        "suppressed-legal",
    ),
    (
        "earliest-unlifted-reported",
        [sup("manual", index=25), sup("complaint", index=21)],
        {},
        "news",
        "suppressed-complaint",
    ),
    (
        "suppressed-with-no-consent",
        [sup("unsubscribe")],
        {"list_id": "other"},
        "news",
        "suppressed-unsubscribe",
    ),
]


@pytest.mark.parametrize(
    ("sups", "changes", "list_id", "expected"),
    [r[1:] for r in SUPPRESSION_ROWS],
    ids=[r[0] for r in SUPPRESSION_ROWS],
)
def test_suppression_beats_consent(
    sups: list[Suppression], changes: dict[str, Any], list_id: str, expected: str
) -> None:
    s = state(record(**changes), OLD_OFFERS, suppressions=sups)
    assert_decision(decide(s, ctx(list_id=list_id)), expected)


SERVICE_ROWS = [
    ("unsubscribe", "service-message"),
    ("withdrawal", "service-message"),
    ("complaint", "suppressed-complaint"),
    ("hard-bounce", "suppressed-hard-bounce"),
    ("manual", "suppressed-manual"),
    ("legal", "suppressed-legal"),
    ("erasure", "suppressed-erasure"),
]


@pytest.mark.parametrize(("reason", "expected"), SERVICE_ROWS, ids=[r for r, _ in SERVICE_ROWS])
def test_service_mail_ignores_only_marketing_objections(reason: str, expected: str) -> None:
    s = state(record(status=ConsentStatus.WITHDRAWN), suppressions=[sup(reason)])
    assert_decision(decide(s, ctx(template="service")), expected)
    assert decide(s, ctx(template="service", promotional=True)).reason == f"suppressed-{reason}"


SERVICE_RELATIONSHIP_ROWS = [
    (s, "no-relationship" if s is ConsentStatus.INVALIDATED else "service-message")
    for s in ConsentStatus
]


@pytest.mark.parametrize(
    ("status", "expected"), SERVICE_RELATIONSHIP_ROWS, ids=[s.value for s in ConsentStatus]
)
def test_service_needs_a_relationship(status: ConsentStatus, expected: str) -> None:
    d = decide(state(record(status=status, grant=12, justifying=None)), ctx(template="service"))
    assert_decision(d, expected)
    if d.allowed:
        assert (d.basis, d.justifying and d.justifying.index) == ("service", 12)


def test_service_to_another_list_has_no_relationship() -> None:
    d = decide(state(record("news")), ctx(template="service", list_id="offers"))
    assert_decision(d, "no-relationship")


def test_erased_subject_denied_until_signed_up_again() -> None:
    s = state(record(status=ConsentStatus.INVALIDATED), suppressions=[sup("erasure")])
    assert_decision(decide(s, ctx()), "suppressed-erasure")
    again = state(record(**FRESH), suppressions=[sup("erasure")])
    assert_decision(decide(again, ctx()), "consent-given")
