"""Brevo (formerly Sendinblue): the contacts export, the transactional blocked-contacts list,
and the blocklist import (esp-formats.md §1.6, §2.2).

What was relied on:

* ``GET /v3/smtp/blockedContacts`` pages ``{"count", "contacts": [{email, senderEmail,
  reason: {code, message}, blockedAt}]}`` and the six ``reason.code`` values: the Brevo SDK
  model docs (sendinblue/APIv3-php-library ``GetTransacBlockedContactsContacts.md``,
  ``GetTransacBlockedContactsReason.php``) and developers.brevo.com (max 100 per page, so a
  page may be parsed whole; files of many pages, one per line or concatenated, stream).
* The contacts export (``POST /v3/contacts/export``): ``EMAIL`` plus the mandatory attributes
  ``ADDED_TIME`` and ``MODIFIED_TIME`` and, on request, the ``_listIds`` metadata; dates are in
  the account's time zone unless ``exportDateInUTC`` was set (developers.brevo.com
  request-contact-export). The names of the blocklist and per-list unsubscribe columns are not
  documented [U]: the reader accepts the API's and the UI's words (``emailBlacklisted``,
  ``BLACKLISTED``, ``BLOCKLISTED``...; ``listUnsubscribed``) and map by name. A time without a
  zone is marked ``local_assumed``.
* The import (``POST /v3/contacts/import``, help.brevo.com "Create a file to import your
  contacts"): an ``EMAIL`` column, semicolon-separated (the API asks for it; the UI also takes
  comma and tab). The blocklist is a flag of the whole import job (``emailBlacklist: true``,
  UI "Blocklist the imported contacts"), not of a row, so the writer writes suppressions only.

Mapping (§2.2): a blocklisted contact is unsubscribed account-wide (Brevo keeps no reason or
date for it); a list in ``listUnsubscribed`` is an unsubscribe from that list; a contact that
is not blocklisted is consented on each list it is in (Brevo's own "subscribed", with no
opt-in evidence: the import records it as evidence-less) and ``unknown`` when it is in none.
An export without any blocklist column cannot tell a blocklisted contact from another: every
contact is then ``unknown`` for review, never consented.
Blocked transactional contacts are scoped to their sender: ``unsubscribedVia*`` unsubscribed,
``adminBlocked`` manually suppressed, ``hardBounce`` hard-bounced, ``contactFlaggedAsSpam``
complained.
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

PROVIDER = "brevo"
ACCOUNT = Scope("account")
FLAG_COLUMNS = (
    "emailBlacklisted", "EMAIL_BLACKLISTED", "EMAIL BLACKLISTED", "BLACKLISTED", "BLACKLIST",
    "EMAIL_BLOCKLISTED", "EMAIL BLOCKLISTED", "BLOCKLISTED", "BLOCKLIST",
)  # fmt: skip
LIST_COLUMNS = ("_listIds", "listIds", "LIST_IDS", "LISTS")
UNSUB_COLUMNS = ("listUnsubscribed", "_listUnsubscribed", "LIST_UNSUBSCRIBED")
ADDED_COLUMNS = ("ADDED_TIME", "createdAt", "_ADDED_TIME")
MODIFIED_COLUMNS = ("MODIFIED_TIME", "modifiedAt", "_MODIFIED_TIME")
_LIST_SPLIT = re.compile(r"[\s,;|]+")

Actor = Literal["recipient", "admin", "system", "unknown"]

#: reason.code of a blocked transactional contact: (state, actor).
BLOCK_REASONS: dict[str, tuple[State, Actor]] = {
    "unsubscribedViaEmail": (State.UNSUBSCRIBED, "recipient"),
    "unsubscribedViaMA": (State.UNSUBSCRIBED, "system"),
    "unsubscribedViaApi": (State.UNSUBSCRIBED, "admin"),
    "adminBlocked": (State.MANUALLY_SUPPRESSED, "admin"),
    "hardBounce": (State.HARD_BOUNCED, "system"),
    "contactFlaggedAsSpam": (State.COMPLAINED, "recipient"),
}


def _brand(source: Source) -> int:
    name = source.name.lower()
    return 10 if "brevo" in name or "sendinblue" in name else 0


def _ids(value: str) -> list[str]:
    """A list of list ids as the export writes it: ``2,4``, ``[2, 4]`` or ``2|4``."""
    return [i for i in _LIST_SPLIT.split(value.strip().strip("[]")) if i]


class BrevoContactsReader:
    name = "brevo-contacts-csv"
    provider = PROVIDER
    description = (
        "Brevo contacts export (CSV; EMAIL, the blocklist flag, list ids; `;`, `,` or tab); "
        "dates in the account's zone unless exported in UTC"
    )

    def sniff(self, source: Source) -> int:
        header, head = header_names(source)
        if "email" not in header:
            return 0
        upper = b"EMAIL" in head.split(b"\n", 1)[0]
        if pick(header, *FLAG_COLUMNS):
            score = 85 if upper else 65
        elif upper and pick(header, *ADDED_COLUMNS, *MODIFIED_COLUMNS, *LIST_COLUMNS):
            score = 70
        else:
            score = 30 if upper else 0
        return min(100, score + _brand(source)) if score else 0

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            for row in open_csv(source, member, "a Brevo contacts export", ("EMAIL",)):
                if isinstance(row, RejectedRow):
                    yield row
                else:
                    yield from _contact(row, label)


def _contact(row: Row, label: str) -> Iterator[Item]:
    email = row.first("EMAIL")
    if not email:
        yield RejectedRow(label, row.line, "no address in column 'EMAIL'", row_text(row))
        return
    column = next((c for c in FLAG_COLUMNS if row.has(c)), None)
    raw_flag = row.first(column) if column else ""
    blocked = flag(raw_flag) if column else False
    if blocked is None:
        yield RejectedRow(
            label, row.line, f"column {column!r} holds {raw_flag!r}, not yes or no", row_text(row)
        )
        return
    added = row.first(*ADDED_COLUMNS)
    found = evidence(added_time=added, modified_time=row.first(*MODIFIED_COLUMNS))
    lists = _ids(row.first(*LIST_COLUMNS))
    unsubscribed = _ids(row.first(*UNSUB_COLUMNS))

    def record(state: State, scope: Scope, status: str, **extra: str) -> TransferRecord:
        return TransferRecord(
            email=email, state=state, scope=scope, file=label, line=row.line,
            original_status=status, evidence={**found, **evidence(**extra)},
        )  # fmt: skip

    if blocked:
        yield record(
            State.UNSUBSCRIBED, ACCOUNT, f"{column}={raw_flag}",
            reason_text="blocklisted; Brevo exports no reason or date for it",
        )  # fmt: skip
    for list_id in unsubscribed:
        yield record(State.UNSUBSCRIBED, Scope("list", list_id), "listUnsubscribed")
    if blocked:
        return
    if column is None:
        # Without the blocklist column a blocklisted contact looks like any other: not consent.
        yield TransferRecord(
            email=email, state=State.UNKNOWN, scope=ACCOUNT, file=label, line=row.line,
            original_status="no blocklist column", review=True,
            evidence={**found, "note": "the export has no blocklist column: blocklisted "
                      "contacts cannot be told apart; export emailBlacklisted too"},
        )  # fmt: skip
        return
    subscribed = [i for i in lists if i not in unsubscribed]
    for list_id in subscribed:
        yield TransferRecord(
            email=email, state=State.CONSENTED, scope=Scope("list", list_id), file=label,
            line=row.line, original_status="in list, not blocklisted",
            occurred=zoned(added), evidence=found,
        )  # fmt: skip
    if not subscribed and not unsubscribed:
        yield record(State.UNKNOWN, ACCOUNT, "not blocklisted, in no list")


class BrevoBlockedReader:
    name = "brevo-blocked-json"
    provider = PROVIDER
    description = (
        "Brevo transactional blocked contacts (GET /v3/smtp/blockedContacts pages; "
        "per sender, with reason codes)"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"senderEmail"' in head and ('"blockedAt"' in head or '"reason"' in head):
            return 90
        return 70 if '"blockedAt"' in head else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, [("contacts",)]):
                if isinstance(item, JsonProblem):
                    yield RejectedRow(label, item.number, item.reason, item.raw)
                else:
                    yield _blocked(item.value, label, item.number)


def _blocked(value: Any, label: str, number: int) -> Item:
    if not isinstance(value, dict):
        return RejectedRow(label, number, "a blocked contact that is not a JSON object")
    email = text(value.get("email"))
    if not email:
        return RejectedRow(label, number, "no 'email'", str(value)[:300])
    reason = value.get("reason")
    code = text(reason.get("code")) if isinstance(reason, dict) else text(reason)
    message = text(reason.get("message")) if isinstance(reason, dict) else ""
    if code not in BLOCK_REASONS:
        return RejectedRow(label, number, f"unknown reason.code {code!r}", str(value)[:300])
    state, actor = BLOCK_REASONS[code]
    sender = text(value.get("senderEmail"))
    # Without its sender the block cannot be scoped: widen it to the account, never drop it.
    scope = Scope("sender", sender, sender) if sender else ACCOUNT
    return TransferRecord(
        email=email, state=state, scope=scope, file=label, line=number, original_status=code,
        occurred=zoned(text(value.get("blockedAt"))), actor=actor,
        evidence=evidence(reason_text=message),
    )  # fmt: skip


class BrevoBlocklistWriter:
    name = "brevo-blocklist-csv"
    provider = PROVIDER
    description = (
        "Brevo contact import for the blocklist (EMAIL;BLACKLISTED, semicolons): import it with "
        "emailBlacklist=true ('Blocklist the imported contacts'); suppressions only"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out, ";") as writer:
            writer.writerow(["EMAIL", "BLACKLISTED"])
            for r in records:
                if r.state not in SUPPRESSING:
                    report.drop(
                        f"{r.state.value}: a blocklist import carries no consents "
                        "(import contacts in a separate job)"
                    )
                    continue
                if r.state is not State.UNSUBSCRIBED:
                    report.widen(f"{r.state.value} -> blocklisted (Brevo keeps no reason)")
                if r.scope is not None:
                    report.widen("list suppression -> account blocklist")
                writer.writerow([r.email, "true"])
                report.written += 1
        return report


READERS = [BrevoContactsReader(), BrevoBlockedReader()]
WRITERS = [BrevoBlocklistWriter()]
