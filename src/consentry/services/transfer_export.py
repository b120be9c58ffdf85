"""Exporting the ledger's state for another provider (issue 5, R25, esp-formats.md §3.2).

Suppressions go first, all of them that are in force (a suppression lifted by a newer
double-opt-in consent is not), then consents. With ``list_id``, only that list's consents and
the suppressions that apply to it (global or that list). Addresses of erased people are gone:
their suppressions stay in consentry (keyed by the subject ref) and are counted, not exported.
The codec widens what the target cannot represent and reports it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentry.codecs.transfer.registry import writer
from consentry.domain.policy import in_force
from consentry.domain.state import GLOBAL_SCOPE, ConsentStatus, SuppressionReason
from consentry.domain.transfer import ExportRecord, ExportReport, State
from consentry.services.consent import require_list
from consentry.services.context import Context

CHUNK = 2000
_STATE_OF = {
    SuppressionReason.UNSUBSCRIBE: State.UNSUBSCRIBED,
    SuppressionReason.WITHDRAWAL: State.UNSUBSCRIBED,
    SuppressionReason.COMPLAINT: State.COMPLAINED,
    SuppressionReason.HARD_BOUNCE: State.HARD_BOUNCED,
    SuppressionReason.MANUAL: State.MANUALLY_SUPPRESSED,
    SuppressionReason.LEGAL: State.MANUALLY_SUPPRESSED,
}


@dataclass
class ExportSummary:
    format: str
    file: str
    suppressions: int = 0
    consents: int = 0
    not_exported: Counter[str] = field(default_factory=Counter)
    report: ExportReport = field(default_factory=ExportReport)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "file": self.file, "suppressions": self.suppressions,
            "consents": self.consents, "written": self.report.written,
            "widened": dict(sorted(self.report.widened.items())),
            "dropped": dict(sorted(self.report.dropped.items())),
            "not_exported": dict(sorted(self.not_exported.items())),
        }  # fmt: skip


def export_records(
    ctx: Context, list_id: str | None, summary: ExportSummary
) -> Iterator[ExportRecord]:
    """What consentry holds, suppressions first, as export records."""
    subjects = ctx.store.suppressed_subjects()
    while chunk := [s for _, s in zip(range(CHUNK), subjects, strict=False)]:
        states = ctx.store.subject_states(chunk)
        for subject in chunk:
            state = states.get(subject)
            if state is None:
                continue
            wanted = [
                s for s in state.suppressions
                if (list_id is None or s.scope in (GLOBAL_SCOPE, list_id))
                and in_force(s, state.consents.get(s.scope))
            ]  # fmt: skip
            if not wanted:
                continue
            address = ctx.store.address(subject)
            if address is None:
                summary.not_exported["erased or without an address (kept in consentry)"] += len(
                    wanted
                )
                continue
            for sup in wanted:
                if sup.reason is SuppressionReason.ERASURE:
                    continue
                summary.suppressions += 1
                yield ExportRecord(
                    address.literal, _STATE_OF[SuppressionReason(sup.reason)],
                    None if sup.scope == GLOBAL_SCOPE else sup.scope, sup.at, sup.reason.value,
                )  # fmt: skip
    lists = [list_id] if list_id is not None else [li.list_id for li in ctx.store.lists()]
    for name in lists:
        for subject, state in ctx.store.list_states(name):
            record = state.consents.get(name)
            if record is None or ConsentStatus(record.status) is not ConsentStatus.GIVEN:
                continue
            if any(s.scope in (GLOBAL_SCOPE, name) and in_force(s, record)
                   for s in state.suppressions):  # fmt: skip
                continue
            address = ctx.store.address(subject)
            if address is None:
                continue
            summary.consents += 1
            evidence = {
                "given_at": record.given_at.isoformat(), "method": record.method,
                "source": record.source, "basis": record.basis,
                "confirmed": str(record.confirmed).lower(), "record": record.record,
            }  # fmt: skip
            yield ExportRecord(address.literal, State.CONSENTED, name, record.given_at,
                               "consent", evidence)  # fmt: skip


def export_file(
    ctx: Context, format_name: str, path: Path, list_id: str | None = None
) -> ExportSummary:
    """Write the export to ``path`` (through a temporary file renamed at the end, so a failed
    export leaves nothing that looks complete)."""
    codec = writer(format_name)
    if list_id is not None:
        require_list(ctx, list_id)
    summary = ExportSummary(codec.name, str(path))
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            summary.report = codec.write(export_records(ctx, list_id, summary), out)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return summary
