"""Decisions for a whole audience: :func:`decide` once per distinct *shape* of state.

A campaign's audience of a million subjects has few distinct shapes: the same basis, status,
source, day of consent and suppression pattern recur. :func:`decide_many` computes a key that
holds everything :func:`consentry.domain.policy.decide` reads from a state, decides once per key,
and re-uses that decision with each subject's own justifying leaf. :func:`decide` stays the
reference: ``tests/domain/test_policy_bulk.py`` holds the two equal on random states.

What the key holds, and why that is all ``decide`` reads:

* of the consent record for the context's list (other lists are never read): status, basis,
  jurisdiction, source, whether evidence is present, the UTC day and zone of ``given_at`` (the
  policy counts whole days), ``valid_until`` exactly, ``confirmed``, whether a justifying leaf
  exists, and the facts;
* of each suppression in scope, in ledger order: its reason and scope, and how the record's grant
  and justifying leaves compare with it (the lifting rule compares indexes, nothing else).

The subject ref and the leaf refs are not in the key; they are copied into the result.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from consentry.domain.policy import Decision, SendContext, decide
from consentry.domain.state import GLOBAL_SCOPE, ConsentRecord, SubjectState

_MAX_MEMO = 50_000


def _frozen(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return (type(value).__name__, value)


def _day(at: datetime) -> tuple[Any, ...]:
    if at.tzinfo is UTC:
        return (UTC, at.date())
    return (at.tzinfo, at.date() if at.tzinfo is None else at.utctimetuple()[:3])


def shape(state: SubjectState | None, list_id: str) -> Hashable:
    """Everything ``decide`` reads from ``state`` for a message on ``list_id``."""
    if state is None:
        return None
    record = state.consents.get(list_id)
    sups = (
        tuple(
            (
                s.reason,
                s.scope,
                record is not None and record.grant.index > s.leaf.index,
                record is not None
                and record.justifying is not None
                and record.justifying.index > s.leaf.index,
            )
            for s in sorted(state.suppressions, key=lambda s: s.leaf.index)
            if s.scope == GLOBAL_SCOPE or s.scope == list_id
        )
        if state.suppressions
        else ()
    )
    if record is None:
        return ("no-record", sups)
    return (
        record.status,
        record.basis,
        record.jurisdiction,
        record.source,
        record.evidence is None,
        _day(record.given_at),
        record.valid_until,
        record.confirmed,
        record.justifying is None,
        _frozen(dict(record.facts)) if record.facts else (),
        sups,
    )


def _with_leaf(template: Decision, record: ConsentRecord | None) -> Decision:
    if not template.allowed or record is None:
        return template
    leaf = record.grant if template.reason == "service-message" else record.justifying
    return Decision(
        allowed=True,
        reason=template.reason,
        basis=template.basis,
        justifying=leaf,
        ruleset=template.ruleset,
        jurisdiction=template.jurisdiction,
        template_class=template.template_class,
        ledger_size=template.ledger_size,
    )


def decide_many(
    states: Iterable[tuple[str, SubjectState | None]], ctx: SendContext
) -> Iterator[tuple[str, Decision]]:
    """``(subject, decide(state, ctx))`` for each ``(subject, state)``, deciding once per shape."""
    memo: dict[Hashable, Decision] = {}
    list_id = ctx.list_id
    for subject, state in states:
        try:
            key = shape(state, list_id)
            hash(key)
        except Exception:  # an unhashable or odd state: decide it directly
            yield subject, decide(state, ctx)
            continue
        template = memo.get(key)
        if template is None:
            template = decide(state, ctx)
            if len(memo) < _MAX_MEMO:
                memo[key] = template
            yield subject, template
            continue
        record = state.consents.get(list_id) if state is not None else None
        yield subject, _with_leaf(template, record)
