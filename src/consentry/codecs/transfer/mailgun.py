"""Mailgun suppression lists (bounces, unsubscribes, complaints) of one sending domain: read
their CSV and API JSON, write the CSVs Mailgun's import takes.

Sources: ``mailgun/documentation`` ``source/api-suppressions.rst`` (the three lists are per
sending domain, not account-wide; list responses ``{"items": [...], "paging": {first, next,
previous, last}}`` in alphabetical order; bounce items ``address, code, error, created_at``;
unsubscribe items ``address, tag`` (older) or ``tags`` (``*`` = all the domain's mail);
complaint items ``address, created_at``; times in RFC 2822, e.g. ``Fri, 21 Oct 2011 11:02:55
GMT``; the bounce list holds permanent failures only) [V]; documentation.mailgun.com's import
pages (CSV ≤ 25 MB with headers ``address,code,error,created_at``, ``address,tags,created_at``
and ``address,created_at``; every column but ``address`` optional: code 550, tags ``*``,
created_at now) [V]. The older page's unsubscribe import header ``address,tag,created_at`` is
read too. Unverified: how an export writes several tags in one CSV field (read as a JSON array
or a comma-separated list).

Readers: ``mailgun-{bounces,unsubscribes,complaints}-{csv,json}``. Bounces are hard-bounced
(a 4xx code is flagged for review); complaints complained; an unsubscribe with tag ``*`` (or
none) is unsubscribed from the whole domain, one with other tags unsubscribed from each tag
(scope ``tag``). The domain is the scope; the JSON pages name it in their paging links (read
from the first and last bytes of the file), the CSVs do not (scope ``domain`` without an id,
which the import widens).

Writers: ``mailgun-bounces-csv``, ``mailgun-unsubscribes-csv``, ``mailgun-complaints-csv``.
Mailgun keeps code, error, tags and created_at, so each list's own states go over exactly. Every
Mailgun list stops all the domain's mail to the address, so each writer is complete on its own:
the other suppressions are written into it too, counted as widenings (into the unsubscribes
file as tag ``*``; a consentry list is not a Mailgun tag, so a list-scoped suppression is
widened to ``*`` as well). Writing the unsubscribes file alone carries every suppression;
writing all three keeps each reason, with the other lists' addresses repeated. Import the files
into every sending domain. Consents are not written.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from typing import BinaryIO

from consentry.codecs.transfer.source import Source
from consentry.codecs.transfer.suppression_io import (
    csv_rows,
    head_text,
    json_elements,
    not_utf8,
    parts,
    printable,
    raw_json,
    scalar,
    time_note,
)
from consentry.codecs.transfer.table import header_of, split_list
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

PROVIDER = "mailgun"
ALL = "*"
_CODE = re.compile(r"[245]\d\d\Z")
_URL = re.compile(r"/v3/([A-Za-z0-9.-]+\.[A-Za-z0-9-]+)/(bounces|unsubscribes|complaints)\b")
_KEYS = re.compile(r'"([A-Za-z_]+)"\s*:')

Get = Callable[..., str]


@dataclass(frozen=True)
class _List:
    slug: str
    state: State
    columns: tuple[str, ...]  # the import header
    word: str  # in file names and paging links


BOUNCES = _List("bounces", State.HARD_BOUNCED, ("address", "code", "error", "created_at"), "bounce")
UNSUBSCRIBES = _List("unsubscribes", State.UNSUBSCRIBED, ("address", "tags", "created_at"), "unsub")
COMPLAINTS = _List("complaints", State.COMPLAINED, ("address", "created_at"), "complain")
LISTS = (BOUNCES, UNSUBSCRIBES, COMPLAINTS)
COLUMNS = {"address", "code", "error", "created_at", "tags", "tag"}


def _hint(text: str) -> _List | None:
    name = text.lower()
    return next((lst for lst in LISTS if lst.word in name), None)


def _by_names(names: set[str], strict: bool) -> _List | bool | None:
    """The list these columns (``strict``: nothing else allowed) or JSON keys are (False: not a
    Mailgun list; None: can't tell which)."""
    if "address" not in names or (strict and not names <= COLUMNS):
        return False
    if names & {"code", "error"}:
        return BOUNCES
    if names & {"tags", "tag"}:
        return UNSUBSCRIBES
    if names <= {"address", "created_at"}:
        return None
    return False


# ---------------------------------------------------------------------------- reading


def _tags(value: object) -> list[str]:
    if isinstance(value, list):
        return [scalar(v) for v in value if scalar(v)]
    text = scalar(value)
    if text.startswith("["):
        try:
            return _tags(json.loads(text))
        except ValueError:
            pass
    return split_list(text)


def _records(
    lst: _List, get: Get, tags: list[str], domain: str | None, label: str, line: int, raw: str
) -> Iterator[Item]:
    email = get("address")
    if not email:
        yield RejectedRow(label, line, "no address in 'address'", raw)
        return
    if "@" not in email:
        yield RejectedRow(label, line, f"'address' value {email!r} is not an address", raw)
        return
    occurred = parse_time(get("created_at"))
    scope = Scope("domain", domain, domain)
    evidence = time_note("created_at", occurred)
    if domain:
        evidence["domain"] = domain
    if lst is BOUNCES:
        code, error = get("code"), get("error")
        if code and not _CODE.match(code):
            yield RejectedRow(label, line, f"'code' value {code!r} is not an SMTP reply code", raw)
            return
        evidence.update({k: v for k, v in (("smtp_status", code), ("diagnostic", error)) if v})
        yield TransferRecord(
            email=email, state=State.HARD_BOUNCED, scope=scope, file=label, line=line,
            original_status="bounce", occurred=occurred, actor="system", evidence=evidence,
            review=code.startswith("4"),
        )  # fmt: skip
    elif lst is UNSUBSCRIBES:
        if not tags or ALL in tags:
            scopes = [(scope, "unsubscribe (*)")]
        else:
            scopes = [(Scope("tag", tag, tag), f"unsubscribe (tag {tag})") for tag in tags]
        for each, original in scopes:
            yield TransferRecord(
                email=email, state=State.UNSUBSCRIBED, scope=each, file=label, line=line,
                original_status=original, occurred=occurred, evidence=evidence,
            )  # fmt: skip
    else:
        yield TransferRecord(
            email=email, state=State.COMPLAINED, scope=scope, file=label, line=line,
            original_status="complaint", occurred=occurred, actor="recipient", evidence=evidence,
        )  # fmt: skip


class ListCSVReader:
    def __init__(self, lst: _List) -> None:
        self.list = lst
        self.name = f"{PROVIDER}-{lst.slug}-csv"
        self.provider = PROVIDER
        self.description = f"Mailgun {lst.slug} of one domain, CSV ({','.join(lst.columns)})"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 4096)
        if not text or text.lstrip()[:1] in ("[", "{"):
            return 0
        names = set(header_of(text.encode()))
        found = _by_names(names, strict=True)
        if found is False:
            return 0
        if found is not None:
            return 85 if found is self.list else 0
        hint = _hint(source.name)
        timed = "created_at" in names
        if hint is not None:
            return (70 if timed else 60) if hint is self.list else 20
        if self.list is COMPLAINTS:
            return 65 if timed else 30
        return 20

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for row in csv_rows(stream, label, ("address",), self.name):
                    if isinstance(row, RejectedRow):
                        yield row
                        continue
                    tags = _tags(row.first("tags", "tag"))
                    raw = printable(",".join(row.values))
                    yield from _records(self.list, row.first, tags, None, label, row.line, raw)


def _domain(source: Source, member: str | None) -> str | None:
    """The sending domain, from the paging links at the start or the end of the file."""
    head = source.head(member, 65536)
    with source.open(member) as stream:
        try:
            stream.seek(0, io.SEEK_END)
            end = stream.tell()
            stream.seek(max(0, end - 8192))
            tail = stream.read(8192)
        except (OSError, ValueError):
            tail = b""
    for chunk in (tail, head):
        found = _URL.search(chunk.decode("utf-8", "replace"))
        if found:
            return found.group(1).lower()
    return None


class ListJSONReader:
    def __init__(self, lst: _List) -> None:
        self.list = lst
        self.name = f"{PROVIDER}-{lst.slug}-json"
        self.provider = PROVIDER
        self.description = f"Mailgun {lst.slug} of one domain, API JSON pages ({{items, paging}})"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 8192).lstrip()
        if not text.startswith("{") or '"items"' not in text:
            return 0
        items = text.split('"items"', 1)[1].lstrip(" \t\r\n:").lstrip()
        found: _List | bool | None = None
        if items.startswith("[") and items[1:].lstrip().startswith("{"):
            found = _by_names(set(_KEYS.findall(items.split("}", 1)[0])), strict=False)
            if found is False:
                return 0
        link = _URL.search(text)
        if found is None:
            found = _hint(link.group(2)) if link else _hint(source.name)
            if found is None:
                return 0
            score = 85 if link or '"address"' in items[:200] else 60
        else:
            score = 90
        return score if found is self.list else 0

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            domain = _domain(source, member)
            with source.open(member) as stream:
                for item in json_elements(stream, label, "items", self.name):
                    if isinstance(item, RejectedRow):
                        yield item
                        continue
                    number, value = item
                    yield from self._item(value, domain, label, number)

    def _item(self, value: object, domain: str | None, label: str, number: int) -> Iterator[Item]:
        raw = raw_json(value)
        bad = not_utf8(value)
        if bad:
            yield RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw)
            return
        if not isinstance(value, dict):
            yield RejectedRow(label, number, "the item is not a JSON object", raw)
            return
        obj = value

        def get(*names: str) -> str:
            return next((v for v in (scalar(obj.get(n)) for n in names) if v), "")

        tags = _tags(obj.get("tags", obj.get("tag")))
        yield from _records(self.list, get, tags, domain, label, number, raw)


READERS: list[ListCSVReader | ListJSONReader] = [
    *(ListCSVReader(lst) for lst in LISTS),
    *(ListJSONReader(lst) for lst in LISTS),
]


# ---------------------------------------------------------------------------- writing


def _rfc2822(record: ExportRecord) -> str:
    return format_datetime(record.at.astimezone(UTC), usegmt=True) if record.at else ""


def _code(record: ExportRecord) -> str:
    status = record.evidence.get("smtp_status", "")
    if _CODE.match(status):
        return status
    enhanced = re.match(r"([245])\.\d{1,3}\.\d{1,3}\Z", status)
    return f"{enhanced.group(1)}50" if enhanced else "550"


class ListCSVWriter:
    def __init__(self, lst: _List) -> None:
        self.list = lst
        self.name = f"{PROVIDER}-{lst.slug}-csv"
        self.provider = PROVIDER
        self.description = (
            f"Mailgun {lst.slug} import CSV ({','.join(lst.columns)}); "
            "other suppressions widened into it"
        )
        self.suffix = ".csv"

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        report = ExportReport()
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.list.columns)
        for record in records:
            if record.state not in SUPPRESSING:
                report.drop(f"{record.state.value} (Mailgun suppression lists hold no consent)")
                continue
            if record.state is not self.list.state:
                report.widen(f"{record.state.value} -> {self.list.slug} (Mailgun {self.name})")
            if record.scope is not None:
                report.widen(f"list-scoped {record.state.value} -> the whole domain")
            writer.writerow(self._row(record))
            report.written += 1
        text.flush()
        text.detach()
        return report

    def _row(self, record: ExportRecord) -> list[str]:
        when = _rfc2822(record)
        if self.list is BOUNCES:
            if record.state is State.HARD_BOUNCED:
                error = record.evidence.get("diagnostic") or record.evidence.get("reason_text", "")
                return [record.email, _code(record), error, when]
            return [record.email, "550", f"suppressed in consentry: {record.state.value}", when]
        if self.list is UNSUBSCRIBES:
            return [record.email, ALL, when]
        return [record.email, when]


WRITERS: list[ListCSVWriter] = [ListCSVWriter(lst) for lst in LISTS]
