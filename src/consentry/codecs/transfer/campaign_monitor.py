"""Campaign Monitor (createsend): list subscribers by state, the client suppression list, and
a suppression-list file to add (esp-formats.md §1.7, §2.2).

What was relied on:

* The API pages of ``GET /lists/{id}/{active|unconfirmed|unsubscribed|bounced|deleted}.json``
  and ``GET /clients/{id}/suppressionlist.json``: ``{"Results": [...], "ResultsOrderedBy",
  "PageNumber", "PageSize" (at most 1000), "RecordsOnThisPage", "TotalNumberOfRecords",
  "NumberOfPages"}``; a subscriber is ``{EmailAddress, Name, Date (older) or
  StateChangedDate, ListJoinedDate, State, CustomFields, ReadsEmailWith, ConsentToTrack}``; a
  suppression is ``{SuppressionReason, EmailAddress, Date, State: "Suppressed"}``
  (campaignmonitor/createsend-python ``test/fixtures/*_subscribers.json``,
  ``suppressionlist.json``). A page is at most 1000 records; files of many pages stream.
* ``Spam`` (removed after a complaint) and ``Suppressed`` states: CM forum thread 636 [S].
  ``SuppressionReason`` values other than ``Unsubscribed`` are not documented [U]: a known
  word maps by name, any other is kept as a manual suppression flagged for review (it is a
  suppression whatever its reason; it is never dropped).
* Times are ``YYYY-MM-DD HH:MM:SS`` without a zone; which zone (the client's?) is [U]: they
  are marked ``local_assumed``. ``StateChangedDate`` (or ``Date``) is the time of the current
  state; ``ListJoinedDate`` the join.
* The CSV reader takes the same fields as columns (``EmailAddress``/``Email Address``,
  ``State``, ``StateChangedDate``/``Date``, ``SuppressionReason``); the UI's own export
  column names are not documented [U].
* Adding to the client suppression list (``POST /clients/{id}/suppress.json`` with
  ``EmailAddresses``, createsend-python ``client.py``; or the UI) takes addresses only: the
  reason and date are lost, a complaint or bounce becomes a plain suppression.

Mapping (§2.2): Active consented (evidence: the join date), Unconfirmed pending, Unsubscribed
unsubscribed, Bounced hard-bounced, Spam complained, Deleted manually suppressed with review
(an admin removal that people use for offline opt-outs), suppression list client-wide.
``ConsentToTrack`` is consent to tracking, not to marketing: kept as evidence only. The list
id is not in a page: subscriber states are scoped to ``list`` with no id (``--list`` names
it; a suppression without one is widened to global on import).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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

PROVIDER = "campaign-monitor"
LIST = Scope("list")
CLIENT = Scope("client")
Actor = Literal["recipient", "admin", "system", "unknown"]

#: Subscriber ``State`` (lower-cased): (state, actor, review).
STATES: dict[str, tuple[State, Actor, bool]] = {
    "active": (State.CONSENTED, "recipient", False),
    "unconfirmed": (State.PENDING, "recipient", False),
    "unsubscribed": (State.UNSUBSCRIBED, "unknown", False),
    "bounced": (State.HARD_BOUNCED, "system", False),
    "spam": (State.COMPLAINED, "recipient", False),
    "deleted": (State.MANUALLY_SUPPRESSED, "admin", True),
}
#: ``SuppressionReason`` words (lower-cased) known to mean a particular state.
REASONS: dict[str, tuple[State, Actor]] = {
    "unsubscribed": (State.UNSUBSCRIBED, "unknown"),
    "bounced": (State.HARD_BOUNCED, "system"),
    "hard bounce": (State.HARD_BOUNCED, "system"),
    "spam": (State.COMPLAINED, "recipient"),
    "spam complaint": (State.COMPLAINED, "recipient"),
    "complained": (State.COMPLAINED, "recipient"),
    "marked as spam": (State.COMPLAINED, "recipient"),
    "manual": (State.MANUALLY_SUPPRESSED, "admin"),
    "suppressed": (State.MANUALLY_SUPPRESSED, "admin"),
}


def _record(fields: dict[str, str], label: str, line: int) -> TransferRecord | RejectedRow:
    """One subscriber or suppression, from its fields by API name."""
    email = fields["EmailAddress"]
    raw = ", ".join(f"{k}={v}" for k, v in fields.items() if v)[:300]
    if not email:
        return RejectedRow(label, line, "no 'EmailAddress'", raw)
    status, reason = fields["State"], fields["SuppressionReason"]
    when = zoned(fields["StateChangedDate"] or fields["Date"])
    if reason or status.lower() == "suppressed":
        state, actor = REASONS.get(reason.lower(), (State.MANUALLY_SUPPRESSED, "unknown"))
        review = reason.lower() not in REASONS
        return TransferRecord(
            email=email, state=state, scope=CLIENT, file=label, line=line,
            original_status=f"Suppressed: {reason}" if reason else status, occurred=when,
            actor=actor, review=review, evidence=evidence(reason_text=reason),
        )  # fmt: skip
    if status.lower() not in STATES:
        return RejectedRow(label, line, f"unknown State {status!r}", raw)
    state, actor, review = STATES[status.lower()]
    joined = fields["ListJoinedDate"]
    found = evidence(
        optin_time=joined if state in (State.CONSENTED, State.PENDING) else "",
        list_joined=joined, consent_to_track=fields["ConsentToTrack"],
    )  # fmt: skip
    return TransferRecord(
        email=email, state=state, scope=LIST, file=label, line=line, original_status=status,
        occurred=when, actor=actor, review=review, evidence=found,
    )  # fmt: skip


FIELDS = (
    "EmailAddress", "State", "StateChangedDate", "Date", "ListJoinedDate",
    "SuppressionReason", "ConsentToTrack",
)  # fmt: skip


class CampaignMonitorJsonReader:
    name = "campaign-monitor-json"
    provider = PROVIDER
    description = (
        "Campaign Monitor API pages: list subscribers by state (active, unconfirmed, "
        "unsubscribed, bounced, deleted) and the client suppression list"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"Suppressions"' in head or '"Origin"' in head:
            return 0  # Postmark's suppression dump shares the field names
        if '"EmailAddress"' in head and '"State"' in head:
            return 90
        return 60 if '"Results"' in head and '"NumberOfPages"' in head else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        with source.open() as stream:
            for item in json_records(stream, label, [("Results",)]):
                if isinstance(item, JsonProblem):
                    yield RejectedRow(label, item.number, item.reason, item.raw)
                elif not isinstance(item.value, dict):
                    yield RejectedRow(label, item.number, "a result that is not a JSON object")
                else:
                    yield _record(_fields(item.value), label, item.number)


def _fields(value: dict[str, Any]) -> dict[str, str]:
    return {name: text(value.get(name)) for name in FIELDS}


EMAIL_COLUMNS = ("EmailAddress", "Email Address", "Email")
STATE_COLUMNS = ("State",)


class CampaignMonitorCsvReader:
    name = "campaign-monitor-csv"
    provider = PROVIDER
    description = (
        "Campaign Monitor subscribers or suppression list as CSV with the API's field names "
        "(EmailAddress, State, StateChangedDate/Date, SuppressionReason)"
    )

    def sniff(self, source: Source) -> int:
        header, _ = header_names(source)
        if "origin" in header:
            return 0  # Postmark's suppression fields
        state = pick(header, *STATE_COLUMNS)
        reason = "suppressionreason" in header
        if "emailaddress" in header and (state or reason):
            return 85
        if pick(header, "Email Address", "Email") and reason:
            return 75
        if pick(header, "Email Address", "Email") and state and pick(header, "StateChangedDate"):
            return 60
        return 0

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            columns = _columns(member_header(source, member), label)
            for row in open_csv(source, member, "a Campaign Monitor CSV", ()):
                if isinstance(row, RejectedRow):
                    yield row
                    continue
                fields = {name: row.first(c) if c else "" for name, c in columns.items()}
                record = _record(fields, label, row.line)
                if isinstance(record, RejectedRow):
                    record = RejectedRow(label, row.line, record.reason, row_text(row))
                yield record


def _columns(header: list[str], label: str) -> dict[str, str | None]:
    email = pick(header, *EMAIL_COLUMNS)
    state = pick(header, *STATE_COLUMNS)
    if email is None or (state is None and "suppressionreason" not in header):
        raise InputError(
            f"{label}: not a Campaign Monitor CSV: it needs an EmailAddress column and a State "
            "or SuppressionReason column"
        )
    found = {name: pick(header, name) for name in FIELDS}
    found["EmailAddress"], found["State"] = email, state
    return found


class CampaignMonitorSuppressionWriter:
    name = "campaign-monitor-suppression-csv"
    provider = PROVIDER
    description = (
        "Campaign Monitor client suppression list to add (EmailAddress, SuppressionReason, "
        "State): every suppression, client-wide; reasons and dates are not kept"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out) as writer:
            writer.writerow(["EmailAddress", "SuppressionReason", "State"])
            for r in records:
                if r.state not in SUPPRESSING:
                    report.drop(f"{r.state.value}: the suppression list carries no consents")
                    continue
                if r.state is not State.UNSUBSCRIBED:
                    report.widen(f"{r.state.value} -> suppressed (no reason kept)")
                if r.scope is not None:
                    report.widen("list suppression -> client suppression list")
                writer.writerow([r.email, "Unsubscribed", "Suppressed"])
                report.written += 1
        return report


READERS = [CampaignMonitorJsonReader(), CampaignMonitorCsvReader()]
WRITERS = [CampaignMonitorSuppressionWriter()]
