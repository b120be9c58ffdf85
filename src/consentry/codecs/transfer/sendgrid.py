"""SendGrid (Twilio) suppression lists: read every list; the registry's entry for SendGrid (the
writers and the requests file are in ``sendgrid_export``, the times in ``sendgrid_times``).

Sources: the OpenAPI spec ``twilio/sendgrid-oai`` ``spec/json/tsg_suppressions_v3.json`` (the
v3 list endpoints and their documented examples) [V]; the UI CSV exports as the SparkPost
migration guide describes them (``SparkPost/sparkpost-cli`` ``sendgrid-suppressions.md``:
unsubscribes and group exports ``email,created``; bounces add ``status,reason``; invalid emails
``reason``; spam reports ``ip``) [S]; the legacy v2 API (``created`` as ``YYYY-MM-DD HH:MM:SS``
in the Pacific time zone) [V]. Unverified: the column order and the text of ``created`` in the
UI CSV exports: columns are taken by name, ``created`` may be Unix seconds, ISO 8601 or a naive
time (ISO or US ``M/D/YYYY h:mm AM``), read as US Pacific time (``local_assumed``), as v2 wrote
it. A time that cannot be read keeps its record (a suppression holds without its time):
``occurred`` keeps the raw text, ``evidence["time_unreadable"]`` says so.

Readers, one per list and shape (``--format``):

* ``sendgrid-<list>-csv`` (UI exports) and ``sendgrid-<list>-json`` (the v3 API's JSON array
  pages, one or several appended), for ``unsubscribes`` (global: unsubscribed, account scope),
  ``group-unsubscribes`` (``/v3/asm/suppressions``: unsubscribed, scope the group id and name;
  the per-group endpoint's bare array of addresses names no group: scope ``group`` without an
  id, which the import widens), ``bounces`` (enhanced status 5.x.x: hard-bounced; 4.x.x:
  unknown, a temporary failure is not a suppression; no status: the class of the code in the
  reason, else hard-bounced and flagged for review, since SendGrid listed it), ``blocks``
  (temporary refusals: unknown, never a suppression), ``spam-reports`` (complained; ``ip`` is
  the *sending* IP) and ``invalid-emails`` (hard-bounced).
* ``sendgrid-asm-requests-jsonl``: what the writer of that name writes, read back.

Bounces and blocks have the same columns; the file name (``block``) tells them apart, and
without it the file is read as bounces (a 5.x.x block then counts as a hard bounce: more
suppression, never less). A file with only ``email,created`` is a global unsubscribe list unless
its name says ``group`` (a group export read as global widens; the reverse would narrow).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from consentry.codecs.transfer.sendgrid_export import (
    ACCOUNT,
    PROVIDER,
    RequestsReader,
    RequestsWriter,
    UnsubscribesCSVWriter,
)
from consentry.codecs.transfer.sendgrid_times import created_time
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
from consentry.codecs.transfer.table import header_of
from consentry.domain.transfer import Item, RejectedRow, Scope, State, TransferRecord

Get = Callable[..., str]
Actor = Literal["recipient", "admin", "system", "unknown"]


@dataclass(frozen=True)
class _List:
    slug: str
    title: str
    words: tuple[str, ...]  # file-name words that name it


UNSUBSCRIBES = _List("unsubscribes", "global unsubscribes", ("unsub", "global"))
GROUPS = _List("group-unsubscribes", "group (ASM) unsubscribes", ("group", "asm"))
BOUNCES = _List("bounces", "bounces", ("bounce",))
BLOCKS = _List("blocks", "blocks", ("block",))
SPAM = _List("spam-reports", "spam reports", ("spam",))
INVALID = _List("invalid-emails", "invalid emails", ("invalid",))
LISTS = (GROUPS, UNSUBSCRIBES, BOUNCES, BLOCKS, SPAM, INVALID)  # name hints checked in order
#: Every column (or key) of every list: a file with others is not a SendGrid list.
COLUMNS = {"email", "created", "created_at", "status", "reason", "ip", "group_id", "group_name"}

_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}\Z")
_ENHANCED_IN_TEXT = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_BASIC_IN_TEXT = re.compile(r"^\s*([245])\d\d\b")
_KEYS = re.compile(r'"([A-Za-z_]+)"\s*:')


# ---------------------------------------------------------------------------- reading


def _hint(file_name: str) -> _List | None:
    name = file_name.lower()
    return next((lst for lst in LISTS if any(w in name for w in lst.words)), None)


def _shape(names: set[str]) -> tuple[_List, ...]:
    """The lists whose columns (or JSON keys) these are; () when it is not a SendGrid list."""
    if "email" not in names or not names <= COLUMNS:
        return ()
    if names & {"group_id", "group_name"}:
        return (GROUPS,)
    if "ip" in names:
        return (SPAM,)
    if {"status", "reason"} <= names:
        return (BOUNCES, BLOCKS)
    if "reason" in names:
        return (INVALID,)
    if names <= {"email", "created", "created_at"}:
        return LISTS
    return ()


def _score(lst: _List, names: set[str], file_name: str) -> int:
    shape = _shape(names)
    if lst not in shape:
        return 0
    hint = _hint(file_name)
    if len(shape) == 1:
        return 85 if lst is GROUPS else 80
    if shape == (BOUNCES, BLOCKS):
        if hint is BLOCKS:
            return 85 if lst is BLOCKS else 20
        return 75 if lst is BOUNCES else 20
    # only email[, created]: the name decides, else a global unsubscribe list
    timed = bool(names & {"created", "created_at"})
    if hint is not None:
        return (70 if timed else 60) if lst is hint else 20
    if lst is UNSUBSCRIBES:
        return 65 if timed else 40
    return 20


def _status_class(status: str, reason: str) -> str | None:
    if status:
        return status[0]
    found = _ENHANCED_IN_TEXT.search(reason) or _BASIC_IN_TEXT.search(reason)
    return found.group(1) if found else None


def _record(lst: _List, get: Get, label: str, line: int, raw: str) -> Item:
    email = get("email")
    if not email:
        return RejectedRow(label, line, "no address in 'email'", raw)
    if "@" not in email:
        return RejectedRow(label, line, f"'email' value {email!r} is not an address", raw)
    field = "created_at" if get("created_at") else "created"
    occurred = created_time(get(field))
    evidence = time_note(field, occurred)
    if occurred is not None and occurred.assumption == "local_assumed":
        evidence["time_zone_assumed"] = "America/Los_Angeles"
    actor: Actor = "unknown"
    scope, state, original, review = ACCOUNT, State.UNSUBSCRIBED, "", False
    if lst is UNSUBSCRIBES:
        original = "global unsubscribe"
    elif lst is GROUPS:
        group_id, group_name = get("group_id"), get("group_name")
        scope = Scope("group", group_id or None, group_name or None)
        original = "group unsubscribe"
        named = (("group_id", group_id), ("group_name", group_name))
        evidence.update({k: v for k, v in named if v})
    elif lst in (BOUNCES, BLOCKS):
        status, reason = get("status"), get("reason")
        if status and not _ENHANCED.match(status):
            return RejectedRow(
                label, line, f"'status' value {status!r} is not an enhanced status code", raw
            )
        evidence.update({k: v for k, v in (("smtp_status", status), ("diagnostic", reason)) if v})
        klass = _status_class(status, reason)
        actor = "system"
        if lst is BLOCKS:
            state, original = State.UNKNOWN, "block"
        elif klass == "4":
            state, original = State.UNKNOWN, "bounce (temporary, 4.x.x)"
        elif klass in ("5", None):
            state, original = State.HARD_BOUNCED, "bounce"
            review = klass is None
            if review:
                evidence["note"] = "no status: SendGrid listed it as a bounce"
        else:
            return RejectedRow(label, line, f"a bounce with success status {status!r}", raw)
    elif lst is SPAM:
        state, actor, original = State.COMPLAINED, "recipient", "spam report"
        if get("ip"):
            evidence["sending_ip"] = get("ip")
    else:
        state, actor, original = State.HARD_BOUNCED, "system", "invalid email"
        if get("reason"):
            evidence["reason_text"] = get("reason")
    return TransferRecord(
        email=email, state=state, scope=scope, file=label, line=line, original_status=original,
        occurred=occurred, actor=actor, evidence=evidence, review=review,
    )  # fmt: skip


class ListCSVReader:
    """A UI CSV export of one suppression list."""

    def __init__(self, lst: _List) -> None:
        self.list = lst
        self.name = f"{PROVIDER}-{lst.slug}-csv"
        self.provider = PROVIDER
        self.description = f"SendGrid {lst.title}, CSV export (email, created, ...)"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 4096)
        if not text or text.lstrip()[:1] in ("[", "{"):
            return 0
        return _score(self.list, set(header_of(text.encode())), source.name)

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for row in csv_rows(stream, label, ("email",), self.name):
                    if isinstance(row, RejectedRow):
                        yield row
                        continue
                    raw = printable(",".join(row.values))
                    yield _record(self.list, row.first, label, row.line, raw)


class ListJSONReader:
    """The v3 API's JSON array of one suppression list (pages may follow one another)."""

    def __init__(self, lst: _List) -> None:
        self.list = lst
        self.name = f"{PROVIDER}-{lst.slug}-json"
        self.provider = PROVIDER
        self.description = f"SendGrid {lst.title}, v3 API JSON array"

    def sniff(self, source: Source) -> int:
        text = head_text(source, 4096).lstrip()
        if not text.startswith("["):
            return 0
        first = text[1:].lstrip()
        if first.startswith('"'):  # the per-group endpoint: a bare array of addresses
            if self.list is not GROUPS or "@" not in first.split(",", 1)[0]:
                return 0
            return 70 if _hint(source.name) is GROUPS else 55
        if not first.startswith("{"):
            return 0
        names = set(_KEYS.findall(first.split("}", 1)[0]))
        return _score(self.list, names, source.name)

    def read(self, source: Source) -> Iterator[Item]:
        for member, label in parts(source):
            with source.open(member) as stream:
                for item in json_elements(stream, label, None, self.name):
                    if isinstance(item, RejectedRow):
                        yield item
                        continue
                    number, value = item
                    yield self._element(value, label, number)

    def _element(self, value: object, label: str, number: int) -> Item:
        bad = not_utf8(value)
        if bad:
            return RejectedRow(label, number, f"field {bad!r} is not UTF-8", raw_json(value))
        if isinstance(value, str) and self.list is GROUPS:
            value = {"email": value}
        if not isinstance(value, dict):
            return RejectedRow(label, number, "the record is not a JSON object", raw_json(value))
        obj = value

        def get(*names: str) -> str:
            return next((v for v in (scalar(obj.get(n)) for n in names) if v), "")

        return _record(self.list, get, label, number, raw_json(obj))


READERS: list[ListCSVReader | ListJSONReader | RequestsReader] = [
    *(ListCSVReader(lst) for lst in LISTS),
    *(ListJSONReader(lst) for lst in LISTS),
    RequestsReader(),
]
WRITERS: list[UnsubscribesCSVWriter | RequestsWriter] = [UnsubscribesCSVWriter(), RequestsWriter()]
