"""HubSpot's contacts export (CSV) and the opt-out list import; the JSON formats are in
``hubspot`` (esp-formats.md §1.11, §2.2).

What was relied on: the export carries ``Email`` and ``Unsubscribed from all email``
(``hs_email_optout``), per-type ``hs_email_optout_<id>`` ("Opted out of email: <type>"),
``Invalid email address`` (``hs_email_bad_address``), the hard-bounce reason and ``Email
Address Quarantined`` [S]; labels and internal names are both read. ``Marketing contact
status`` is billing, not consent, and is ignored. A contacts export carries no consent: a
contact with none of these flags is ``unknown``. Naive dates are in the portal's zone
(``local_assumed``). The opt-out import (knowledge.hubspot.com "Import an opt-out list")
reads the ``Email`` column and sets "Unsubscribed from all email" to true for every address,
creating no contact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Literal

from consentry.codecs.transfer.cells import (
    csv_members,
    csv_out,
    evidence,
    flag,
    header_names,
    member_header,
    open_csv,
    pick,
    raw_header,
    row_text,
    zoned,
)
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.table import Row, normalise
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

PROVIDER = "hubspot"
PORTAL = Scope("portal")
Actor = Literal["recipient", "admin", "system", "unknown"]

EMAIL_COLUMNS = ("Email", "email")
OPTOUT_COLUMNS = ("Unsubscribed from all email", "hs_email_optout")
BAD_COLUMNS = ("Invalid email address", "hs_email_bad_address")
BOUNCE_COLUMNS = ("Email hard bounce reason", "hs_email_hard_bounce_reason_enum")
QUARANTINE_COLUMNS = ("Email Address Quarantined", "hs_email_quarantined")
BASIS_COLUMNS = ("Legal basis for processing contact's data", "hs_legal_basis")
_TYPE_OPTOUT = re.compile(r"hs_email_optout_(\d+)\Z")
_LABEL_OPTOUT = re.compile(r"opted out of email: (.+)\Z")


class HubSpotContactsReader:
    name = "hubspot-contacts-csv"
    provider = PROVIDER
    description = (
        "HubSpot contacts export (CSV: Email, Unsubscribed from all email / hs_email_optout, "
        "per-type opt-outs, invalid or bounced addresses); carries no consent"
    )

    def sniff(self, source: Source) -> int:
        header, _ = header_names(source)
        if not pick(header, *EMAIL_COLUMNS):
            return 0
        if pick(header, *OPTOUT_COLUMNS):
            return 85
        if any(_TYPE_OPTOUT.match(h) or _LABEL_OPTOUT.match(h) for h in header):
            return 80
        return 50 if pick(header, *BAD_COLUMNS, *QUARANTINE_COLUMNS, "Record ID") else 0

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            header = member_header(source, member)
            email_column = pick(header, *EMAIL_COLUMNS) or "Email"
            types = [
                (h, Scope("topic", m.group(1))) for h in header
                if (m := _TYPE_OPTOUT.match(h))
            ] + [
                (raw, Scope("topic", None, raw.split(":", 1)[1].strip()))
                for raw in raw_header(source, member)
                if _LABEL_OPTOUT.match(normalise(raw))
            ]  # fmt: skip
            for row in open_csv(source, member, "a HubSpot contacts export", (email_column,)):
                if isinstance(row, RejectedRow):
                    yield row
                else:
                    yield from _contact_row(row.first(email_column), row, types, label)


def _contact_row(
    email: str, row: Row, types: list[tuple[str, Scope]], label: str
) -> Iterator[Item]:
    if not email:
        yield RejectedRow(label, row.line, "no address in column 'Email'", row_text(row))
        return
    found = evidence(legal_basis=row.first(*BASIS_COLUMNS))
    checks: list[tuple[str, State, Scope, Actor, bool]] = (
        [(c, State.UNSUBSCRIBED, PORTAL, "unknown", False) for c in OPTOUT_COLUMNS]
        + [(c, State.UNSUBSCRIBED, s, "unknown", False) for c, s in types]
        + [(c, State.HARD_BOUNCED, PORTAL, "system", False) for c in BAD_COLUMNS]
        + [(c, State.MANUALLY_SUPPRESSED, PORTAL, "system", True) for c in QUARANTINE_COLUMNS]
    )
    found_by: dict[tuple[State, Scope], TransferRecord] = {}
    for column, state, scope, actor, review in checks:
        if not row.has(column):
            continue
        value = row.first(column)
        marked = flag(value)
        if marked is None:
            yield RejectedRow(
                label, row.line, f"column {column!r} holds {value!r}, not true or false",
                row_text(row),
            )  # fmt: skip
            return
        if marked and (state, scope) not in found_by:
            found_by[(state, scope)] = TransferRecord(
                email=email, state=state, scope=scope, file=label, line=row.line,
                original_status=f"{column}={value}", actor=actor, review=review,
                evidence=found,
            )  # fmt: skip
    bounce = row.first(*BOUNCE_COLUMNS)
    if bounce:
        earlier = found_by.get((State.HARD_BOUNCED, PORTAL))
        found_by[(State.HARD_BOUNCED, PORTAL)] = TransferRecord(
            email=email, state=State.HARD_BOUNCED, scope=PORTAL, file=label, line=row.line,
            original_status=earlier.original_status if earlier else "hard bounce",
            actor="system", evidence={**found, "reason_text": bounce},
        )  # fmt: skip
    if not found_by:
        yield TransferRecord(
            email=email, state=State.UNKNOWN, scope=PORTAL, file=label, line=row.line,
            original_status="not opted out", occurred=zoned(row.first("Create Date")),
            evidence={**found, "note": "a contacts export carries no consent"},
        )  # fmt: skip
    yield from found_by.values()


class HubSpotOptOutWriter:
    name = "hubspot-optout-csv"
    provider = PROVIDER
    description = (
        "HubSpot opt-out list import (Email, Unsubscribed from all email): every address is "
        "opted out of all email, portal-wide; suppressions only"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out) as writer:
            writer.writerow(["Email", "Unsubscribed from all email"])
            for r in records:
                if r.state not in SUPPRESSING:
                    report.drop(
                        f"{r.state.value}: an opt-out import carries no consents "
                        "(subscribe through the API with a legalBasis)"
                    )
                    continue
                if r.state is not State.UNSUBSCRIBED:
                    report.widen(f"{r.state.value} -> unsubscribed from all email")
                if r.scope is not None:
                    report.widen("list suppression -> unsubscribed from all email")
                writer.writerow([r.email, "true"])
                report.written += 1
        return report
