"""Importing a provider's export into the ledger (issue 5, R23-R26).

* The file is read twice, streaming, in constant memory whatever its size: first every
  suppression (unsubscribed, hard-bounced, complained, manually suppressed) is applied, then
  consents and pending confirmations. An import never lifts a suppression (the policy never lets
  an imported consent lift one) and never changes a record consentry already holds: a consent
  for someone who already has a record on the list is a duplicate.
* Scopes: a provider's account-wide scope is global; a list-like scope (audience, group,
  stream, tag, topic, domain...) goes to ``--list`` when one is given, and is otherwise
  **widened** to global, never dropped.
* Consents carry their evidence (opt-in and confirmation times and IPs, the file and the line)
  with ``source = import:<provider>`` and method ``import``. A row without opt-in evidence (or
  whose opt-in IP is 127.0.0.1: a bulk import, not an opt-in) is recorded with no evidence, so
  the policy denies marketing to it (``missing-evidence``). The consent's ``valid_until`` is the
  opt-in time plus the organisation's age-out for imported consent, so an import never makes
  an old consent young. The wording people saw at the old provider is unknown: unless
  ``--notice`` names a published one, the import publishes a notice saying exactly that.
* Junk rows are quarantined (``on_reject``) with the file, line and reason. Always
  ``read = applied + duplicate + rejected``; ``applied`` counts rows whose meaning was taken,
  including states that are not consent (``unknown``), which write nothing.
* The last leaf, ``import-recorded``, holds the file's SHA-256, the counts and the RFC 9162
  root over the applied records. ``dry_run`` decides everything and writes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from consentry.codecs.transfer.base import Reader
from consentry.codecs.transfer.registry import detect, reader
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.times import parse_time
from consentry.domain.errors import InputError
from consentry.domain.leaves import LeafDraft, format_time
from consentry.domain.merkle_core import StreamingRoot
from consentry.domain.state import GLOBAL_SCOPE, SubjectState, SuppressionReason
from consentry.domain.transfer import SUPPRESSING, RejectedRow, State, TransferRecord
from consentry.ports import AddressRow, Batch
from consentry.services.consent import (
    CHANNEL,
    evidence_blob,
    leaf_time,
    new_record_id,
    organisation,
    publish_notice,
    require_list,
    subject_for,
)
from consentry.services.context import Context
from consentry.services.ledger import append_sealed

BATCH = 2000
REPORTED_REJECTS = 1000
BULK_IMPORT_IP = "127.0.0.1"

_SUPPRESSION_REASON = {
    State.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBE,
    State.HARD_BOUNCED: SuppressionReason.HARD_BOUNCE,
    State.COMPLAINED: SuppressionReason.COMPLAINT,
    State.MANUALLY_SUPPRESSED: SuppressionReason.MANUAL,
}
#: Address-level states: the address itself is bad or objected to everything.
_ALWAYS_GLOBAL = frozenset({State.HARD_BOUNCED, State.COMPLAINED})


@dataclass
class ImportReport:
    """The reconciliation report of one import (``--json`` prints it)."""

    file: str
    format: str
    provider: str
    sha256: str
    list_id: str | None
    dry_run: bool
    read: int = 0
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    widened: Counter[str] = field(default_factory=Counter)
    evidence_less: int = 0
    review: int = 0
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    import_id: str = ""
    leaf_index: int | None = None
    root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "format": self.format, "provider": self.provider,
            "sha256": self.sha256, "list": self.list_id, "dry_run": self.dry_run,
            "read": self.read, "applied": self.applied, "duplicate": self.duplicate,
            "rejected": self.rejected, "by_state": dict(sorted(self.by_state.items())),
            "widened": dict(sorted(self.widened.items())), "evidence_less": self.evidence_less,
            "review": self.review, "rejected_rows": self.rejected_rows,
            "import": self.import_id, "leaf_index": self.leaf_index, "root": self.root,
        }  # fmt: skip


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Pending:
    record: TransferRecord
    subject: str
    address: AddressRow
    scope: str  # GLOBAL_SCOPE or a list
    key: bytes  # the record's identity in this import


class _Importer:
    def __init__(
        self, ctx: Context, codec: Reader, source: Source, report: ImportReport,
        list_id: str | None, notice: str | None, actor: str,
        on_reject: Callable[[RejectedRow], None] | None,
        on_progress: Callable[[int], None] | None,
    ) -> None:  # fmt: skip
        self.ctx, self.codec, self.source, self.report = ctx, codec, source, report
        self.list_id, self.notice, self.actor = list_id, notice, actor
        self.on_reject, self.on_progress = on_reject, on_progress
        self.seen: set[bytes] = set()
        self.root = StreamingRoot()
        self.org = organisation(ctx)
        days = self.org.max_age_days.get("import")
        self.max_age = timedelta(days=days) if days is not None else None  # None: never ages

    # --- reading ----------------------------------------------------------------------------------

    def _items(self, suppressions: bool) -> Iterator[TransferRecord]:
        for item in self.codec.read(self.source):
            if isinstance(item, RejectedRow):
                if suppressions:  # counted once, in the first pass
                    self._reject(item)
                continue
            if (item.state in SUPPRESSING) == suppressions:
                yield item

    def _reject(self, row: RejectedRow) -> None:
        self.report.read += 1
        self.report.rejected += 1
        if len(self.report.rejected_rows) < REPORTED_REJECTS:
            self.report.rejected_rows.append(
                {"file": row.file, "line": row.line, "reason": row.reason}
            )
        if self.on_reject is not None:
            self.on_reject(row)

    def run(self) -> None:
        for suppressions in (True, False):
            chunk: list[TransferRecord] = []
            for record in self._items(suppressions):
                chunk.append(record)
                if len(chunk) >= BATCH:
                    self._apply(chunk)
                    chunk = []
            if chunk:
                self._apply(chunk)

    # --- deciding ---------------------------------------------------------------------------------

    def _scope(self, record: TransferRecord) -> str:
        if record.state in _ALWAYS_GLOBAL or record.scope.is_global:
            return GLOBAL_SCOPE
        if self.list_id is not None:
            return self.list_id
        if record.state in SUPPRESSING:
            self.report.widened[f"{record.scope.kind} {record.state.value} -> global"] += 1
        return GLOBAL_SCOPE

    def _apply(self, records: Sequence[TransferRecord]) -> None:
        pending: list[_Pending] = []
        for record in records:
            try:
                address, subject = subject_for(self.ctx, record.email)
            except InputError as exc:
                self._reject(RejectedRow(record.file, record.line, str(exc), record.email[:200]))
                continue
            scope = self._scope(record)
            consent = record.state in (State.CONSENTED, State.PENDING)
            if consent and scope == GLOBAL_SCOPE:
                self._reject(RejectedRow(
                    record.file, record.line,
                    "a consent needs a list: give --list to import consents",
                ))  # fmt: skip
                continue
            self.report.read += 1
            key = hashlib.sha256(
                f"{address.canonical} {record.state.value} {scope}".encode()
            ).digest()
            pending.append(_Pending(
                record, subject, AddressRow(subject, address.literal, address.canonical),
                scope, key,
            ))  # fmt: skip
        states = self.ctx.store.subject_states(sorted({p.subject for p in pending}))
        batch = Batch()
        now = leaf_time(self.ctx)
        for item in pending:
            record = item.record
            if item.key in self.seen or _known(states.get(item.subject), item):
                self.report.duplicate += 1
                continue
            self.seen.add(item.key)
            self.report.applied += 1
            self.report.by_state[record.state.value] += 1
            if record.review:
                self.report.review += 1
            self.root.add(_entry(item))
            self._leaves(batch, item, now)
        if batch.leaves and not self.report.dry_run:
            append_sealed(self.ctx, batch)
        if self.on_progress is not None:
            self.on_progress(len(records))

    # --- writing ----------------------------------------------------------------------------------

    def _evidence(self, item: _Pending) -> tuple[dict[str, str], bool]:
        """The evidence items and whether they include a real opt-in."""
        record = item.record
        items = {
            "import": self.report.import_id, "file": record.file, "line": str(record.line),
            "status": record.original_status,
        }  # fmt: skip
        for key, value in record.evidence.items():
            if value:
                items[key] = str(value)[:500]
        if record.occurred is not None:
            items["occurred_raw"] = record.occurred.raw
            items["occurred_tz"] = record.occurred.assumption
            if record.occurred.at is not None:
                items["occurred_at"] = format_time(record.occurred.at)
        ip = record.evidence.get("optin_ip", "")
        real = bool(record.evidence.get("optin_time") or ip or record.evidence.get("confirm_ip"))
        if ip == BULK_IMPORT_IP:
            items["optin_ip_note"] = "127.0.0.1: a bulk import at the old provider, not an opt-in"
            real = bool(record.evidence.get("confirm_ip"))
        return items, real

    def _leaves(self, batch: Batch, item: _Pending, now: datetime) -> None:
        record = item.record
        items, real = self._evidence(item)
        source = f"import:{self.codec.provider}"
        batch.addresses.append(item.address)
        if record.state in SUPPRESSING:
            blob = evidence_blob(items, item.subject, now)
            batch.evidence.append(blob)
            batch.leaves.append(LeafDraft("suppressed", now, {
                "record": new_record_id(), "subject": item.subject, "scope": item.scope,
                "reason": _SUPPRESSION_REASON[record.state].value, "channel": CHANNEL,
                "actor": self.actor, "source": source, "evidence": blob.hash,
            }))  # fmt: skip
            return
        if record.state not in (State.CONSENTED, State.PENDING):
            return  # not consent (transactional, implicit, ...): nothing to write
        evidence = None
        if real:
            blob = evidence_blob(items, item.subject, now)
            batch.evidence.append(blob)
            evidence = blob.hash
        else:
            self.report.evidence_less += 1
        optin = _opt_in_time(record)
        valid_until = optin + self.max_age if optin and self.max_age else None
        record_id = new_record_id()
        kind = "consent-given" if record.state is State.CONSENTED else "consent-requested"
        assert self.notice is not None
        batch.leaves.append(LeafDraft(kind, now, {
            "record": record_id, "subject": item.subject, "controller": self.org.controller,
            "list": item.scope, "channel": CHANNEL, "basis": "consent",
            "jurisdiction": self.org.jurisdiction.value, "language": "en",
            "notice": self.notice, "form_version": None, "method": "import",
            "valid_until": format_time(valid_until) if valid_until else None,
            "actor": self.actor, "source": source, "evidence": evidence,
            "facts": {"imported_from": self.codec.provider, "evidence_less": not real},
        }))  # fmt: skip
        if record.state is State.CONSENTED and record.evidence.get("confirm_time") and real:
            batch.leaves.append(LeafDraft("consent-confirmed", now, {
                "record": new_record_id(), "subject": item.subject, "list": item.scope,
                "confirms": record_id, "method": "import", "evidence": evidence,
                "actor": self.actor,
            }))  # fmt: skip


def _opt_in_time(record: TransferRecord) -> datetime | None:
    for raw in (record.evidence.get("optin_time"), record.evidence.get("confirm_time")):
        parsed = parse_time(raw)
        if parsed is not None and parsed.at is not None:
            return parsed.at
    if record.occurred is not None and record.occurred.at is not None:
        return record.occurred.at
    return None


def _entry(item: _Pending) -> bytes:
    return f"{item.key.hex()} {item.record.state.value} {item.scope}".encode()


def _known(state: SubjectState | None, item: _Pending) -> bool:
    """The ledger already holds what this record would add."""
    if state is None:
        return False
    record = item.record
    if record.state in SUPPRESSING:
        reason = _SUPPRESSION_REASON[record.state]
        return any(
            s.reason == reason and s.scope in (GLOBAL_SCOPE, item.scope) for s in state.suppressions
        )
    return item.scope in state.consents  # never overwrite a record consentry holds


def import_file(
    ctx: Context,
    path: Path,
    *,
    format_name: str | None = None,
    list_id: str | None = None,
    notice: str | None = None,
    dry_run: bool = False,
    actor: str = "cli",
    on_reject: Callable[[RejectedRow], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import one provider file (see the module docstring); returns the report."""
    source = Source(path)
    try:
        codec = reader(format_name) if format_name else detect(source)
        if list_id is not None:
            require_list(ctx, list_id)
        report = ImportReport(
            source.name, codec.name, codec.provider, file_sha256(path), list_id, dry_run,
            import_id=uuid.uuid4().hex,
        )  # fmt: skip
        if notice is None and list_id is not None and not dry_run:
            notice = _import_notice(ctx, list_id, codec.provider, source.name, report.sha256)
        elif notice is None:
            notice = "0" * 64  # a dry run writes nothing
        importer = _Importer(ctx, codec, source, report, list_id, notice, actor, on_reject,
                             on_progress)  # fmt: skip
        importer.run()
        report.root = importer.root.root().hex()
        if not dry_run:
            counts = {
                "read": report.read, "applied": report.applied, "duplicate": report.duplicate,
                "rejected": report.rejected, **dict(report.by_state),
            }  # fmt: skip
            leaf = LeafDraft("import-recorded", leaf_time(ctx), {
                "import": report.import_id, "provider": codec.provider, "format": codec.name,
                "file": source.name[:200], "sha256": report.sha256, "list": list_id,
                "counts": counts, "records": importer.root.size, "root": report.root,
                "actor": actor,
            })  # fmt: skip
            report.leaf_index = append_sealed(ctx, Batch(leaves=[leaf])).refs[0].index
        assert report.read == report.applied + report.duplicate + report.rejected
        return report
    finally:
        source.close()


def _import_notice(ctx: Context, list_id: str, provider: str, name: str, sha256: str) -> str:
    text = (
        f"Consent imported from a {provider} export ({name}, SHA-256 {sha256}). The wording "
        "the person was shown when they signed up there is not known to consentry."
    )
    return publish_notice(ctx, list_id, text, "import").notice
