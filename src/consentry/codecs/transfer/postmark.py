"""Postmark suppressions of one message stream: read the suppression dump, write the bodies
of the create-suppressions API.

Sources: postmarkapp.com/developer/api/suppressions-api (``GET
/message-streams/{stream_id}/suppressions/dump`` returns ``{"Suppressions": [{EmailAddress,
SuppressionReason, Origin, CreatedAt}]}``; reasons ``HardBounce``, ``SpamComplaint``,
``ManualSuppression``; origins ``Recipient``, ``Customer``, ``Admin``; ``CreatedAt`` ISO 8601
with an offset) [V]; ``wildbit/postmark-php`` wiki "Managing Suppressions" (suppressions created
through the API get origin ``Customer`` and reason ``ManualSuppression``, and take about a
minute) [V]; ``ActiveCampaign/postmark.js`` ``Suppression.ts`` (the create request is
``{"Suppressions": [{"EmailAddress": ...}]}``) [V]; at most 50 addresses a request [S, a
third-party client's comment].

Reader ``postmark-suppressions-json``: the dump (one stream's; several dumps or request bodies
may follow one another in the file), streamed. ``HardBounce``: hard-bounced; ``SpamComplaint``:
complained; ``ManualSuppression`` with origin ``Recipient`` (an unsubscribe link on a broadcast
stream): unsubscribed; with ``Customer`` or ``Admin`` (Postmark staff), or with no origin
(flagged for review): manually-suppressed. An entry with only ``EmailAddress`` (a
create-request body) is what Postmark makes of it: manually-suppressed, origin Customer. An
unknown reason or origin is rejected by record. The scope is ``stream``; the dump does not name
its stream (it is in the request path), so the stream has no id and the import widens it.

Writer ``postmark-suppressions-json``: create-request bodies, one per line, at most 50
addresses each (post each line to ``/message-streams/{stream}/suppressions``, for every stream
that must be protected). Postmark makes every one ``ManualSuppression`` / ``Customer`` at
import time: a hard bounce, a complaint or an unsubscribe loses its reason (counted as a
widening); a list-scoped suppression applies to the whole stream (widening). Consents are not
written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Literal

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.suppression_io import (
    head_text,
    json_elements,
    not_utf8,
    parts,
    raw_json,
    scalar,
    time_note,
)
from consentry.codecs.transfer.times import parse_time
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

PROVIDER = "postmark"
STREAM = Scope("stream")
KEY = "Suppressions"
BATCH = 50
MANUAL = "ManualSuppression"
Actor = Literal["recipient", "admin", "system", "unknown"]

_REASONS: dict[str, tuple[State, Actor]] = {
    "HardBounce": (State.HARD_BOUNCED, "system"),
    "SpamComplaint": (State.COMPLAINED, "recipient"),
}
_ORIGINS: dict[str, tuple[State, Actor]] = {
    "Recipient": (State.UNSUBSCRIBED, "recipient"),
    "Customer": (State.MANUALLY_SUPPRESSED, "admin"),
    "Admin": (State.MANUALLY_SUPPRESSED, "admin"),
}


def _record(value: object, label: str, number: int) -> Item:
    raw = raw_json(value)
    bad = not_utf8(value)
    if bad:
        return RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw)
    if not isinstance(value, dict):
        return RejectedRow(label, number, "the suppression is not a JSON object", raw)
    email = scalar(value.get("EmailAddress"))
    if not email:
        return RejectedRow(label, number, "no 'EmailAddress'", raw)
    if "@" not in email:
        return RejectedRow(label, number, f"'EmailAddress' value {email!r} is not an address", raw)
    reason = scalar(value.get("SuppressionReason")) or MANUAL
    origin = scalar(value.get("Origin")) or ("Customer" if "SuppressionReason" not in value else "")
    if reason in _REASONS:
        state, actor = _REASONS[reason]
    elif reason != MANUAL:
        return RejectedRow(label, number, f"'SuppressionReason' value {reason!r} is unknown", raw)
    elif origin in _ORIGINS:
        state, actor = _ORIGINS[origin]
    elif not origin:
        state, actor = State.MANUALLY_SUPPRESSED, "unknown"
    else:
        return RejectedRow(label, number, f"'Origin' value {origin!r} is unknown", raw)
    when = scalar(value.get("CreatedAt"))
    occurred = parse_time(when)
    evidence = time_note("CreatedAt", occurred)
    if origin:
        evidence["origin"] = origin
    return TransferRecord(
        email=email, state=state, scope=STREAM, file=label, line=number,
        original_status=f"{reason}/{origin}" if origin else reason, occurred=occurred,
        actor=actor, evidence=evidence, review=not origin,  # a manual suppression of no origin
    )  # fmt: skip


class SuppressionsReader:
    name = "postmark-suppressions-json"
    provider = PROVIDER
    description = "Postmark suppressions of one message stream (the dump JSON, or request bodies)"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 4096).lstrip()
        if not text.startswith("{") or f'"{KEY}"' not in text:
            return 0
        sure = '"EmailAddress"' in text or f'"{KEY}":[]' in text.replace(" ", "")
        return 95 if sure else 60

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                # empty_ok: the writer's file for no suppressions holds no request
                for item in json_elements(stream, label, KEY, self.name, empty_ok=True):
                    if isinstance(item, RejectedRow):
                        yield item
                    else:
                        yield _record(item[1], label, item[0])


READERS = [SuppressionsReader()]


class SuppressionsWriter:
    name = "postmark-suppressions-json"
    provider = PROVIDER
    description = (
        "Postmark create-suppressions request bodies, one per line (<= 50 addresses): every "
        "suppression becomes ManualSuppression/Customer"
    )
    suffix = ".jsonl"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        batch: list[str] = []
        for record in records:
            if record.state not in SUPPRESSING:
                report.drop(f"{record.state.value} (Postmark suppressions hold no consent)")
                continue
            if record.state is not State.MANUALLY_SUPPRESSED:
                report.widen(f"{record.state.value} -> ManualSuppression (origin Customer)")
            if record.scope is not None:
                report.widen(f"list-scoped {record.state.value} -> the whole message stream")
            batch.append(record.email)
            report.written += 1
            if len(batch) == BATCH:
                out.write(_body(batch))
                batch.clear()
        if batch:
            out.write(_body(batch))
        return report


def _body(emails: list[str]) -> bytes:
    body = {KEY: [{"EmailAddress": email} for email in emails]}
    return json.dumps(body, ensure_ascii=False).encode() + b"\n"


WRITERS = [SuppressionsWriter()]
