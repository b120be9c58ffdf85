"""Mautic (self-hosted): contacts with their do-not-contact (DNC) entries, as CSV or API JSON,
and the contacts import with ``doNotEmail`` (esp-formats.md §1.9, §2.2).

What was relied on:

* DNC reasons (``app/bundles/LeadBundle/Entity/DoNotContact.php``): 0 contactable,
  1 unsubscribed, 2 bounced, 3 manual; an entry has ``reason, comments, channel`` (``email``,
  ``sms``...), ``channelId`` and its date.
* ``GET /api/contacts`` (Mautic developer documentation, "Contacts"): ``{"total": "1",
  "contacts": {"47": {...}}}`` (an object keyed by id; ``[]`` when empty), the address in
  ``fields.all.email``, ``doNotContact: [{id, reason, comments, channel, channelId}]``;
  ``GET /api/contacts/{id}`` gives ``{"contact": {...}}``. Pages follow ``limit`` (default 30):
  a page streams record by record whatever its size. ``dateAdded`` on an entry is read when
  present.
* Mautic's UI export leaves the DNC out (reference/peers.md): the CSV reader wants the DNC as
  columns, as a database export of ``lead_donotcontact`` joined to the contact writes them
  (``doNotEmail`` or ``dnc_reason``, ``dnc_comments``, ``dnc_date``, ``dnc_channel``); these
  names are ours, not Mautic's [U], and are matched case-insensitively.
* The import (``LeadModel::import``, index 1642693): a ``doNotEmail`` column read with PHP's
  ``FILTER_VALIDATE_BOOLEAN`` adds DNC reason 3 (manual) with the comment "imported by
  <user>" and today's date; a false or empty value changes nothing (so it never lifts a DNC).

Mapping (§2.2): reason 1 unsubscribed, 2 hard-bounced (either becomes complained when the
comments say ``abuse``, ``complaint``, ``spam`` or ``feedback loop``: Mautic has no complaint
code), 3 manually suppressed, 0 and **no DNC entry at all: unknown, never consent**. A DNC on
another channel (``sms``) is kept with that channel as its scope (the import widens it).
Naive times (a database export) are marked ``local_assumed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Literal

from consentry.codecs.transfer.cells import (
    csv_members,
    csv_out,
    evidence,
    flag,
    header_names,
    open_csv,
    pick,
    row_text,
    text,
    zoned,
)
from consentry.codecs.transfer.json_stream import JsonProblem, json_head, json_records
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.table import Row
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

PROVIDER = "mautic"
Actor = Literal["recipient", "admin", "system", "unknown"]
#: DNC reason: (state, actor, Mautic's name).
REASONS: dict[str, tuple[State, Actor, str]] = {
    "0": (State.UNKNOWN, "unknown", "contactable"),
    "1": (State.UNSUBSCRIBED, "recipient", "unsubscribed"),
    "2": (State.HARD_BOUNCED, "system", "bounced"),
    "3": (State.MANUALLY_SUPPRESSED, "admin", "manual"),
}
_WORDS = {name: code for code, (_, _, name) in REASONS.items()}
_COMPLAINT = re.compile(r"abuse|complain|spam|feedback.loop|\bfbl\b", re.IGNORECASE)

FLAG_COLUMNS = ("doNotEmail", "dnc", "email_dnc", "do_not_contact", "doNotContact")
REASON_COLUMNS = ("dnc_reason", "dnc reason", "reason")
COMMENT_COLUMNS = ("dnc_comments", "dnc comments", "comments")
DATE_COLUMNS = ("dnc_date", "dnc_date_added", "dnc date")
CHANNEL_COLUMNS = ("dnc_channel", "channel")


def _reason(raw: str) -> str | None:
    """A reason code from ``1`` or ``1.0`` or ``unsubscribed``; None if unknown."""
    word = raw.strip().lower()
    if word.endswith(".0"):
        word = word[:-2]
    return word if word in REASONS else _WORDS.get(word)


def _dnc(
    email: str, reason: str, comments: str, channel: str, when: str,
    label: str, line: int, extra: dict[str, str],
) -> TransferRecord:  # fmt: skip
    state, actor, name = REASONS[reason]
    complaint = state in (State.UNSUBSCRIBED, State.HARD_BOUNCED) and _COMPLAINT.search(comments)
    if complaint:
        state, actor = State.COMPLAINED, "recipient"
    return TransferRecord(
        email=email, state=state, scope=Scope("channel", channel or "email"), file=label,
        line=line, original_status=f"DNC {reason} ({name})", occurred=zoned(when), actor=actor,
        evidence=evidence(reason_text=comments, **extra),
    )  # fmt: skip


def _no_dnc(email: str, label: str, line: int, status: str) -> TransferRecord:
    return TransferRecord(
        email=email, state=State.UNKNOWN, scope=Scope("channel", "email"), file=label,
        line=line, original_status=status,
        evidence={"note": "no do-not-contact entry: contactable at Mautic, not consent"},
    )  # fmt: skip


class MauticCsvReader:
    name = "mautic-contacts-csv"
    provider = PROVIDER
    description = (
        "Mautic contacts as CSV with their DNC columns (doNotEmail or dnc_reason 1|2|3, "
        "dnc_comments, dnc_date, dnc_channel); no DNC is unknown, never consent"
    )

    def sniff(self, source: Source) -> int:
        header, _ = header_names(source)
        if "email" not in header:
            return 0
        if pick(header, "doNotEmail", "dnc_reason", "dnc reason"):
            return 80
        if pick(header, *FLAG_COLUMNS) or {"reason", "comments", "channel"} <= set(header):
            return 65
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            for row in open_csv(source, member, "a Mautic contacts CSV", ("email",)):
                yield row if isinstance(row, RejectedRow) else _row(row, label)


def _row(row: Row, label: str) -> Item:
    email = row.first("email")
    if not email:
        return RejectedRow(label, row.line, "no address in column 'email'", row_text(row))
    raw_reason = row.first(*REASON_COLUMNS)
    comments, channel = row.first(*COMMENT_COLUMNS), row.first(*CHANNEL_COLUMNS)
    if raw_reason:
        reason = _reason(raw_reason)
        if reason is None:
            return RejectedRow(
                label, row.line, f"unknown DNC reason {raw_reason!r}", row_text(row)
            )  # fmt: skip
        return _dnc(
            email, reason, comments, channel, row.first(*DATE_COLUMNS), label, row.line, {}
        )  # fmt: skip
    column = next((c for c in FLAG_COLUMNS if row.has(c)), None)
    value = row.first(column) if column else ""
    marked = flag(value)
    if marked is None:
        return RejectedRow(
            label, row.line, f"column {column!r} holds {value!r}, not yes or no", row_text(row)
        )  # fmt: skip
    if marked:
        # A DNC flag without its reason: what a Mautic import makes of it, reason 3 (manual).
        return _dnc(email, "3", comments, channel, row.first(*DATE_COLUMNS), label, row.line, {})
    status = f"{column}={value}" if column else "no DNC entry"
    return _no_dnc(email, label, row.line, status)


class MauticJsonReader:
    name = "mautic-api-json"
    provider = PROVIDER
    description = (
        "Mautic contacts from the API (GET /api/contacts pages or one contact) with their "
        "doNotContact entries; no entry is unknown, never consent"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"doNotContact"' in head:
            return 90
        return 60 if '"contacts"' in head and '"fields"' in head and '"all"' in head else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        paths = [("contacts", "*"), ("contacts",), ("contact",)]
        with source.open() as stream:
            for item in json_records(stream, label, paths):
                if isinstance(item, JsonProblem):
                    yield RejectedRow(label, item.number, item.reason, item.raw)
                else:
                    yield from _contact(item.value, label, item.number)


def _email(contact: dict[str, Any]) -> str:
    fields = contact.get("fields")
    if isinstance(fields, dict):
        every = fields.get("all")
        if isinstance(every, dict) and text(every.get("email")):
            return text(every.get("email"))
        core = fields.get("core")
        if isinstance(core, dict) and isinstance(core.get("email"), dict):
            return text(core["email"].get("value"))
    return text(contact.get("email"))


def _contact(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RejectedRow(label, number, "a contact that is not a JSON object")
        return
    email = _email(value)
    if not email:
        yield RejectedRow(label, number, "no address in fields.all.email", str(value)[:300])
        return
    entries = value.get("doNotContact")
    if not isinstance(entries, list) or not entries:
        status = "no doNotContact entry" if isinstance(entries, list) else "no doNotContact"
        yield _no_dnc(email, label, number, status)
        return
    for entry in entries:
        if not isinstance(entry, dict):
            yield RejectedRow(label, number, "a doNotContact entry that is not a JSON object")
            continue
        raw = text(entry.get("reason"))
        reason = _reason(raw)
        if reason is None:
            yield RejectedRow(label, number, f"unknown doNotContact reason {raw!r}")
            continue
        yield _dnc(
            email, reason, text(entry.get("comments")), text(entry.get("channel")),
            text(entry.get("dateAdded")), label, number,
            evidence(channel_id=text(entry.get("channelId"))),
        )  # fmt: skip


class MauticContactsWriter:
    name = "mautic-contacts-csv"
    provider = PROVIDER
    description = (
        "Mautic contacts import (email,doNotEmail): each suppression becomes DNC reason 3 "
        "(manual); consents become plain contacts (Mautic records no consent)"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out) as writer:
            writer.writerow(["email", "doNotEmail"])
            for r in records:
                if r.state in SUPPRESSING:
                    if r.state is not State.MANUALLY_SUPPRESSED:
                        report.widen(f"{r.state.value} -> DNC reason 3 (manual)")
                    if r.scope is not None:
                        report.widen("list suppression -> email channel DNC")
                    writer.writerow([r.email, "1"])
                elif r.state is State.CONSENTED:
                    # "0" is empty to PHP: the import adds the contact and never lifts a DNC.
                    report.widen("consented -> contact without DNC (Mautic records no consent)")
                    writer.writerow([r.email, "0"])
                else:
                    report.drop(f"{r.state.value}: Mautic has no such state")
                    continue
                report.written += 1
        return report


READERS = [MauticCsvReader(), MauticJsonReader()]
WRITERS = [MauticContactsWriter()]
