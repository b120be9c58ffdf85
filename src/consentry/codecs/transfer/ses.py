"""Amazon SES (API v2) suppressions: the account-level suppression list and its bulk-import
files, read and written; the registry's entry for SES (notifications: ``ses_notifications``).

Sources: the SES API v2 reference (``ListSuppressedDestinations``,
``SuppressedDestinationSummary``: ``EmailAddress``, ``Reason`` ``BOUNCE|COMPLAINT``,
``LastUpdateTime``) [V]; the SES developer guide "Using the account-level suppression list"
(bulk add with ``CreateImportJob``: CSV lines ``recipient1@example.com,BOUNCE`` with no header,
the second example with a space after the comma; newline-delimited JSON
``{"emailAddress": ..., "reason": ...}``; at most 100,000 addresses per S3 object; SES
suppresses an address only for the reasons the account's suppression settings name) [S, read
through a mirror of the page]; the SNS notification contents and examples (see
``codecs.webhooks.ses``, whose pure parsers are reused here unchanged) [V].

Readers:

* ``ses-suppressed-destinations-json``: ``ListSuppressedDestinations`` output (the API's
  ``{"SuppressedDestinationSummaries": [...], "NextToken": ...}``, or ``aws sesv2
  list-suppressed-destinations``, which pages it into one document), streamed; several pages
  may follow one another. ``BOUNCE``: hard-bounced; ``COMPLAINT``: complained; anything else is
  rejected by record. ``LastUpdateTime`` as Unix seconds (the wire) or ISO 8601 (the CLI).
* ``ses-import-csv`` (with or without a header line) and ``ses-import-jsonl``: the bulk-import
  files, the same two reasons.
* ``ses-sns-jsonl``: bounce and complaint notifications, one per line (``ses_notifications``).

Every scope is ``region``: SES keeps one suppression list per account and AWS Region, neither
named in the files.

Writers (``CreateImportJob`` files, action PUT): ``ses-import-csv`` (no header, as in the
documentation's example) and ``ses-import-jsonl``. SES takes only ``BOUNCE`` and
``COMPLAINT``. Decision (esp-formats.md §3.2): an unsubscribe or a manual suppression is
written as ``COMPLAINT``, the reason closest to "the recipient objected" and the one read back
as the most restrictive state (complained); each is counted as a widening. A list-scoped
suppression becomes account-wide (widening). The account's suppression settings must include
COMPLAINT, or SES will still send to those addresses; ``LastUpdateTime`` becomes the import
time. Consents are not written. Split files above 100,000 lines before uploading.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO

from consentry.codecs.transfer.ses_notifications import (
    PROVIDER,
    REGION,
    Actor,
    NotificationsReader,
)
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.suppression_io import (
    csv_rows,
    head_text,
    json_elements,
    json_lines,
    not_utf8,
    parts,
    printable,
    raw_json,
    scalar,
    time_note,
)
from consentry.codecs.transfer.times import parse_time
from consentry.domain.errors import InputError
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    State,
    TimeValue,
    TransferRecord,
)

REASONS = {"BOUNCE": State.HARD_BOUNCED, "COMPLAINT": State.COMPLAINED}
SUMMARIES = "SuppressedDestinationSummaries"
_ACTORS: dict[str, Actor] = {"BOUNCE": "system", "COMPLAINT": "recipient"}
_HEADERLESS = re.compile(r'\s*"?[^,"\s]+@[^,"\s]+"?\s*,\s*"?([A-Za-z]+)"?\s*$')
_EMAIL_NAMES = ("emailaddress", "email", "email address", "address")


def _reason_record(
    email: str, reason: str, label: str, line: int, raw: str, occurred: TimeValue | None = None
) -> Item:
    if not email:
        return RejectedRow(label, line, "no email address", raw)
    if "@" not in email:
        return RejectedRow(label, line, f"email address {email!r} is not an address", raw)
    state = REASONS.get(reason.strip().upper())
    if state is None:
        return RejectedRow(label, line, f"reason {reason!r} is not BOUNCE or COMPLAINT", raw)
    return TransferRecord(
        email=email, state=state, scope=REGION, file=label, line=line,
        original_status=reason.strip().upper(), occurred=occurred,
        actor=_ACTORS[reason.strip().upper()],
    )  # fmt: skip


class SuppressedDestinationsReader:
    name = "ses-suppressed-destinations-json"
    provider = PROVIDER
    description = "Amazon SES account suppression list (ListSuppressedDestinations JSON)"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 4096).lstrip()
        return 95 if text.startswith("{") and f'"{SUMMARIES}"' in text else 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for item in json_elements(stream, label, SUMMARIES, self.name):
                    if isinstance(item, RejectedRow):
                        yield item
                    else:
                        yield self._summary(*item, label)

    def _summary(self, number: int, value: object, label: str) -> Item:
        raw = raw_json(value)
        bad = not_utf8(value)
        if bad:
            return RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw)
        if not isinstance(value, dict):
            return RejectedRow(label, number, "the summary is not a JSON object", raw)
        when = scalar(value.get("LastUpdateTime"))
        occurred = parse_time(when)
        email, reason = scalar(value.get("EmailAddress")), scalar(value.get("Reason"))
        record = _reason_record(email, reason, label, number, raw, occurred)
        attributes = value.get("Attributes")
        if isinstance(record, TransferRecord):
            evidence = time_note("LastUpdateTime", occurred)
            if isinstance(attributes, dict):
                evidence.update({
                    k: scalar(attributes.get(v))
                    for k, v in (("message_id", "MessageId"), ("feedback_id", "FeedbackId"))
                    if scalar(attributes.get(v))
                })  # fmt: skip
            record = _with_evidence(record, evidence)
        return record


def _with_evidence(record: TransferRecord, evidence: Mapping[str, str]) -> TransferRecord:
    if not evidence:
        return record
    return TransferRecord(
        email=record.email, state=record.state, scope=record.scope, file=record.file,
        line=record.line, original_status=record.original_status, occurred=record.occurred,
        actor=record.actor, evidence={**record.evidence, **evidence}, review=record.review,
    )  # fmt: skip


class ImportCSVReader:
    name = "ses-import-csv"
    provider = PROVIDER
    description = "Amazon SES suppression list bulk-import CSV (email,BOUNCE|COMPLAINT)"

    def sniff(self, source: Source) -> int:
        lines = head_text(source, 4096).splitlines()
        if not lines:
            return 0
        first = lines[0]
        found = _HEADERLESS.match(first)
        if found and found.group(1).upper() in REASONS:
            return 90
        names = [n.strip().strip('"').lower() for n in first.split(",")]
        if _is_header(first) and len(names) == 2 and names[0] in _EMAIL_NAMES:
            second = _HEADERLESS.match(lines[1]) if len(lines) > 1 else None
            return 85 if second and second.group(1).upper() in REASONS else 50
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            first = self._first_line(source, member)
            if not first.strip():
                continue  # an empty import file: nothing to suppress
            headerless = not _is_header(first)
            if headerless and len(next(csv.reader([first]), [])) != 2:
                raise InputError(
                    f"{label}: not a {self.name} file: line 1 is neither a header naming "
                    "'reason' nor an address and a reason"
                )
            with source.open(member) as stream:
                header = b"email,reason\n" if headerless else b""
                rows = csv_rows(stream, label, ("reason",), self.name, header)
                for row in rows:
                    if isinstance(row, RejectedRow):
                        yield _shifted(row, headerless)
                        continue
                    line = row.line - 1 if headerless else row.line
                    email = row.first(*_EMAIL_NAMES)
                    raw = printable(",".join(row.values))
                    yield _reason_record(email, row.first("reason"), label, line, raw)

    @staticmethod
    def _first_line(source: Source, member: str | None) -> str:
        head = source.head(member, 4096).decode("utf-8", "replace").lstrip("\ufeff")
        return head.splitlines()[0] if head.strip() else ""


def _is_header(line: str) -> bool:
    """A header line names the reason column; without one, the first line is a record."""
    names = [n.strip().strip('"').lower() for n in line.split(",")]
    return len(names) >= 2 and "reason" in names


def _shifted(row: RejectedRow, headerless: bool) -> RejectedRow:
    if not headerless:
        return row
    return RejectedRow(row.file, row.line - 1, row.reason, row.raw)


class ImportJSONLReader:
    name = "ses-import-jsonl"
    provider = PROVIDER
    description = "Amazon SES suppression list bulk-import JSON Lines (emailAddress, reason)"

    def sniff(self, source: Source) -> int:
        first = head_text(source, 4096).split("\n", 1)[0]
        try:
            value = json.loads(first)
        except ValueError:
            return 0
        if isinstance(value, dict) and {"emailAddress", "reason"} <= value.keys():
            return 90
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for item in json_lines(stream, label):
                    if isinstance(item, RejectedRow):
                        yield item
                        continue
                    number, value = item
                    raw = raw_json(value)
                    bad = not_utf8(value)
                    if bad:
                        yield RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw)
                    elif not isinstance(value, dict):
                        yield RejectedRow(label, number, "the line is not a JSON object", raw)
                    else:
                        email = scalar(value.get("emailAddress"))
                        yield _reason_record(email, scalar(value.get("reason")), label, number, raw)


READERS: list[
    SuppressedDestinationsReader | ImportCSVReader | ImportJSONLReader | NotificationsReader
] = [SuppressedDestinationsReader(), ImportCSVReader(), ImportJSONLReader(), NotificationsReader()]


# ---------------------------------------------------------------------------- writing


def _reason_for(record: ExportRecord, report: ExportReport) -> str | None:
    """BOUNCE or COMPLAINT for a suppression (widenings counted); None for a consent."""
    if record.state not in SUPPRESSING:
        report.drop(f"{record.state.value} (the SES suppression list holds no consent)")
        return None
    if record.scope is not None:
        report.widen(f"list-scoped {record.state.value} -> account-wide (SES: account and region)")
    if record.state is State.HARD_BOUNCED:
        return "BOUNCE"
    if record.state is not State.COMPLAINED:
        report.widen(f"{record.state.value} -> COMPLAINT (SES has no unsubscribe reason)")
    return "COMPLAINT"


class ImportCSVWriter:
    name = "ses-import-csv"
    provider = PROVIDER
    description = "Amazon SES bulk-import CSV (email,BOUNCE|COMPLAINT; no header)"
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        for record in records:
            reason = _reason_for(record, report)
            if reason is not None:
                writer.writerow([record.email, reason])
                report.written += 1
        text.flush()
        text.detach()
        return report


class ImportJSONLWriter:
    name = "ses-import-jsonl"
    provider = PROVIDER
    description = "Amazon SES bulk-import JSON Lines ({emailAddress, reason})"
    suffix = ".jsonl"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        for record in records:
            reason = _reason_for(record, report)
            if reason is not None:
                line = {"emailAddress": record.email, "reason": reason}
                out.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
                report.written += 1
        return report


WRITERS: list[ImportCSVWriter | ImportJSONLWriter] = [ImportCSVWriter(), ImportJSONLWriter()]
