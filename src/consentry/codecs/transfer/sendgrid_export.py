"""What consentry writes for SendGrid, whose API creates only global and group unsubscribes
(bounces, blocks, spam reports and invalid emails are GET/DELETE only; every time becomes
"now"), and the requests file read back.

* ``sendgrid-unsubscribes-csv``: one ``email`` column, the CSV the UI's global unsubscribes
  upload takes [U: the upload's exact columns are not documented where we looked; the API
  takes addresses only]; every suppression becomes a global unsubscribe (other states and list
  scopes are widenings, counted).
* ``sendgrid-asm-requests-jsonl``: one API request per line, ``{"method": "POST", "path":
  "/v3/asm/suppressions/global" | "/v3/asm/groups/{group_id}/suppressions", "group_name":
  <list>, "body": {"recipient_emails": [...]}}`` (at most 500 addresses a request; the API
  states no limit). A list's unsubscribes go to the group of that name (replace
  ``{group_id}`` with the SendGrid group's id; SendGrid puts suppressions for a group that does
  not exist in the global list); every other suppression goes to the global list, counted as a
  widening. Read back as unsubscribes (group: scope ``group`` named by the list).

Consents are never written: SendGrid's suppression lists hold none.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.suppression_io import (
    head_text,
    json_lines,
    not_utf8,
    parts,
    raw_json,
    scalar,
)
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)

PROVIDER = "sendgrid"
ACCOUNT = Scope("account")
BATCH = 500
GLOBAL_PATH = "/v3/asm/suppressions/global"
GROUP_PATH = "/v3/asm/groups/{group_id}/suppressions"


class RequestsReader:
    """``sendgrid-asm-requests-jsonl`` (what the writer of that name wrote), read back."""

    name = f"{PROVIDER}-asm-requests-jsonl"
    provider = PROVIDER
    description = "SendGrid unsubscribe API requests, one per line (consentry's export)"

    def sniff(self, source: Source) -> int:
        first = head_text(source, 4096).split("\n", 1)[0]
        return 90 if '"recipient_emails"' in first and '"/v3/asm/' in first else 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for item in json_lines(stream, label):
                    if isinstance(item, RejectedRow):
                        yield item
                    else:
                        yield from self._request(*item, label)

    def _request(self, number: int, value: object, label: str) -> Iterator[Item]:
        body = value.get("body") if isinstance(value, dict) else None
        emails = body.get("recipient_emails") if isinstance(body, dict) else None
        if not isinstance(value, dict) or not isinstance(emails, list):
            yield RejectedRow(label, number, "no body.recipient_emails array", raw_json(value))
            return
        path = scalar(value.get("path"))
        if path == GLOBAL_PATH:
            scope, original = ACCOUNT, "global unsubscribe"
        elif path.startswith("/v3/asm/groups/") and path.endswith("/suppressions"):
            group_id = path.split("/")[4]
            name = scalar(value.get("group_name")) or None
            scope = Scope("group", None if group_id == "{group_id}" else group_id, name)
            original = "group unsubscribe"
        else:
            yield RejectedRow(label, number, f"'path' value {path!r} is not an ASM path")
            return
        for email in emails:
            if not isinstance(email, str) or "@" not in email or not_utf8(email):
                yield RejectedRow(label, number, f"recipient {email!r} is not an address")
                continue
            yield TransferRecord(
                email=email.strip(), state=State.UNSUBSCRIBED, scope=scope, file=label,
                line=number, original_status=original,
            )  # fmt: skip


def _widen(report: ExportReport, record: ExportRecord, target: str) -> None:
    if record.state is not State.UNSUBSCRIBED:
        report.widen(f"{record.state.value} -> {target} (SendGrid cannot create it)")
    if record.scope is not None and target == "global unsubscribe":
        report.widen(f"list-scoped {record.state.value} -> {target}")


def _drop(report: ExportReport, record: ExportRecord) -> None:
    report.drop(f"{record.state.value} (SendGrid suppression lists hold no consent)")


class UnsubscribesCSVWriter:
    name = f"{PROVIDER}-unsubscribes-csv"
    provider = PROVIDER
    description = "SendGrid global unsubscribes upload (CSV, one email column): every suppression"
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(["email"])
        for record in records:
            if record.state not in SUPPRESSING:
                _drop(report, record)
                continue
            _widen(report, record, "global unsubscribe")
            writer.writerow([record.email])
            report.written += 1
        text.flush()
        text.detach()
        return report


class RequestsWriter:
    name = f"{PROVIDER}-asm-requests-jsonl"
    provider = PROVIDER
    description = (
        "SendGrid unsubscribe API requests, one per line: list unsubscribes to their group, "
        "every other suppression to the global list"
    )
    suffix = ".jsonl"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        pending: dict[str | None, list[str]] = {}
        for record in records:
            if record.state not in SUPPRESSING:
                _drop(report, record)
                continue
            group = record.scope if record.state is State.UNSUBSCRIBED else None
            _widen(report, record, "group unsubscribe" if group else "global unsubscribe")
            batch = pending.setdefault(group, [])
            batch.append(record.email)
            report.written += 1
            if len(batch) >= BATCH:
                out.write(_request(group, batch))
                batch.clear()
        for group, batch in pending.items():
            if batch:
                out.write(_request(group, batch))
        return report


def _request(group: str | None, emails: list[str]) -> bytes:
    path = GLOBAL_PATH if group is None else GROUP_PATH
    line: dict[str, object] = {"method": "POST", "path": path}
    if group is not None:
        line["group_name"] = group
    line["body"] = {"recipient_emails": list(emails)}
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


WRITERS: list[UnsubscribesCSVWriter | RequestsWriter] = [UnsubscribesCSVWriter(), RequestsWriter()]
