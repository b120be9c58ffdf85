"""Folded state: what the ledger says about each subject, as plain values.

State is a projection of the ledger (invariant 7). :func:`changes_for` turns one leaf into the
projection changes it causes; every store applies those same changes (the memory store through
:class:`Projection`, the SQL stores through their statements), and a rebuild replays them from
leaf 0. The policy (``domain.policy``) reads a :class:`SubjectState` and decides.

Consent statuses are the W3C DPV consent status set; only ``given`` lets mail go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from consentry.domain.leaves import Leaf, parse_time


class ConsentStatus(StrEnum):
    """W3C DPV consent statuses (dpv:ConsentGiven, ...); only GIVEN is valid for processing."""

    GIVEN = "given"
    REQUESTED = "requested"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"
    UNKNOWN = "unknown"


class SuppressionReason(StrEnum):
    UNSUBSCRIBE = "unsubscribe"
    WITHDRAWAL = "withdrawal"
    COMPLAINT = "complaint"
    HARD_BOUNCE = "hard-bounce"
    MANUAL = "manual"
    LEGAL = "legal"
    ERASURE = "erasure"


#: Reasons that a newer consent confirmed by double opt-in may lift, in that consent's list only.
#: Complaints, hard bounces, manual and legal suppressions need an operator; consentry never lifts
#: them on its own.
LIFTABLE: Final = frozenset(
    {SuppressionReason.UNSUBSCRIBE, SuppressionReason.WITHDRAWAL, SuppressionReason.ERASURE}
)
GLOBAL_SCOPE: Final = "*"
#: A confirmation turns these into a confirmed consent; a withdrawn or invalidated record stays so.
CONFIRMABLE: Final = frozenset({ConsentStatus.GIVEN, ConsentStatus.REQUESTED})
SUPPRESS_REASONS: Final = frozenset(r.value for r in SuppressionReason) - {"withdrawal", "erasure"}


@dataclass(frozen=True, slots=True)
class LeafRef:
    """A leaf named by its index and its Merkle leaf hash (hex)."""

    index: int
    hash: str


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The current consent of one subject for one list, with what the policy needs to judge it."""

    list_id: str
    status: ConsentStatus
    basis: str
    jurisdiction: str
    method: str
    source: str
    notice: str
    evidence: str | None
    given_at: datetime
    valid_until: datetime | None
    confirmed: bool
    grant: LeafRef
    justifying: LeafRef | None
    changed: LeafRef
    facts: Mapping[str, Any] = field(default_factory=dict)
    record: str = ""  # the grant's record id, which a consent-confirmed leaf names


@dataclass(frozen=True, slots=True)
class Suppression:
    scope: str
    reason: SuppressionReason
    leaf: LeafRef
    at: datetime


@dataclass(frozen=True, slots=True)
class SubjectState:
    subject: str
    consents: Mapping[str, ConsentRecord]
    suppressions: tuple[Suppression, ...]
    erased: bool = False


# --- projection changes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PutConsent:
    subject: str
    record: ConsentRecord


@dataclass(frozen=True, slots=True)
class ConfirmConsent:
    """Turns the record whose grant has record id ``record`` into a confirmed, given consent."""

    subject: str
    list_id: str
    record: str
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class EndConsents:
    """Sets the status of one list's consent (or all, ``list_id`` None) of a subject."""

    subject: str
    list_id: str | None
    status: ConsentStatus
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class AddSuppression:
    subject: str
    suppression: Suppression


@dataclass(frozen=True, slots=True)
class MarkErased:
    subject: str


@dataclass(frozen=True, slots=True)
class PutList:
    list_id: str
    purpose: str
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class PutNotice:
    notice: str
    list_id: str
    version: int
    language: str
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class PutOrganisation:
    settings: Mapping[str, Any]
    leaf: LeafRef


Change = (
    PutConsent
    | ConfirmConsent
    | EndConsents
    | AddSuppression
    | MarkErased
    | PutList
    | PutNotice
    | PutOrganisation
)


def _consent(leaf: Leaf, ref: LeafRef) -> ConsentRecord:
    f = leaf.fields
    given = leaf.kind == "consent-given"
    return ConsentRecord(
        list_id=f["list"],
        status=ConsentStatus.GIVEN if given else ConsentStatus.REQUESTED,
        basis=f["basis"],
        jurisdiction=f["jurisdiction"],
        method=f["method"],
        source=f["source"],
        notice=f["notice"],
        evidence=f["evidence"],
        given_at=leaf.at,
        valid_until=parse_time(f["valid_until"]) if f["valid_until"] else None,
        confirmed=False,
        grant=ref,
        justifying=ref if given else None,
        changed=ref,
        facts=dict(f["facts"]),
        record=f["record"],
    )


def changes_for(leaf: Leaf, ref: LeafRef) -> list[Change]:
    """The projection changes one leaf causes. Pure; the same for every store."""
    f = leaf.fields
    kind = leaf.kind
    if kind in ("consent-given", "consent-requested"):
        return [PutConsent(f["subject"], _consent(leaf, ref))]
    if kind == "consent-confirmed":
        return [ConfirmConsent(f["subject"], f["list"], f["confirms"], ref)]
    if kind == "consent-withdrawn":
        scope = f["list"] if f["list"] is not None else GLOBAL_SCOPE
        sup = Suppression(scope, SuppressionReason.WITHDRAWAL, ref, leaf.at)
        return [
            EndConsents(f["subject"], f["list"], ConsentStatus.WITHDRAWN, ref),
            AddSuppression(f["subject"], sup),
        ]
    if kind == "suppressed":
        sup = Suppression(f["scope"], SuppressionReason(f["reason"]), ref, leaf.at)
        return [AddSuppression(f["subject"], sup)]
    if kind == "subject-erased":
        sup = Suppression(GLOBAL_SCOPE, SuppressionReason.ERASURE, ref, leaf.at)
        return [
            EndConsents(f["subject"], None, ConsentStatus.INVALIDATED, ref),
            AddSuppression(f["subject"], sup),
            MarkErased(f["subject"]),
        ]
    if kind == "list-created":
        return [PutList(f["list"], f["purpose"], ref)]
    if kind == "notice-published":
        return [PutNotice(f["notice"], f["list"], f["version"], f["language"], ref)]
    if kind == "organisation-configured":
        return [PutOrganisation({k: v for k, v in f.items() if k != "actor"}, ref)]
    return []


def confirm(record: ConsentRecord, leaf: LeafRef) -> ConsentRecord:
    """A requested or given consent, confirmed by double opt-in at ``leaf``."""
    return replace(
        record, status=ConsentStatus.GIVEN, confirmed=True, justifying=leaf, changed=leaf
    )


def end(record: ConsentRecord, status: ConsentStatus, leaf: LeafRef) -> ConsentRecord:
    return replace(record, status=status, changed=leaf)


@dataclass
class Projection:
    """The whole projected state in memory: the reference that SQL projections must equal."""

    consents: dict[str, dict[str, ConsentRecord]] = field(default_factory=dict)
    suppressions: dict[str, list[Suppression]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    lists: dict[str, tuple[str, LeafRef]] = field(default_factory=dict)
    notices: dict[str, PutNotice] = field(default_factory=dict)
    organisation: dict[str, Any] | None = None

    def apply(self, change: Change) -> None:
        if isinstance(change, PutConsent):
            self.consents.setdefault(change.subject, {})[change.record.list_id] = change.record
        elif isinstance(change, ConfirmConsent):
            rec = self.consents.get(change.subject, {}).get(change.list_id)
            if rec is not None and rec.record == change.record and rec.status in CONFIRMABLE:
                self.consents[change.subject][change.list_id] = confirm(rec, change.leaf)
        elif isinstance(change, EndConsents):
            recs = self.consents.get(change.subject, {})
            for list_id, rec in list(recs.items()):
                if change.list_id is None or list_id == change.list_id:
                    recs[list_id] = end(rec, change.status, change.leaf)
        elif isinstance(change, AddSuppression):
            self.suppressions.setdefault(change.subject, []).append(change.suppression)
        elif isinstance(change, MarkErased):
            self.erased.add(change.subject)
        elif isinstance(change, PutList):
            self.lists[change.list_id] = (change.purpose, change.leaf)
        elif isinstance(change, PutNotice):
            self.notices[change.notice] = change
        else:
            self.organisation = dict(change.settings)

    def apply_leaf(self, leaf: Leaf, ref: LeafRef) -> None:
        for change in changes_for(leaf, ref):
            self.apply(change)

    def subject_state(self, subject: str) -> SubjectState | None:
        if subject not in self.consents and subject not in self.suppressions:
            return None
        return SubjectState(
            subject=subject,
            consents=dict(self.consents.get(subject, {})),
            suppressions=tuple(self.suppressions.get(subject, [])),
            erased=subject in self.erased,
        )
