"""What the audit reads out of the leaves it streams: decisions, handoffs, objections and
campaigns as small values, and the quick byte tests that let it skip the leaves it does not need.

Leaves are canonical JSON (docs/ledger-format.md), so a kind or a campaign name appears in a
leaf's bytes exactly as ``"kind":"send-decided"`` or ``"campaign":"spring"``: a substring test
rejects most leaves without parsing them. Campaign and list names are ``[a-z0-9._-]``, so they
need no escaping.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from consentry.domain.leaves import parse_time
from consentry.domain.state import GLOBAL_SCOPE

#: Leaf kinds that object to mail for a subject: withdrawals, suppressions, erasures.
OBJECTION_KINDS: Final = frozenset({"consent-withdrawn", "suppressed", "subject-erased"})
#: Kinds whose projection changes the policy reads (``domain.state.changes_for``).
STATE_KINDS: Final = frozenset(
    {"consent-given", "consent-requested", "consent-confirmed", "organisation-configured"}
    | OBJECTION_KINDS
)
#: Outcomes after which the message may be in the recipient's mailbox.
DELIVERED_OUTCOMES: Final = frozenset({"accepted", "uncertain"})
#: The dispatcher's promise (docs/dispatch.md, invariant 3): an objection committed at time t
#: stops every message not handed off by t + 1 s.
GRACE_SECONDS: Final = 1.0

_KIND = b'"kind":"'
intern = sys.intern


def kind_of(raw: bytes) -> bytes:
    """The kind of a canonical leaf, read from its bytes (empty when it has none)."""
    start = raw.find(_KIND)
    if start < 0:
        return b""
    start += len(_KIND)
    return bytes(raw[start : raw.find(b'"', start)])


def field_marker(name: str, value: str) -> bytes:
    """The bytes ``"name":"value"`` as a canonical leaf spells them (value needs no escaping)."""
    return f'"{name}":"{value}"'.encode()


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    """A campaign as its ``campaign-created`` leaf records it. The campaign flags that only the
    specification holds (product category, sole charitable purpose) are None when unknown (an
    offline replay has the leaves only)."""

    name: str
    list_id: str
    template_class: str
    jurisdiction: str
    index: int
    product_category: str | None = None
    sole_purpose_charitable: bool | None = None


# Decisions, handoffs and rows are made a million times per pack: plain slotted classes (a frozen
# dataclass sets each field through object.__setattr__, twice as slow). Treat them as read-only.


@dataclass(slots=True)
class DecisionLeaf:
    seq: int
    at: datetime
    campaign: str
    message: str
    subject: str
    template_class: str
    allowed: bool
    reason: str
    basis: str | None
    justifying_index: int | None
    justifying_hash: str | None
    ruleset: str
    jurisdiction: str
    checked_size: int
    attempt: int


@dataclass(slots=True)
class HandoffLeaf:
    seq: int
    at: datetime
    campaign: str
    message: str
    subject: str
    decision: int
    outcome: str
    code: int | None
    stage: str
    reply: str | None


@dataclass(frozen=True, slots=True)
class Objection:
    """A withdrawal (scope: its list, or ``*`` for every list), a suppression or an erasure."""

    seq: int
    at: datetime
    kind: str
    scope: str
    reason: str


def leaf_time(text: str) -> datetime:
    """A leaf time; the strict check (``parse_time``) where the bytes are not the store's."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return parse_time(text)


def shared(value: Any) -> Any:
    """One string object for every equal value (``sys.intern``): a million leaves repeat the same
    subject refs, reasons, bases and list names, and each parse makes new strings."""
    return intern(value) if type(value) is str else value


def decision_of(seq: int, obj: dict[str, Any]) -> DecisionLeaf:
    return DecisionLeaf(
        seq=seq, at=leaf_time(obj["at"]), campaign=intern(obj["campaign"]),
        message=obj["message"], subject=intern(obj["subject"]),
        template_class=intern(obj["template_class"]), allowed=obj["allowed"],
        reason=intern(obj["reason"]), basis=shared(obj["basis"]),
        justifying_index=obj["justifying_index"], justifying_hash=obj["justifying_hash"],
        ruleset=intern(obj["ruleset"]), jurisdiction=intern(obj["jurisdiction"]),
        checked_size=obj["checked_size"], attempt=obj["attempt"],
    )  # fmt: skip


def handoff_of(seq: int, obj: dict[str, Any]) -> HandoffLeaf:
    return HandoffLeaf(
        seq=seq, at=leaf_time(obj["at"]), campaign=intern(obj["campaign"]),
        message=obj["message"], subject=intern(obj["subject"]), decision=obj["decision"],
        outcome=intern(obj["outcome"]), code=obj["code"], stage=intern(obj["stage"]),
        reply=obj["reply"],
    )  # fmt: skip


def objection_of(seq: int, obj: dict[str, Any]) -> Objection:
    kind = obj["kind"]
    at = leaf_time(obj["at"])
    if kind == "consent-withdrawn":
        return Objection(seq, at, kind, obj["list"] or "*", "withdrawal")
    if kind == "suppressed":
        return Objection(seq, at, kind, obj["scope"], obj["reason"])
    return Objection(seq, at, kind, "*", "erasure")


def campaign_of(seq: int, obj: dict[str, Any]) -> CampaignInfo:
    return CampaignInfo(
        obj["campaign"], obj["list"], obj["template_class"], obj["jurisdiction"], seq
    )


def objects_to(objection: Objection, list_id: str, marketing: bool) -> bool:
    """Does this objection stop a message of this list and class? Service mail is not stopped
    by an unsubscribe or a withdrawal (they object to marketing), as in ``domain.policy``."""
    if objection.scope not in ("*", list_id):
        return False
    return marketing or objection.reason not in ("unsubscribe", "withdrawal")


def list_markers(list_id: str) -> dict[bytes, tuple[bytes, ...]]:
    """Per state kind, the byte markers of which one must be present for the list to matter."""
    mine = field_marker("list", list_id)
    return {
        b"consent-given": (mine,),
        b"consent-requested": (mine,),
        b"consent-confirmed": (mine,),
        b"consent-withdrawn": (mine, b'"list":null'),
        b"suppressed": (field_marker("scope", list_id), field_marker("scope", GLOBAL_SCOPE)),
    }


def relevant(kind: bytes, raw: bytes, markers: dict[bytes, tuple[bytes, ...]]) -> bool:
    wanted = markers.get(kind)
    return wanted is None or any(marker in raw for marker in wanted)
