"""listmonk (self-hosted): the subscribers CSV export, the subscribers API JSON, and the
blocklist import (esp-formats.md §1.8, §2.2).

What was relied on (knadh/listmonk):

* The CSV export (``cmd/subscribers.go`` ``ExportSubscribers``) writes exactly
  ``uuid,email,name,attributes,status,created_at,updated_at``, ``status`` being the
  subscriber's ``enabled|disabled|blocklisted`` and the times Go's ``time.Time.String()``
  (``2024-05-01 10:00:00.123456 +0000 +0000``). It has **no per-list subscription status**: a
  subscriber who unsubscribed from every list is still ``enabled`` there. So an ``enabled``
  row is ``unknown`` and flagged for review, never consent; use the API JSON to migrate.
* ``GET /api/subscribers`` (docs/docs/content/apis/subscribers.md): ``{"data": {"results":
  [...], "total", "per_page", "page"}}``; a subscriber has ``email, status, created_at,
  updated_at`` and ``lists: [{id, name, optin?, subscription_status, subscription_created_at,
  ...}]`` with ``subscription_status`` ``unconfirmed|confirmed|unsubscribed`` (``schema.sql``).
  ``per_page=all`` gives one large page: it streams. ``GET /api/subscribers/{id}`` (``{"data":
  {...}}``) and bare arrays or JSON Lines of subscribers are read too.
* The import (``internal/subimporter/importer.go``, docs apis/import.md): known headers are
  ``email, name, attributes`` (any other column, ``status`` included, is ignored), a non-empty
  name is required, addresses are lower-cased, and ``mode`` is ``subscribe`` or ``blocklist``.

Mapping (§2.2): ``blocklisted`` unsubscribed instance-wide (the cause is unknown),
``disabled`` manually suppressed; per list ``confirmed`` consented, ``unconfirmed`` pending on
a double opt-in list and consented (no evidence beyond its time) on a single opt-in one,
pending when the list's opt-in kind is not in the file; ``unsubscribed`` unsubscribed from
that list. A blocklisted or disabled subscriber's list consents are not read as consents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from consentry.codecs.transfer.cells import (
    csv_members,
    csv_out,
    evidence,
    header_names,
    open_csv,
    row_text,
    text,
)
from consentry.codecs.transfer.json_stream import JsonProblem, json_head, json_records
from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.times import parse_time
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    Scope,
    State,
    TimeValue,
    TransferRecord,
)

PROVIDER = "listmonk"
INSTANCE = Scope("instance")
EXPORT_HEADER = ("uuid", "email", "name", "attributes", "status", "created_at", "updated_at")
#: Go's time.Time.String() with the zone written twice (``+0000 +0000``) or named (``UTC``).
_GO_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) ([+-]\d{4})"
    r"(?: (?:[+-]\d{4}|[A-Z]{2,5}))?(?: m=[+-][\d.]+)?\Z"
)


def go_time(raw: str) -> TimeValue | None:
    """A listmonk time: Go's ``time.Time.String()`` or RFC 3339; the raw text is kept."""
    match = _GO_TIME.match(raw.strip())
    if match is None:
        return parse_time(raw)
    value = parse_time(f"{match.group(1)} {match.group(2)}")
    return None if value is None else TimeValue(raw.strip(), value.at, value.assumption)


SUBSCRIBER: dict[str, tuple[State, str]] = {
    "enabled": (State.UNKNOWN, ""),
    "disabled": (State.MANUALLY_SUPPRESSED, "disabled by an admin"),
    "blocklisted": (State.UNSUBSCRIBED, "blocklisted: the cause is not in the file"),
}


class ListmonkCsvReader:
    name = "listmonk-subscribers-csv"
    provider = PROVIDER
    description = (
        "listmonk subscribers CSV export (uuid,email,name,attributes,status,...): "
        "subscriber status only, it LOSES per-list unsubscribes (use listmonk-api-json)"
    )

    def sniff(self, source: Source) -> int:
        header, _ = header_names(source)
        if not {"email", "attributes", "status"} <= set(header):
            return 0
        if "uuid" in header:
            return 95 if tuple(header) == EXPORT_HEADER else 90
        return 70

    def read(self, source: Source) -> Iterator[Item]:
        for member in csv_members(source):
            label = source.label(member)
            rows = open_csv(source, member, "a listmonk subscribers CSV", ("email", "status"))
            for row in rows:
                if isinstance(row, RejectedRow):
                    yield row
                    continue
                email, status = row.first("email"), row.first("status")
                if not email:
                    reason = "no address in column 'email'"
                    yield RejectedRow(label, row.line, reason, row_text(row))
                    continue
                if status.lower() not in SUBSCRIBER:
                    yield RejectedRow(
                        label, row.line, f"unknown status {status!r}", row_text(row)
                    )  # fmt: skip
                    continue
                state, note = SUBSCRIBER[status.lower()]
                enabled = state is State.UNKNOWN
                yield TransferRecord(
                    email=email, state=state, scope=INSTANCE, file=label, line=row.line,
                    original_status=status,
                    # updated_at is the best time the CSV has for a status change.
                    occurred=None if enabled else go_time(row.first("updated_at")),
                    actor="unknown" if state is not State.MANUALLY_SUPPRESSED else "admin",
                    review=enabled,
                    evidence=evidence(
                        reason_text=note, created_at=row.first("created_at"),
                        note="the CSV export has no per-list status: per-list unsubscribes "
                        "are not in this file" if enabled else "",
                    ),
                )  # fmt: skip


class ListmonkJsonReader:
    name = "listmonk-api-json"
    provider = PROVIDER
    description = (
        "listmonk subscribers from the API (GET /api/subscribers pages, with each list's "
        "subscription_status): the lossless listmonk export"
    )

    def sniff(self, source: Source) -> int:
        if source.is_zip:
            return 0
        head = json_head(source.head())
        if '"subscription_status"' in head:
            return 90
        return 75 if '"uuid"' in head and '"attribs"' in head and '"status"' in head else 0

    def read(self, source: Source) -> Iterator[Item]:
        label = source.label()
        paths = [("data", "results"), ("data",), ("results",)]
        with source.open() as stream:
            for item in json_records(stream, label, paths):
                if isinstance(item, JsonProblem):
                    yield RejectedRow(label, item.number, item.reason, item.raw)
                else:
                    yield from _subscriber(item.value, label, item.number)


def _subscriber(value: Any, label: str, number: int) -> Iterator[Item]:
    if not isinstance(value, dict):
        yield RejectedRow(label, number, "a subscriber that is not a JSON object")
        return
    email, status = text(value.get("email")), text(value.get("status"))
    if not email:
        yield RejectedRow(label, number, "no 'email'", str(value)[:300])
        return
    if status.lower() not in SUBSCRIBER:
        yield RejectedRow(label, number, f"unknown status {status!r}", str(value)[:300])
        return
    state, note = SUBSCRIBER[status.lower()]
    if state is not State.UNKNOWN:
        yield TransferRecord(
            email=email, state=state, scope=INSTANCE, file=label, line=number,
            original_status=status, occurred=go_time(text(value.get("updated_at"))),
            actor="admin" if state is State.MANUALLY_SUPPRESSED else "unknown",
            evidence=evidence(reason_text=note),
        )  # fmt: skip
    lists = value.get("lists") or []
    read = 0
    for entry in lists if isinstance(lists, list) else []:
        item = _subscription(email, entry, label, number, suppressed=state is not State.UNKNOWN)
        if item is not None:
            read += 1
            yield item
    if state is State.UNKNOWN and read == 0:
        yield TransferRecord(
            email=email, state=State.UNKNOWN, scope=INSTANCE, file=label, line=number,
            original_status=f"{status}, in no list",
        )  # fmt: skip


def _subscription(email: str, entry: Any, label: str, number: int, suppressed: bool) -> Item | None:
    if not isinstance(entry, dict):
        return RejectedRow(label, number, "a list entry that is not a JSON object")
    status = text(entry.get("subscription_status")).lower()
    list_id, list_name = text(entry.get("id")), text(entry.get("name"))
    scope = Scope("list", list_id or None, list_name or None)
    meta = entry.get("subscription_meta", entry.get("meta"))
    ip = text(meta.get("optin_ip")) if isinstance(meta, dict) else ""
    created = text(entry.get("subscription_created_at"))
    optin = text(entry.get("optin")).lower()
    if status == "unsubscribed":
        return TransferRecord(
            email=email, state=State.UNSUBSCRIBED, scope=scope, file=label, line=number,
            original_status="unsubscribed",
            occurred=go_time(text(entry.get("subscription_updated_at"))),
        )  # fmt: skip
    if status not in ("confirmed", "unconfirmed"):
        return RejectedRow(
            label, number, f"list {list_name or list_id!r}: unknown subscription_status "
            f"{entry.get('subscription_status')!r}",
        )  # fmt: skip
    if suppressed:
        return None  # a blocklisted or disabled subscriber is not mailed on any list
    if status == "confirmed":
        state, note = State.CONSENTED, ""
    elif optin == "single":
        state, note = State.CONSENTED, "unconfirmed on a single opt-in list (listmonk mails it)"
    elif optin == "double":
        state, note = State.PENDING, ""
    else:
        state, note = State.PENDING, "unconfirmed; the list's opt-in kind is not in the file"
    return TransferRecord(
        email=email, state=state, scope=scope, file=label, line=number,
        original_status=f"{status} ({optin})" if optin else status, occurred=go_time(created),
        actor="recipient",
        evidence=evidence(optin_time=created, optin_ip=ip, note=note),
    )  # fmt: skip


def _name(email: str) -> str:
    """listmonk refuses an empty name: the address's local part stands in."""
    local = email.rpartition("@")[0]
    return local or email


class ListmonkBlocklistWriter:
    name = "listmonk-blocklist-csv"
    provider = PROVIDER
    description = (
        "listmonk subscriber import for the blocklist (email,name,attributes,status): import "
        "with mode=blocklist, delim ','; suppressions only, all instance-wide"
    )
    suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        with csv_out(out) as writer:
            # ``status`` is ignored by listmonk's importer; it lets the file be read back.
            writer.writerow(["email", "name", "attributes", "status"])
            for r in records:
                if r.state not in SUPPRESSING:
                    report.drop(f"{r.state.value}: a blocklist import carries no consents")
                    continue
                if r.state is not State.UNSUBSCRIBED:
                    report.widen(f"{r.state.value} -> blocklisted (no reason kept)")
                if r.scope is not None:
                    report.widen("list suppression -> blocklisted (instance-wide)")
                writer.writerow([r.email, _name(r.email), "{}", "blocklisted"])
                report.written += 1
        return report


READERS = [ListmonkCsvReader(), ListmonkJsonReader()]
WRITERS = [ListmonkBlocklistWriter()]
