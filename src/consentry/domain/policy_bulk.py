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

:func:`decide_rows` is the same idea one step earlier, for audiences read straight from a store:
the store returns one flat row per subject (:data:`ROW_COLUMNS`), the key is a slice of that row
(with a suppression in scope described as the shape describes it), and a state is built only for
the first row of each key. A *complex* row (more than one suppression in the list's scope, or no
record on the list) is decided from the full state the store loads, through :func:`decide_many`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from consentry.domain.errors import InvalidLeaf
from consentry.domain.leaves import canonical_json, format_time, parse_time
from consentry.domain.policy import Decision, SendContext, decide
from consentry.domain.state import (
    GLOBAL_SCOPE,
    ConsentRecord,
    ConsentStatus,
    LeafRef,
    SubjectState,
    Suppression,
    SuppressionReason,
)

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
    states: Iterable[tuple[str, SubjectState | None]],
    ctx: SendContext,
    memo: dict[Hashable, Decision] | None = None,
) -> Iterator[tuple[str, Decision]]:
    """``(subject, decide(state, ctx))`` for each ``(subject, state)``, deciding once per shape
    (``memo``, when given, is kept across calls with the same ``ctx``)."""
    if memo is None:
        memo = {}
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


# --- audiences read as rows ---------------------------------------------------------------------

#: The columns of an audience row, in order, as ``Store.audience_rows`` returns them. ``given_day``
#: is the first ten characters of ``given_at`` and ``given_ok`` says that ``given_at`` has the one
#: spelling the store writes (``format_time``) with an hour, minute and second in range; together
#: with the day (which a state build checks) a key holds the UTC day that the policy counts.
#: ``no_evidence`` and ``no_justifying`` are the presence tests the policy makes. The ``sup_``
#: columns describe the subject's one suppression in the list's scope (all null when it has
#: none): its reason, whether it is global, and whether the record's grant and justifying leaves
#: come after it (what the lifting rule compares). ``complex`` is true for a subject with more
#: than one suppression in scope or without a record on the list.
ROW_COLUMNS: Final = (
    "subject", "status", "basis", "jurisdiction", "source", "no_evidence", "given_day",
    "given_ok", "valid_until", "confirmed", "no_justifying", "facts",
    "sup_reason", "sup_global", "sup_grant_after", "sup_justifying_after",
    "given_at", "grant_index", "grant_hash", "justifying_index", "justifying_hash", "sup_index",
    "complex",
)  # fmt: skip
_KEY: Final = slice(1, 16)  # status .. sup_justifying_after: all the policy reads, as stored
_GRANT: Final = 17
_JUSTIFYING: Final = 19
_COMPLEX: Final = 22
_GIVEN_OK: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}Z\Z", re.ASCII
)
_NO_FACTS: Final[Mapping[str, Any]] = MappingProxyType({})
_STATUS: Final = {s.value: s for s in ConsentStatus}
_REASON: Final = {r.value: r for r in SuppressionReason}
_PLACEHOLDER_AT: Final = datetime(1970, 1, 1, tzinfo=UTC)

AudienceRow = Sequence[Any]


def given_ok(text: str) -> bool:
    """What a store's ``given_ok`` column says of a stored ``given_at``."""
    return _GIVEN_OK.match(text) is not None


def row_of(subject: str, state: SubjectState | None, list_id: str) -> AudienceRow | None:
    """The audience row of one subject, as a store without SQL builds it (and the reference that
    the SQL stores' rows are tested against); None for a subject the store does not know."""
    if state is None:
        return None
    record = state.consents.get(list_id)
    scoped = [s for s in state.suppressions if s.scope in (GLOBAL_SCOPE, list_id)]
    if record is None:
        return (subject, *([None] * (len(ROW_COLUMNS) - 2)), True)
    given_at = format_time(record.given_at)
    just = record.justifying
    sup = scoped[0] if len(scoped) == 1 else None
    return (
        subject, record.status.value, record.basis, record.jurisdiction, record.source,
        record.evidence is None, given_at[:10], given_ok(given_at),
        None if record.valid_until is None else format_time(record.valid_until),
        record.confirmed, just is None,
        canonical_json(dict(record.facts)).decode("utf-8") if record.facts else "{}",
        None if sup is None else sup.reason.value,
        None if sup is None else sup.scope == GLOBAL_SCOPE,
        None if sup is None else record.grant.index > sup.leaf.index,
        None if sup is None else just is not None and just.index > sup.leaf.index,
        given_at, record.grant.index, record.grant.hash,
        None if just is None else just.index, None if just is None else just.hash,
        None if sup is None else sup.leaf.index, len(scoped) > 1,
    )  # fmt: skip


def _malformed(subject: str, list_id: str) -> InvalidLeaf:
    return InvalidLeaf(f"consent record of {subject} on {list_id!r} is malformed in the store")


def _state_of_row(row: AudienceRow, list_id: str) -> SubjectState:
    """A state that ``decide`` judges as it judges the subject's real one: the fields the policy
    does not read (method, notice, the evidence's hash, the changed leaf, the record id, the
    suppression's hash and time) hold placeholders. Raises :class:`InvalidLeaf` on a value the
    store did not write (fail closed)."""
    (subject, status, basis, jurisdiction, source, no_evidence, given_day, ok, valid_until,
     confirmed, no_justifying, facts, sup_reason, sup_global, sup_grant_after, sup_just_after,
     given_at, grant_index, grant_hash, just_index, just_hash, sup_index,
     _) = row[: len(ROW_COLUMNS)]  # fmt: skip
    at = parse_time(given_at)
    if not ok or given_at[:10] != given_day or status not in _STATUS:
        raise _malformed(subject, list_id)
    if bool(no_justifying) != (just_index is None):
        raise _malformed(subject, list_id)
    grant = LeafRef(int(grant_index), grant_hash)
    just = None if just_index is None else LeafRef(int(just_index), just_hash)
    sups: tuple[Suppression, ...] = ()
    if sup_reason is not None:
        if sup_reason not in _REASON or sup_index is None:
            raise _malformed(subject, list_id)
        leaf = LeafRef(int(sup_index), "")
        if bool(sup_grant_after) != (grant.index > leaf.index) or bool(sup_just_after) != (
            just is not None and just.index > leaf.index
        ):
            raise _malformed(subject, list_id)
        scope = GLOBAL_SCOPE if sup_global else list_id
        sups = (Suppression(scope, _REASON[sup_reason], leaf, _PLACEHOLDER_AT),)
    record = ConsentRecord(
        list_id, _STATUS[status], basis, jurisdiction, "", source, "",
        None if no_evidence else "<evidence>", at,
        None if valid_until is None else parse_time(valid_until), bool(confirmed), grant, just,
        grant, _NO_FACTS if facts == "{}" else json.loads(facts),
    )  # fmt: skip
    return SubjectState(subject, {list_id: record}, sups)


def decide_rows(
    chunks: Iterable[tuple[Sequence[str], Sequence[AudienceRow]]],
    ctx: SendContext,
    load: Callable[[Sequence[str]], Mapping[str, SubjectState]],
) -> Iterator[tuple[str, Decision]]:
    """``(subject, decide(state, ctx))`` for each subject of each ``(subjects, rows)`` chunk, in
    the chunk's order, from the rows a store read for those subjects (any order, one per known
    subject). Complex rows are decided from the states ``load`` returns for them."""
    memo: dict[Hashable, Decision] = {}
    shapes: dict[Hashable, Decision] = {}
    list_id = ctx.list_id
    for subjects, rows in chunks:
        found = {row[0]: row for row in rows}
        hard = [s for s, row in found.items() if row[_COMPLEX]]
        states = load(hard) if hard else {}
        for subject in subjects:
            row = found.get(subject)
            if row is None or row[_COMPLEX]:
                state = None if row is None else states.get(subject)
                yield from decide_many(((subject, state),), ctx, shapes)
                continue
            key = row[_KEY]
            template = memo.get(key)
            if template is None:
                template = decide(_state_of_row(row, list_id), ctx)
                if len(memo) < _MAX_MEMO:
                    memo[key] = template
            if not template.allowed:
                yield subject, template
                continue
            at = _GRANT if template.reason == "service-message" else _JUSTIFYING
            leaf = LeafRef(int(row[at]), row[at + 1])
            yield subject, Decision(
                True, template.reason, template.basis, leaf, template.ruleset,
                template.jurisdiction, template.template_class, template.ledger_size,
            )  # fmt: skip
