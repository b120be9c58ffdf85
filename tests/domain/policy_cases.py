"""Builders shared by the policy and profile tests: short, explicit, all defaults lawful."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from consentry.domain.policy import SendContext
from consentry.domain.profiles import (
    Basis,
    Jurisdiction,
    Organisation,
    OrganisationType,
    TemplateClass,
    configure_organisation,
)
from consentry.domain.state import (
    GLOBAL_SCOPE,
    ConsentRecord,
    ConsentStatus,
    LeafRef,
    SubjectState,
    Suppression,
    SuppressionReason,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GIVEN_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
EVIDENCE = "e" * 64
ALL_FACTS: Mapping[str, Any] = {
    "sale_or_negotiation": True,
    "refusal_offered": True,
    "charitable_interest": True,
    "product_category": "books",
}


def ref(index: int) -> LeafRef:
    return LeafRef(index, f"{index:064x}")


def at(text: str) -> datetime:
    """``2026-01-31`` or ``2026-01-31T10:00`` as an aware UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def org(
    type: str = "commercial",
    soft: Sequence[str] | None = None,
    products: Sequence[str] = ("books",),
    jurisdiction: str = "uk",
    max_age_days: Mapping[str, int | None] | None = None,
) -> Organisation:
    """A validated organisation; by default every soft opt-in its type may lawfully enable."""
    if soft is None:
        soft = {
            "commercial": ("uk_soft_optin_commercial", "eu_soft_optin"),
            "charity": ("uk_soft_optin_charity",),
            "political-party": (),
        }[type]
    return configure_organisation("Example Ltd", type, jurisdiction, soft, products, max_age_days)


def raw_org(type: str, soft: Sequence[str], products: Sequence[str] = ("books",)) -> Organisation:
    """An organisation built without validation, as a bug or a tampered store could."""
    return Organisation(
        controller="Rogue",
        type=OrganisationType(type),
        jurisdiction=Jurisdiction.UK,
        soft_opt_in=frozenset(Basis(b) for b in soft),
        similar_products=frozenset(products),
    )


def record(
    list_id: str = "news",
    *,
    status: ConsentStatus = ConsentStatus.GIVEN,
    basis: str = "consent",
    jurisdiction: str = "uk",
    source: str = "first-party",
    evidence: str | None = EVIDENCE,
    given_at: datetime = GIVEN_AT,
    valid_until: datetime | None = None,
    confirmed: bool = False,
    grant: int = 10,
    justifying: int | None = -1,
    facts: Mapping[str, Any] | None = None,
) -> ConsentRecord:
    """A consent record; ``justifying=-1`` means "the grant itself"."""
    just = ref(grant) if justifying == -1 else (None if justifying is None else ref(justifying))
    return ConsentRecord(
        list_id=list_id,
        status=status,
        basis=basis,
        jurisdiction=jurisdiction,
        method="web-form",
        source=source,
        notice="n" * 64,
        evidence=evidence,
        given_at=given_at,
        valid_until=valid_until,
        confirmed=confirmed,
        grant=ref(grant),
        justifying=just,
        changed=just or ref(grant),
        facts=dict(ALL_FACTS if facts is None else facts),
    )


def sup(reason: str, index: int = 20, scope: str = GLOBAL_SCOPE) -> Suppression:
    return Suppression(scope, SuppressionReason(reason), ref(index), NOW)


def state(*records: ConsentRecord, suppressions: Sequence[Suppression] = ()) -> SubjectState:
    return SubjectState(
        subject="s" * 64,
        consents={r.list_id: r for r in records},
        suppressions=tuple(suppressions),
    )


def ctx(
    organisation: Organisation | None = None,
    *,
    list_id: str = "news",
    template: str = "marketing",
    jurisdiction: str = "uk",
    now: datetime = NOW,
    ledger_size: int = 100,
    ledger_last_at: datetime | None = None,
    product_category: str | None = "books",
    sole_purpose_charitable: bool = True,
    promotional: bool = False,
) -> SendContext:
    return SendContext(
        list_id=list_id,
        template_class=TemplateClass(template),
        organisation=organisation if organisation is not None else org(),
        jurisdiction=Jurisdiction(jurisdiction),
        now=now,
        ledger_size=ledger_size,
        ledger_last_at=ledger_last_at,
        product_category=product_category,
        sole_purpose_charitable=sole_purpose_charitable,
        promotional=promotional,
    )


#: Basis x jurisdiction x organisation type, with every fact and campaign flag favourable and a
#: fresh consent: what each cell allows (its allow reason) or "-" (basis-forbidden). Shared by the
#: grant-time test (check_grant) and the send-time test (decide), which must agree.
MATRIX = """
basis                    jur commercial              charity                 political-party
consent                  uk  consent-given           consent-given           consent-given
consent                  eu  consent-given           consent-given           consent-given
consent                  ca  consent-given           consent-given           consent-given
consent                  us  consent-given           consent-given           consent-given
uk_soft_optin_commercial uk  soft-opt-in-commercial  -                       -
uk_soft_optin_commercial eu  -                       -                       -
uk_soft_optin_commercial ca  -                       -                       -
uk_soft_optin_commercial us  -                       -                       -
uk_soft_optin_charity    uk  -                       soft-opt-in-charity     -
uk_soft_optin_charity    eu  -                       -                       -
uk_soft_optin_charity    ca  -                       -                       -
uk_soft_optin_charity    us  -                       -                       -
eu_soft_optin            uk  -                       -                       -
eu_soft_optin            eu  soft-opt-in-eu          -                       -
eu_soft_optin            ca  -                       -                       -
eu_soft_optin            us  -                       -                       -
ca_express               uk  -                       -                       -
ca_express               eu  -                       -                       -
ca_express               ca  consent-given           consent-given           consent-given
ca_express               us  -                       -                       -
ca_implied_ebr_purchase  uk  -                       -                       -
ca_implied_ebr_purchase  eu  -                       -                       -
ca_implied_ebr_purchase  ca  ca-implied-ebr-purchase ca-implied-ebr-purchase ca-implied-ebr-purchase
ca_implied_ebr_purchase  us  -                       -                       -
ca_implied_ebr_inquiry   uk  -                       -                       -
ca_implied_ebr_inquiry   eu  -                       -                       -
ca_implied_ebr_inquiry   ca  ca-implied-ebr-inquiry  ca-implied-ebr-inquiry  ca-implied-ebr-inquiry
ca_implied_ebr_inquiry   us  -                       -                       -
ca_implied_nbr           uk  -                       -                       -
ca_implied_nbr           eu  -                       -                       -
ca_implied_nbr           ca  -                       ca-implied-nbr          ca-implied-nbr
ca_implied_nbr           us  -                       -                       -
us_optout                uk  -                       -                       -
us_optout                eu  -                       -                       -
us_optout                ca  -                       -                       -
us_optout                us  us-opt-out              us-opt-out              us-opt-out
"""


def matrix_cells() -> list[tuple[str, str, str, str]]:
    """(organisation type, jurisdiction, basis, expected reason or "-") for all 108 cells."""
    lines = MATRIX.strip().splitlines()
    types = lines[0].split()[2:]
    cells: list[tuple[str, str, str, str]] = []
    for line in lines[1:]:
        basis, jur, *expected = line.split()
        cells.extend((t, jur, basis, e) for t, e in zip(types, expected, strict=True))
    return cells
