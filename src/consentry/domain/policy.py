"""The send policy: may this message go to this subject now, and on what ground?

:func:`decide` is pure and total: it never raises, and anything it does not expect denies with a
reason code (invariant 9). Every allow names the ledger leaf that justifies it (invariant 2).
The rules, in the order they are applied:

1. ``ledger_last_at`` is after ``now``: deny ``clock-regressed``.
2. No state: deny ``unknown-subject``.
3. A service template with promotional content is marketing (ICO; R16).
4. Suppressions in scope (global or this list) deny ``suppressed-<reason>``; for service mail an
   unsubscribe or withdrawal does not apply. Only a liftable reason is lifted, and only by this
   list's consent when it is given, confirmed by double opt-in, granted and justified after the
   suppression, and not imported (invariant 3; R12).
5. Service mail needs a relationship: a consent record for the list that is not invalidated.
6. Marketing needs a given consent with evidence, before its ``valid_until``.
7. The basis must be lawful in the recipient's jurisdiction and for this organisation.
8. The basis's own conditions and time limits. ``consent`` ages out by its source type
   (``Organisation.max_age_days``, whole UTC days; an unknown source denies ``unknown-source``)
   except in CA, where it is express consent like ``ca_express`` and never ages out. All three
   soft opt-ins age out by the first-party maximum from the last transaction
   (``facts.transaction_at``, else ``given_at``). CASL implied consent holds while the send day
   is at most 24 (inquiry: 6) calendar months after the last transaction.
9. The justifying leaf must be known. A naive time or malformed facts deny ``policy-error``.

The subject's ``erased`` flag is not consulted: erasure leaves a global ``erasure`` suppression,
which denies until the person signs up again with double opt-in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, NamedTuple

from consentry.domain.business_days import utc_date
from consentry.domain.errors import ProfileError
from consentry.domain.profiles import (
    CASL_IMPLIED_BASES,
    CHARITY_SOFT_OPT_IN_FROM,
    PRODUCT_SOFT_OPT_INS,
    RULESET_VERSION,
    SOFT_OPT_IN_FACTS,
    Basis,
    Jurisdiction,
    Organisation,
    TemplateClass,
    basis_refusal,
    casl_window_end,
    reference_time,
    source_type,
)
from consentry.domain.state import (
    GLOBAL_SCOPE,
    LIFTABLE,
    ConsentRecord,
    ConsentStatus,
    LeafRef,
    SubjectState,
    Suppression,
    SuppressionReason,
)

#: Suppressions that object to marketing only; service mail still goes.
MARKETING_OBJECTIONS: Final = frozenset(
    {SuppressionReason.UNSUBSCRIBE, SuppressionReason.WITHDRAWAL}
)

DENY_REASONS: Final = frozenset(
    {
        "clock-regressed",
        "unknown-subject",
        "no-relationship",
        "no-consent",
        "missing-evidence",
        "consent-expired",
        "basis-forbidden",
        "soft-opt-in-conditions-unmet",
        "unknown-source",
        "no-justifying-leaf",
        "policy-error",
    }
    | {f"suppressed-{r.value}" for r in SuppressionReason}
    | {f"consent-{s.value}" for s in ConsentStatus if s is not ConsentStatus.GIVEN}
)
_ALLOW_REASON: Final = {
    Basis.CONSENT: "consent-given",
    Basis.CA_EXPRESS: "consent-given",
    Basis.UK_SOFT_OPTIN_COMMERCIAL: "soft-opt-in-commercial",
    Basis.UK_SOFT_OPTIN_CHARITY: "soft-opt-in-charity",
    Basis.EU_SOFT_OPTIN: "soft-opt-in-eu",
    Basis.CA_IMPLIED_EBR_PURCHASE: "ca-implied-ebr-purchase",
    Basis.CA_IMPLIED_EBR_INQUIRY: "ca-implied-ebr-inquiry",
    Basis.CA_IMPLIED_NBR: "ca-implied-nbr",
    Basis.US_OPTOUT: "us-opt-out",
}
ALLOW_REASONS: Final = frozenset({"service-message", *_ALLOW_REASON.values()})


@dataclass(frozen=True)
class SendContext:
    """One message to decide: the list, the template, the sender, the recipient's jurisdiction,
    the time, and the ledger position the state was read at."""

    list_id: str
    template_class: TemplateClass
    organisation: Organisation
    jurisdiction: Jurisdiction
    now: datetime
    ledger_size: int
    ledger_last_at: datetime | None
    product_category: str | None = None
    sole_purpose_charitable: bool = False
    promotional: bool = False

    @property
    def effective_class(self) -> TemplateClass:
        """Marketing when the template is, or when it carries promotional content (R16)."""
        if self.promotional or TemplateClass(self.template_class) is TemplateClass.MARKETING:
            return TemplateClass.MARKETING
        return TemplateClass.SERVICE


class Decision(NamedTuple):
    """The outcome, with what invariant 2 asks a decision to record. ``template_class`` is the
    effective class (a promotional service template is recorded as marketing).

    A named tuple rather than a frozen dataclass: a bulk decision makes one per subject, and a
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost about 3 us of
    each, as much as reading the subject's row; a tuple is made in a fraction of that."""

    allowed: bool
    reason: str
    basis: str | None
    justifying: LeafRef | None
    ruleset: str
    jurisdiction: str
    template_class: str
    ledger_size: int

    def to_json(self) -> dict[str, Any]:
        ref = self.justifying
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "basis": self.basis,
            "justifying": None if ref is None else {"index": ref.index, "hash": ref.hash},
            "ruleset": self.ruleset,
            "jurisdiction": self.jurisdiction,
            "template_class": self.template_class,
            "ledger_size": self.ledger_size,
        }


def _lifted(sup: Suppression, record: ConsentRecord | None) -> bool:
    """A newer, double-opt-in-confirmed, non-imported consent for this list lifts a liftable one."""
    return (
        sup.reason in LIFTABLE
        and record is not None
        and record.status == ConsentStatus.GIVEN
        and record.confirmed is True
        and record.justifying is not None
        and record.grant.index > sup.leaf.index
        and record.justifying.index > sup.leaf.index
        and not record.source.startswith("import:")
    )


def in_force(sup: Suppression, record: ConsentRecord | None) -> bool:
    """Whether a suppression still holds, given the subject's consent record for its list (a
    newer double-opt-in consent may have lifted a liftable one)."""
    return not _lifted(sup, record)


def _suppressed(state: SubjectState, ctx: SendContext, marketing: bool) -> str | None:
    record = state.consents.get(ctx.list_id)
    for sup in sorted(state.suppressions, key=lambda s: s.leaf.index):
        reason = SuppressionReason(sup.reason)
        if sup.scope not in (GLOBAL_SCOPE, ctx.list_id):
            continue
        if not marketing and reason in MARKETING_OBJECTIONS:
            continue
        if not _lifted(sup, record):
            return f"suppressed-{reason.value}"
    return None


def _within_age(org: Organisation, kind: str, since: datetime, now: datetime) -> bool:
    """Whole UTC calendar days from ``since`` to ``now`` at most the profile's maximum."""
    limit = org.max_age_days[kind]
    return limit is None or (utc_date(now) - utc_date(since)).days <= limit


def _basis_reason(record: ConsentRecord, basis: Basis, ctx: SendContext) -> str:
    """The allow reason if the basis's own conditions hold now, else the deny reason."""
    org, facts, now = ctx.organisation, record.facts, ctx.now
    if basis is Basis.CONSENT and ctx.jurisdiction is not Jurisdiction.CA:
        try:
            kind = source_type(record.source)
        except ProfileError:
            return "unknown-source"
        if kind not in org.max_age_days:
            return "unknown-source"
        if not _within_age(org, kind, record.given_at, now):
            return "consent-expired"
    elif basis in SOFT_OPT_IN_FACTS:
        met = all(facts.get(key) is True for key in SOFT_OPT_IN_FACTS[basis])
        if basis in PRODUCT_SOFT_OPT_INS:
            met = met and ctx.product_category in org.similar_products
        else:
            since = utc_date(record.given_at)
            met = met and ctx.sole_purpose_charitable is True and since >= CHARITY_SOFT_OPT_IN_FROM
        if not met:
            return "soft-opt-in-conditions-unmet"
        if not _within_age(org, "first-party", reference_time(facts, record.given_at), now):
            return "consent-expired"
    elif basis in CASL_IMPLIED_BASES:
        reference = utc_date(reference_time(facts, record.given_at))
        if utc_date(now) > casl_window_end(basis, reference):
            return "consent-expired"
    return _ALLOW_REASON[basis]


def _marketing(record: ConsentRecord | None, ctx: SendContext) -> tuple[str, str | None]:
    """(reason, basis) for a marketing message."""
    if record is None:
        return "no-consent", None
    status = ConsentStatus(record.status)
    if status is not ConsentStatus.GIVEN:
        return f"consent-{status.value}", record.basis
    if record.evidence is None:
        return "missing-evidence", record.basis
    if record.valid_until is not None and ctx.now >= record.valid_until:
        return "consent-expired", record.basis
    if record.basis not in Basis._value2member_map_:
        return "basis-forbidden", record.basis
    basis = Basis(record.basis)
    if basis_refusal(ctx.organisation, basis, ctx.jurisdiction, record.facts) is not None:
        return "basis-forbidden", record.basis
    reason = _basis_reason(record, basis, ctx)
    if reason in ALLOW_REASONS and record.justifying is None:
        return "no-justifying-leaf", record.basis
    return reason, record.basis


def _decide(state: SubjectState | None, ctx: SendContext) -> Decision:
    if type(ctx.jurisdiction) is not Jurisdiction:
        ctx = replace(ctx, jurisdiction=Jurisdiction(ctx.jurisdiction))
    klass = ctx.effective_class
    jurisdiction = ctx.jurisdiction

    def result(reason: str, basis: str | None = None, ref: LeafRef | None = None) -> Decision:
        allowed = reason in ALLOW_REASONS and ref is not None
        if reason in ALLOW_REASONS and ref is None:
            reason = "no-justifying-leaf"
        return Decision(
            allowed=allowed,
            reason=reason,
            basis=basis,
            justifying=ref if allowed else None,
            ruleset=RULESET_VERSION,
            jurisdiction=jurisdiction.value,
            template_class=klass.value,
            ledger_size=ctx.ledger_size,
        )

    utc_date(ctx.now)  # an aware time, or a policy-error
    if ctx.ledger_last_at is not None and ctx.now < ctx.ledger_last_at:
        return result("clock-regressed")
    if state is None:
        return result("unknown-subject")
    marketing = klass is TemplateClass.MARKETING
    suppressed = _suppressed(state, ctx, marketing)
    if suppressed is not None:
        return result(suppressed)
    record = state.consents.get(ctx.list_id)
    if not marketing:
        if record is None or ConsentStatus(record.status) is ConsentStatus.INVALIDATED:
            return result("no-relationship")
        return result("service-message", "service", record.grant)
    reason, basis = _marketing(record, ctx)
    if reason in ALLOW_REASONS and record is not None:
        return result(reason, basis, record.justifying)
    return result(reason, basis)


def decide(state: SubjectState | None, ctx: SendContext) -> Decision:
    """Decide one message. Never raises: anything unexpected denies with ``policy-error``."""
    try:
        return _decide(state, ctx)
    except Exception:
        return Decision(
            allowed=False,
            reason="policy-error",
            basis=None,
            justifying=None,
            ruleset=RULESET_VERSION,
            jurisdiction=str(getattr(ctx, "jurisdiction", "")),
            template_class=str(getattr(ctx, "template_class", "")),
            ledger_size=size if isinstance(size := getattr(ctx, "ledger_size", -1), int) else -1,
        )
