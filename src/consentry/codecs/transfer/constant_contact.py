"""Constant Contact (API v3): contacts with their email permission, as the CSV export or the
API JSON, and the file of unsubscribed addresses to upload (esp-formats.md §1.10, §2.2).

What was relied on:

* The v3 contact's ``email_address`` object: ``address, permission_to_send, created_at,
  updated_at, opt_in_source, opt_in_date, opt_out_source, opt_out_date, opt_out_reason,
  confirm_status``, ISO 8601 times (rubydoc ``constant_contact_client`` ``EmailAddress``;
  developer.constantcontact.com contacts guides). ``GET /v3/contacts`` pages are ``{"contacts":
  [...], "contacts_count", "_links": {"next"}}`` (at most 500 a page); ``include=
  list_memberships`` adds ``list_memberships: [list ids]``.
* ``permission_to_send``: ``explicit|implicit|pending_confirmation|unsubscribed|temp_hold``
  [S]; ``not_set`` [U]; the export's ``status`` filter has ``removed``. ``temp_hold``,
  ``not_set`` and ``removed`` have no documented meaning for sending: unknown, flagged for
  review. ``implicit`` (the default of every bulk import) is implied permission, not consent
  under PECR/GDPR: unknown.
* The CSV export (``/activities/contact_exports``) lets you choose the fields; its column
  names are not documented [U]: the reader takes the v3 property names, bare
  (``permission_to_send``) or dotted (``email_address.permission_to_send``), and their
  spaced forms (``Permission to send``, ``Opt-out date``). A time without a zone is marked
  ``local_assumed``.
* Writing: a bulk import never changes an existing contact's permission and makes new ones
  ``implicit`` (developer guide "Import contacts"), so it can neither grant consent nor
  unsubscribe; the UI's "Add unsubscribed email addresses" upload (knowledge base 33118) takes
  a file of addresses and unsubscribes every one. The writer writes that file.

Mapping (§2.2): explicit consented (account-wide, or per list when memberships are given),
pending_confirmation pending, unsubscribed unsubscribed account-wide (``opt_out_source``
Account: an admin did it; Contact: the recipient).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO, Literal

from consentry.codecs.transfer.cells import (
    csv_members,
    csv_out,
    evidence,
    header_names,
    member_header,
    open_csv,
    pick,
    row_text,
    text,
    zoned,
)
from consentry.codecs.transfer.json_stream import JsonProblem, json_head, json_records
from consentry.codecs.transfer.source import Source
from consentry.domain.errors import InputError
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

PROVIDER = "constant-contact"
ACCOUNT = Scope("account")
Actor = Literal["recipient", "admin", "system", "unknown"]
KEYS = (
    "permission_to_send", "opt_in_source", "opt_in_date", "opt_out_source", "opt_out_date",
    "opt_out_reason", "confirm_status", "created_at", "updated_at",
)  # fmt: skip
EMAIL_COLUMNS = ("email_address", "email_address.address", "email address", "email")
LIST_COLUMNS = ("list_memberships", "lists", "email lists")
#: permission_to_send: (state, review).
PERMISSIONS: dict[str, tuple[State, bool]] = {
    "explicit": (State.CONSENTED, False),
    "implicit": (State.UNKNOWN, False),
    "pending_confirmation": (State.PENDING, False),
    "unsubscribed": (State.UNSUBSCRIBED, False),
    "temp_hold": (State.UNKNOWN, True),
    "not_set": (State.UNKNOWN, True),
    "removed": (State.UNKNOWN, True),
}
_WORD = re.compile(r"[\s-]+")


def _aliases(key: str) -> tuple[str, ...]:
    spaced = key.replace("_", " ")
    return (key, f"email_address.{key}", spaced, spaced.replace("opt ", "opt-"))


_ACTORS: dict[str, Actor] = {"contact": "recipient", "account": "admin"}


def _actor(source: str) -> Actor:
    """``opt_in_source``/``opt_out_source``: Contact (the recipient) or Account (an admin)."""
    return _ACTORS.get(source.strip().lower(), "unknown")


def _records(
    email: str, fields: Mapping[str, str], lists: list[str], label: str, line: int, raw: str
) -> Iterator[Item]:
    permission = fields["permission_to_send"]
    word = _WORD.sub("_", permission.strip().lower()) or "not_set"
    if word not in PERMISSIONS:
        yield RejectedRow(label, line, f"unknown permission_to_send {permission!r}", raw)
        return
    state, review = PERMISSIONS[word]
    found = evidence(
        source=fields["opt_in_source"], confirm_status=fields["confirm_status"],
        created_at=fields["created_at"],
    )  # fmt: skip
    if state is State.UNSUBSCRIBED:
        yield TransferRecord(
            email=email, state=state, scope=ACCOUNT, file=label, line=line,
            original_status=permission, occurred=zoned(fields["opt_out_date"]),
            actor=_actor(fields["opt_out_source"]),
            evidence={**found, **evidence(reason_text=fields["opt_out_reason"])},
        )  # fmt: skip
        return
    if state in (State.CONSENTED, State.PENDING):
        found = {**found, **evidence(optin_time=fields["opt_in_date"])}
    note = {
        "implicit": "implied permission (a bulk import's default): not consent",
    }.get(word, "no documented meaning for sending" if review else "")
    scopes = [Scope("list", i) for i in lists] if state is not State.UNKNOWN and lists else []
    for scope in scopes or [ACCOUNT]:
        yield TransferRecord(
            email=email, state=state, scope=scope, file=label, line=line,
            original_status=permission or "not_set", occurred=zoned(fields["opt_in_date"]),
            actor=_actor(fields["opt_in_source"]), review=review,
            evidence={**found, **evidence(note=note)},
        )  # fmt: skip


class ConstantContactCsvReader:
    name = "constant-contact-contacts-csv"
    provider = PROVIDER
    description = (
        "Constant Contact contacts export (CSV with email_address and permission_to_send, "
        "opt-out source, date and reason); implicit is not consent"
    )

    def sniff(self, source: Source) -> int:
        header, _ = header_names(source)
        if not pick(header, *EMAIL_COLUMNS) or not pick(header, *_aliases("permission_to_send")):
            return 0
        return 90 if pick(header, *_aliases("opt_out_date"), *_aliases("opt_out_source")) else 80

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            header = member_header(source, member)
            email_column = pick(header, *EMAIL_COLUMNS)
            if email_column is None or not pick(header, *_aliases("permission_to_send")):
                raise InputError(
                    f"{label}: not a Constant Contact contacts export: it needs an "
                    "email_address and a permission_to_send column"
                )
            columns = {key: pick(header, *_aliases(key)) for key in KEYS}
            lists = pick(header, *LIST_COLUMNS)
            for row in open_csv(source, member, "a Constant Contact export", (email_column,)):
                if isinstance(row, RejectedRow):
                    yield row
                    continue
                email = row.first(email_column)
                if not email:
                    yield RejectedRow(
                        label, row.line, f"no address in column {email_column!r}", row_text(row)
                    )  # fmt: skip
                    continue
                fields = {k: row.first(c) if c else "" for k, c in columns.items()}
                ids = [i.strip() for i in re.split(r"[,;|]", row.first(lists))] if lists else []
                yield from _records(
                    email, fields, [i for i in ids if i], label, row.line, row_text(row)
                )  # fmt: skip


class ConstantContactJsonReader:
    name = "constant-contact-contacts-json"
    provider = PROVIDER
    description = (
        "Constant Contact contacts from the v3 API (GET /v3/contacts pages or one contact), "
        "permission_to_send per contact; implicit is not consent"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"permission_to_send"' in head:
            return 90
        return 70 if '"email_address"' in head and '"contact_id"' in head else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, [("contacts",)]):
                if isinstance(item, JsonProblem):
                    yield RejectedRow(label, item.number, item.reason, item.raw)
                else:
                    yield from _contact(item.value, label, item.number)


def _contact(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict) or not isinstance(value.get("email_address"), dict):
        yield RejectedRow(label, number, "a contact without an email_address object")
        return
    address: dict[str, Any] = value["email_address"]
    email = text(address.get("address"))
    if not email:
        yield RejectedRow(label, number, "no email_address.address", str(value)[:300])
        return
    fields = {key: text(address.get(key)) for key in KEYS}
    memberships = value.get("list_memberships")
    lists = [text(i) for i in memberships if text(i)] if isinstance(memberships, list) else []
    yield from _records(email, fields, lists, label, number, str(value)[:300])


class ConstantContactUnsubscribeWriter:
    name = "constant-contact-unsubscribe-csv"
    provider = PROVIDER
    description = (
        "Constant Contact unsubscribed addresses to upload ('Add unsubscribed email "
        "addresses'; email_address,permission_to_send,opt_out_reason): account-wide"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out) as writer:
            writer.writerow(["email_address", "permission_to_send", "opt_out_reason"])
            for r in records:
                if r.state not in SUPPRESSING:
                    report.drop(
                        f"{r.state.value}: a Constant Contact import cannot grant permission "
                        "(new contacts become implicit)"
                    )
                    continue
                if r.state is not State.UNSUBSCRIBED:
                    report.widen(f"{r.state.value} -> unsubscribed")
                if r.scope is not None:
                    report.widen("list suppression -> unsubscribed (account-wide)")
                writer.writerow([r.email, "unsubscribed", r.reason])
                report.written += 1
        return report


READERS = [ConstantContactCsvReader(), ConstantContactJsonReader()]
WRITERS = [ConstantContactUnsubscribeWriter()]
