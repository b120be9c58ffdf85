"""Rows of the SQL projections to domain values and back; shared by the SQL stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from consentry.domain.leaves import canonical_json, format_time_cached, parse_time
from consentry.domain.state import (
    AddSuppression,
    Change,
    ConfirmConsent,
    ConsentRecord,
    ConsentStatus,
    EndConsents,
    LeafRef,
    MarkErased,
    PutConsent,
    PutList,
    PutNotice,
    Suppression,
    SuppressionReason,
)

_STATUS: Final = {s.value: s for s in ConsentStatus}
_REASON: Final = {r.value: r for r in SuppressionReason}
_NO_FACTS: Final[Mapping[str, Any]] = MappingProxyType({})


def consent_from_row(row: Sequence[Any]) -> tuple[str, ConsentRecord]:
    (subject, list_id, status, basis, jurisdiction, method, source, notice, evidence, given_at,
     valid_until, confirmed, grant_index, grant_hash, just_index, just_hash, changed_index,
     changed_hash, facts, record_id) = row  # fmt: skip
    # Positional, in ConsentRecord's field order: this runs once per subject of an audience.
    record = ConsentRecord(
        list_id,
        _STATUS[status],
        basis,
        jurisdiction,
        method,
        source,
        notice,
        evidence,
        _time(given_at),
        _time(valid_until) if valid_until else None,
        bool(confirmed),
        LeafRef(grant_index, grant_hash),
        LeafRef(just_index, just_hash) if just_index is not None else None,
        LeafRef(changed_index, changed_hash),
        _NO_FACTS if facts == "{}" else json.loads(facts),
        record_id,
    )
    return subject, record


def _time(text: str) -> datetime:
    """A time this store wrote (RFC 3339 UTC); a value that is not one raises (fail closed)."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is not UTC:
        return parse_time(text)  # raises with the precise message
    return at


def suppression_from_row(row: Sequence[Any]) -> tuple[str, Suppression]:
    subject, leaf_index, scope, reason, leaf_hash, at = row
    sup = Suppression(scope, _REASON[reason], LeafRef(int(leaf_index), leaf_hash),
                      parse_time(at))  # fmt: skip
    return subject, sup


def change_statement(change: Change, sid: Callable[[str], int]) -> tuple[str, tuple[Any, ...]]:
    """The named query and parameters that apply one projection change; ``sid`` maps a subject
    ref to its dense id."""
    if isinstance(change, PutConsent):
        r = change.record
        just = r.justifying
        return "put_consent", (
            sid(change.subject), change.subject, r.list_id, r.status.value, r.basis,
            r.jurisdiction, r.method, r.source, r.notice, r.evidence,
            format_time_cached(r.given_at),
            format_time_cached(r.valid_until) if r.valid_until else None, r.confirmed,
            r.grant.index, r.grant.hash, just.index if just else None, just.hash if just else None,
            r.changed.index, r.changed.hash,
            canonical_json(dict(r.facts)).decode("utf-8") if r.facts else "{}",
            r.record,
        )  # fmt: skip
    if isinstance(change, ConfirmConsent):
        ref = change.leaf
        return "confirm_consent", (
            True, ref.index, ref.hash, ref.index, ref.hash,
            sid(change.subject), change.list_id, change.record,
        )  # fmt: skip
    if isinstance(change, EndConsents):
        ref = change.leaf
        if change.list_id is None:
            return "end_consent_all", (
                change.status.value,
                ref.index,
                ref.hash,
                sid(change.subject),
            )
        return "end_consent_list", (
            change.status.value, ref.index, ref.hash, sid(change.subject), change.list_id,
        )  # fmt: skip
    if isinstance(change, AddSuppression):
        s = change.suppression
        return "add_suppression", (
            sid(change.subject), s.leaf.index, s.scope, s.reason.value, s.leaf.hash,
            format_time_cached(s.at),
        )  # fmt: skip
    if isinstance(change, MarkErased):
        return "mark_erased", (sid(change.subject),)
    if isinstance(change, PutList):
        return "put_list", (change.list_id, change.purpose, change.leaf.index, change.leaf.hash)
    if isinstance(change, PutNotice):
        return "put_notice", (
            change.notice, change.list_id, change.version, change.language,
            change.leaf.index, change.leaf.hash,
        )  # fmt: skip
    settings = canonical_json(dict(change.settings)).decode("utf-8")
    return "put_organisation", (settings, change.leaf.index, change.leaf.hash)


#: The one projection table each change statement writes (none reads another table).
_TABLE_OF = {
    "put_consent": 0, "confirm_consent": 0, "end_consent_list": 0, "end_consent_all": 0,
    "add_suppression": 1, "mark_erased": 2, "put_list": 3, "put_notice": 4,
    "put_organisation": 5,
}  # fmt: skip


def statement_runs(
    changes: Sequence[Change], sid: Callable[[str], int]
) -> list[tuple[str, list[tuple[Any, ...]], bool]]:
    """The statements that apply ``changes`` (in ledger order), as runs of one statement each,
    so that each run can go to the database as one array statement: ``(name, rows, first)``,
    ``first`` when no run before it writes the table for any of its subjects.

    Statements on different tables commute (none reads another table), and so do statements
    about different subjects (each touches only its own subject's rows). So each table's
    statements go in rounds: every subject's first statement, then every subject's second, and
    so on, each round grouped by statement. A subject's own statements keep their order, and so
    do those about no subject (lists, notices, the organisation). A batch of grants that are
    each confirmed is two runs, not one per leaf."""
    tables: dict[int, list[dict[str, list[tuple[Any, ...]]]]] = {}
    seen: dict[tuple[int, str | None], int] = {}
    for change in changes:
        name, params = change_statement(change, sid)
        table = _TABLE_OF[name]
        key = (table, change_subject(change))
        k = seen.get(key, 0)
        seen[key] = k + 1
        rounds = tables.setdefault(table, [])
        if k == len(rounds):
            rounds.append({})
        rounds[k].setdefault(name, []).append(params)
    return [
        (name, rows, k == 0)
        for table in sorted(tables)
        for k, round_ in enumerate(tables[table])
        for name, rows in round_.items()
    ]


def change_subject(change: Change) -> str | None:
    """The subject ref a projection change is about, if any."""
    subject = getattr(change, "subject", None)
    return subject if isinstance(subject, str) else None
