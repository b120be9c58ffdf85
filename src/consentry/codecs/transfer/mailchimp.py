"""Mailchimp (esp-formats.md §1.1): the audience export, read and written.

Read:

* ``mailchimp-audience-zip``: the export archive, current (``audience_export_<id>.zip`` holding
  ``subscribed_email_audience_export_<id>.csv`` and its ``unsubscribed_``, ``cleaned_`` and
  ``nonsubscribed_`` siblings, possibly in an ``audience_export_<id>/`` folder) or legacy
  (``members_export_<id>.zip`` with ``subscribed_members_export_<id>.csv`` ...).
* ``mailchimp-audience-csv``: one of those CSVs on its own.
* ``mailchimp-api-json``: Marketing API v3 members (``mailchimp_api``).

The status comes from the file name (there is no status column): a case-insensitive prefix,
longest first, tolerant of renamed files (``Subscribed Email Audience Export <id>.csv``); a
file whose name says nothing is placed by its columns (``UNSUB_TIME`` or ``CLEAN_TIME``) or
refused. The audience id in the name is the scope. Only ``Email Address`` is required; system
columns are read from their **last** occurrence (a merge field may carry a system column's name,
and merge fields come first); timestamps are naive (UTC assumed: the API's own times are UTC).

Write: Mailchimp's importer takes a CSV with an email column and applies one status, chosen in
the import, to every row (mailchimp.com/help "Format Guidelines for Your Import File": only the
email address is required, columns are matched to audience fields by hand; no status column is
documented). So each status has its own writer, and each holds **every** suppression so that no
file alone loses one (import one of them):

* ``mailchimp-unsubscribed-csv`` (the usual choice): unsubscribes as they are; complaints,
  manual and legal suppressions and hard bounces widened to unsubscribed (Mailchimp keeps no
  complaint flag, reason or time on import).
* ``mailchimp-cleaned-csv``: hard bounces as they are; every other suppression widened to
  cleaned, Mailchimp's strictest status (a cleaned contact receives nothing and cannot be
  edited, mailchimp.com/help/about-cleaned-contacts).

Consents are not written: the import cannot carry opt-in evidence (time, IP, confirmation), and
a subscribed import without it is exactly the evidence-less consent consentry exists to avoid;
they are counted as dropped. A file goes into one audience: a global suppression must be
imported into every audience (counted as a widening of scope, so the report says so).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

from consentry.codecs.transfer.mailchimp_api import MailchimpApiReader
from consentry.codecs.transfer.mailchimp_fields import (
    PROVIDER,
    STATES,
    Actor,
    audience,
    audience_id,
    clean,
    opt_in_evidence,
    put,
    slug,
    status_of_name,
    tags_text,
    unsubscribe_actor,
)
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.table import Row, header_of, read_rows, split_list
from consentry.codecs.transfer.times import parse_time
from consentry.domain.errors import InputError
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    State,
    TransferRecord,
)

EMAIL = "Email Address"
#: Columns only Mailchimp's export writes (sniffing).
SYSTEM_COLUMNS = frozenset({
    "member_rating", "optin_time", "optin_ip", "confirm_time", "confirm_ip", "leid", "euid",
    "last_changed", "unsub_time", "clean_time", "gmtoff", "dstoff",
})  # fmt: skip


class _Columns:
    """Where each column is in a file's header: the email column's first occurrence, a system
    column's last (merge fields with the same name come first). Built once per file."""

    def __init__(self, header: Sequence[str]) -> None:
        self.email = header.index("email address")
        self.last = {name: i for i, name in enumerate(header)}

    def get(self, values: Sequence[str], name: str) -> str:
        index = self.last.get(name)
        return clean(values[index]) if index is not None else ""


def _status_of_columns(header: list[str]) -> str | None:
    unsub, cleaned = "unsub_time" in header, "clean_time" in header
    if unsub != cleaned:
        return "unsubscribed" if unsub else "cleaned"
    return None


def _record(row: Row, cols: _Columns, status: str, list_id: str | None, file: str) -> Item:
    email = row.values[cols.email].strip()
    if not email:
        return RejectedRow(file, row.line, f"no address in {EMAIL!r}", _raw(row))
    values = row.values
    evidence = opt_in_evidence(
        cols.get(values, "optin_time"), cols.get(values, "optin_ip"),
        cols.get(values, "confirm_time"), cols.get(values, "confirm_ip"),
    )  # fmt: skip
    tags = cols.get(values, "tags")
    put(
        evidence, tags=tags_text(split_list(tags)) if tags else "",
        last_changed=cols.get(values, "last_changed"), euid=cols.get(values, "euid"),
        leid=cols.get(values, "leid"),
    )  # fmt: skip
    actor: Actor = "unknown"
    if status == "unsubscribed":
        reason, campaign = cols.get(values, "unsub_reason"), cols.get(values, "unsub_campaign_id")
        put(
            evidence, reason_text=reason, reason_other=cols.get(values, "unsub_reason_other"),
            campaign_id=campaign, campaign_title=cols.get(values, "unsub_campaign_title"),
        )  # fmt: skip
        actor = unsubscribe_actor(reason, campaign)
        when = cols.get(values, "unsub_time") or cols.get(values, "last_changed")
    elif status == "cleaned":
        put(
            evidence, campaign_id=cols.get(values, "clean_campaign_id"),
            campaign_title=cols.get(values, "clean_campaign_title"),
        )  # fmt: skip
        actor = "system"
        when = cols.get(values, "clean_time") or cols.get(values, "last_changed")
    elif status == "subscribed":
        when = evidence.get("confirm_time") or evidence.get("optin_time", "")
    else:
        when = cols.get(values, "last_changed") or evidence.get("optin_time", "")
    return TransferRecord(
        email=email, state=STATES[status], scope=audience(list_id), file=file, line=row.line,
        original_status=status, occurred=parse_time(when), actor=actor, evidence=evidence,
    )  # fmt: skip


def _raw(row: Row) -> str:
    return ",".join(row.values)[:300]


class _Borrowed(io.RawIOBase):
    """A stream lent to ``read_rows``, which wraps what it is given and leaves the wrapper to the
    garbage collector: closing this leaves the owner's file open for the owner to close (else
    the collector closes the file first and warns)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _rows(stream: BinaryIO, status: str, list_id: str | None, file: str) -> Iterator[Item]:
    lent = io.BufferedReader(_Borrowed(stream), 1 << 16)
    cols: _Columns | None = None
    for row in read_rows(lent, file, (EMAIL,)):
        if isinstance(row, RejectedRow):
            yield row
            continue
        if cols is None:
            cols = _Columns(row.header)
        yield _record(row, cols, status, list_id, file)


class MailchimpAudienceCsvReader:
    """One status CSV of an audience export."""

    def __init__(self) -> None:
        self.name = "mailchimp-audience-csv"
        self.provider = PROVIDER
        self.description = (
            "Mailchimp audience export: one subscribed_/unsubscribed_/cleaned_/nonsubscribed_ "
            "CSV (status from the file name)"
        )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        return _csv_score(source.name, header_of(source.head()))

    def read(self, source: Source) -> Iterator[Item]:
        if source.is_zip:
            raise InputError(f"{source.name}: a zip archive; read it as mailchimp-audience-zip")
        header = header_of(source.head())
        if "email address" not in header:
            raise InputError(f"{source.name}: not a Mailchimp export (no {EMAIL!r} column)")
        status = status_of_name(source.name) or _status_of_columns(header)
        if status is None:
            raise InputError(
                f"{source.name}: cannot tell the Mailchimp status from the file name (it should "
                "start with subscribed_, unsubscribed_, cleaned_ or nonsubscribed_); rename it"
            )
        with source.open() as stream:
            yield from _rows(stream, status, audience_id(source.name), source.label())


class MailchimpAudienceZipReader:
    """The audience export archive: every status CSV in it."""

    def __init__(self) -> None:
        self.name = "mailchimp-audience-zip"
        self.provider = PROVIDER
        self.description = (
            "Mailchimp audience export zip (audience_export_<id> or legacy members_export_<id>)"
        )

    def sniff(self, source: Source) -> int:
        if not source.is_zip:
            return 0
        named = [m for m in source.members() if status_of_name(m) and "export" in slug(m)]
        score = 80 if named else (40 if any(status_of_name(m) for m in source.members()) else 0)
        if score and audience_id(source.name) and "export" in slug(source.name):
            score += 10
        if named and "email address" in header_of(source.head(named[0])):
            score += 10
        return min(score, 100)

    def read(self, source: Source) -> Iterator[Item]:
        if not source.is_zip:
            raise InputError(f"{source.name}: not a zip archive; read it as mailchimp-audience-csv")
        members = source.members()
        placed: list[tuple[str, str | None]] = []
        for member in members:
            status = status_of_name(member)
            if status is None and member.lower().endswith(".csv"):
                status = _status_of_columns(header_of(source.head(member)))
            placed.append((member, status))
        if not any(status for _, status in placed):
            raise InputError(
                f"{source.name}: no Mailchimp status CSV in the archive (expected "
                "subscribed_..., unsubscribed_..., cleaned_..., nonsubscribed_... files)"
            )
        for member, status in placed:
            file = source.label(member)
            if status is None:
                yield RejectedRow(
                    file, 1, "not a Mailchimp status file: its name does not start with "
                    "subscribed_, unsubscribed_, cleaned_ or nonsubscribed_",
                )  # fmt: skip
                continue
            list_id = audience_id(member, *member.split("/")[:-1], source.name)
            with source.open(member) as stream:
                yield from _rows(stream, status, list_id, file)


def _csv_score(name: str, header: list[str]) -> int:
    if "email address" not in header:
        return 0
    score = 20 + 15 * min(4, len(SYSTEM_COLUMNS.intersection(header)))
    if status_of_name(name):
        score += 20
        if "export" in slug(name):
            score += 10
    return min(score, 100)


class MailchimpStatusCsvWriter:
    """A CSV for Mailchimp's importer, to import with one status (see the module docstring)."""

    def __init__(self, status: str, state: State, description: str) -> None:
        self.name = f"mailchimp-{status}-csv"
        self.provider = PROVIDER
        self.description = description
        self.suffix = ".csv"
        self.status = status
        self.state = state

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        try:
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow([EMAIL])
            for record in records:
                if record.state not in SUPPRESSING:
                    report.drop(_dropped(record.state))
                    continue
                if record.state is not self.state:
                    report.widen(f"{record.state.value} -> {self.status}")
                if record.scope is None:
                    report.widen("global -> the audience it is imported into (import into each)")
                writer.writerow([record.email])
                report.written += 1
            text.flush()
        finally:
            text.detach()
        return report


def _dropped(state: State) -> str:
    if state is State.CONSENTED:
        return "consented: Mailchimp's import carries no opt-in evidence"
    if state is State.PENDING:
        return "pending-confirmation: Mailchimp's import cannot start a confirmation"
    return f"{state.value}: not a suppression"


READERS = [MailchimpAudienceZipReader(), MailchimpAudienceCsvReader(), MailchimpApiReader()]
WRITERS = [
    MailchimpStatusCsvWriter(
        "unsubscribed", State.UNSUBSCRIBED,
        "Mailchimp import CSV to import as Unsubscribed: every suppression (complaints, manual "
        "and legal suppressions and hard bounces widened to unsubscribed)",
    ),
    MailchimpStatusCsvWriter(
        "cleaned", State.HARD_BOUNCED,
        "Mailchimp import CSV to import as Cleaned: hard bounces, and every other suppression "
        "widened to cleaned (the strictest status)",
    ),
]  # fmt: skip
