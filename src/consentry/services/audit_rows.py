"""The audit's results, one value per decision: the replay's verdict, a send that came after an
objection, and the row joining a decision with its handoff. Plus two helpers every streaming
audit uses: the RFC 9162 leaf hash and a pause of the cyclic garbage collector.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from consentry.domain.state import ConsentRecord
from consentry.services.audit_leaves import (
    DELIVERED_OUTCOMES,
    DecisionLeaf,
    HandoffLeaf,
    Objection,
)


@dataclass(slots=True)
class Verdict:
    """The replay of one decision. ``problem`` is None when an allow was justified at decision
    time (a deny is always lawful: its problem is None too); otherwise a reason code: the
    replayed deny reason (``no-consent``, ``consent-withdrawn``, ``suppressed-unsubscribe``,
    ``consent-expired``, ``basis-forbidden`` ...) or one of ``no-justifying-leaf``,
    ``justifying-leaf-mismatch``, ``basis-mismatch``, ``unknown-campaign``,
    ``no-organisation``, ``checked-size-after-decision``, ``ruleset-not-replayable``."""

    problem: str | None
    replayed: str
    record: ConsentRecord | None


@dataclass(frozen=True, slots=True)
class LateSend:
    """A handoff and an objection of its recipient committed before the handoff was recorded.
    ``proven``: the objection was in the state the decision read, or committed more than the
    grace before the decision (so before the handoff could start); otherwise the handoff window
    (decision to record) straddles the end of the grace and the ledger cannot tell."""

    proven: bool
    objection: Objection


@dataclass(slots=True)
class Row:
    """One decision with the handoff that names it, or a handoff that names no decision."""

    decision: DecisionLeaf | None
    verdict: Verdict | None
    handoff: HandoffLeaf | None = None
    #: ``no-decision``, ``decision-denied``, ``duplicate-handoff`` or ``decision-mismatch``.
    handoff_problem: str | None = None
    late: LateSend | None = None

    @property
    def delivered(self) -> bool:
        return self.handoff is not None and self.handoff.outcome in DELIVERED_OUTCOMES

    @property
    def problem(self) -> str | None:
        """Why this row's handoff (or allow) was not valid, or None."""
        if self.handoff_problem is not None:
            return self.handoff_problem
        d, verdict = self.decision, self.verdict
        if d is not None and d.allowed and verdict is not None and verdict.problem is not None:
            return verdict.problem
        if self.late is not None and self.late.proven:
            return "sent-after-objection"
        return None

    @property
    def validly_sent(self) -> bool:
        return self.delivered and self.problem is None and self.decision is not None


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a pack streams: a million small acyclic values
    (consent records, decisions) make its full collections a fifth of the time, and nothing
    here builds cycles. The previous setting comes back after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def leaf_hash_of(raw: bytes) -> bytes:
    """RFC 9162 leaf hash of a leaf's bytes."""
    return hashlib.sha256(b"\x00" + raw).digest()
