"""Ledger leaves: their kinds, their fields and their canonical encoding (format version 1).

A leaf is one JSON object, encoded canonically so that a third party can re-derive the exact bytes
that were hashed into the Merkle tree (``docs/ledger-format.md`` is the normative description):

* keys sorted, no insignificant white space, UTF-8, no floating-point numbers; for the values
  consentry writes this is exactly RFC 8785 (JCS);
* every leaf has the envelope ``v`` (format version), ``seq`` (its 0-based index in the ledger),
  ``kind`` (a stable kebab-case string) and ``at`` (server time, RFC 3339 UTC with microseconds);
* the other keys are the kind's fields, checked against :data:`SCHEMAS`.

No personal data goes into a leaf: subjects are keyed HMAC references and evidence is referenced
by the SHA-256 of a blob kept in an erasable side table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from consentry.domain.errors import InvalidLeaf

FORMAT_VERSION: Final = 1
ENVELOPE: Final = frozenset({"v", "seq", "kind", "at"})

# Field type tags used by the schemas.
STR, OPT_STR, INT, OPT_INT, BOOL, OBJ, OPT_OBJ, TIME, OPT_TIME, HASH, OPT_HASH = (
    "str", "str?", "int", "int?", "bool", "obj", "obj?", "time", "time?", "hash", "hash?",
)  # fmt: skip

_CONSENT_FIELDS: Final = {
    "record": STR,
    "subject": HASH,
    "controller": STR,
    "list": STR,
    "channel": STR,
    "basis": STR,
    "jurisdiction": STR,
    "language": STR,
    "notice": HASH,
    "form_version": OPT_STR,
    "method": STR,
    "valid_until": OPT_TIME,
    "actor": STR,
    "source": STR,
    "evidence": OPT_HASH,
    "facts": OBJ,
}

#: Field schema of every leaf kind. A ``?`` type may be null but the key must be present, so that
#: every leaf of a kind has the same keys.
SCHEMAS: Final[Mapping[str, Mapping[str, str]]] = {
    "organisation-configured": {
        "controller": STR,
        "organisation": STR,
        "jurisdiction": STR,
        "origin": STR,
        "soft_opt_in": OBJ,
        "max_age_days": OBJ,
        "ruleset": STR,
        "actor": STR,
    },
    "list-created": {"list": STR, "purpose": STR, "actor": STR},
    "notice-published": {
        "list": STR,
        "notice": HASH,
        "version": INT,
        "language": STR,
        "media_type": STR,
        "actor": STR,
    },
    "consent-requested": _CONSENT_FIELDS,
    "consent-given": _CONSENT_FIELDS,
    "consent-confirmed": {
        "record": STR,
        "subject": HASH,
        "list": STR,
        "confirms": STR,
        "method": STR,
        "evidence": OPT_HASH,
        "actor": STR,
    },
    "consent-withdrawn": {
        "record": STR,
        "subject": HASH,
        "list": OPT_STR,
        "channel": STR,
        "method": STR,
        "actor": STR,
        "source": STR,
        "evidence": OPT_HASH,
    },
    "suppressed": {
        "record": STR,
        "subject": HASH,
        "scope": STR,
        "reason": STR,
        "channel": STR,
        "actor": STR,
        "source": STR,
        "evidence": OPT_HASH,
    },
    "subject-erased": {"record": STR, "subject": HASH, "actor": STR, "request": OPT_STR},
    # campaigns and dispatch (issue 3)
    "campaign-created": {
        "campaign": STR,
        "list": STR,
        "template_class": STR,
        "jurisdiction": STR,
        "content": HASH,
        "sender": STR,
        "actor": STR,
    },
    "campaign-approved": {
        "campaign": STR,
        "report": HASH,
        "recipients": INT,
        "content": HASH,
        "actor": STR,
    },
    "send-decided": {
        "campaign": STR,
        "message": STR,
        "subject": HASH,
        "template_class": STR,
        "allowed": BOOL,
        "reason": STR,
        "basis": OPT_STR,
        "justifying_index": OPT_INT,
        "justifying_hash": OPT_HASH,
        "ruleset": STR,
        "jurisdiction": STR,
        "checked_size": INT,
        "attempt": INT,
    },
    "send-handed-off": {
        "campaign": STR,
        "message": STR,
        "subject": HASH,
        "decision": INT,
        "outcome": STR,
        "code": OPT_INT,
        "enhanced": OPT_STR,
        "reply": OPT_STR,
        "stage": STR,
    },
    "dispatch-switched": {"halted": BOOL, "reason": STR, "actor": STR},
    # provider migration (issue 5)
    "import-recorded": {
        "import": STR,
        "provider": STR,
        "format": STR,
        "file": STR,
        "sha256": HASH,
        "list": OPT_STR,
        "counts": OBJ,
        "records": INT,
        "root": HASH,
        "actor": STR,
    },
    "provider-cutover": {
        "from": STR,
        "to": STR,
        "sha256": HASH,
        "import": INT,
        "suppressions": INT,
        "missing": INT,
        "actor": STR,
    },
}

#: The outcomes a ``send-handed-off`` leaf records.
HANDOFF_OUTCOMES: Final = frozenset({"accepted", "rejected", "deferred", "uncertain", "failed"})

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")


def format_time(at: datetime) -> str:
    """RFC 3339 UTC with exactly six fractional digits and ``Z``: one spelling per instant."""
    if at.tzinfo is not UTC:
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidLeaf(f"time {at!r} is naive; consentry only records aware UTC times")
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    if not isinstance(text, str) or not _TIME.match(text):
        raise InvalidLeaf(
            f"time {text!r} is not RFC 3339 UTC of the form 2026-01-31T12:00:00.000000Z"
        )
    try:
        return datetime.fromisoformat(text)  # "Z" parses to UTC itself
    except ValueError as exc:  # the right spelling of a day or hour that does not exist
        raise InvalidLeaf(f"time {text!r} is not a valid time: {exc}") from None


@dataclass(frozen=True, slots=True)
class LeafDraft:
    """A leaf before the ledger gives it its place (``seq``)."""

    kind: str
    at: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)

    def subject(self) -> str | None:
        value = self.fields.get("subject")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf as stored: its place, its decoded content and the exact bytes that were hashed."""

    seq: int
    kind: str
    at: datetime
    fields: Mapping[str, Any]
    raw: bytes

    def subject(self) -> str | None:
        value = self.fields.get("subject")
        return value if isinstance(value, str) else None


#: Per kind: its key set and (name, base type, optional) per field, compiled once.
_COMPILED: Final = {
    kind: (frozenset(schema), tuple((n, t.rstrip("?"), t.endswith("?")) for n, t in schema.items()))
    for kind, schema in SCHEMAS.items()
}


def _value_ok(base: str, value: Any) -> bool:
    if base == "str":
        return isinstance(value, str) and value != ""
    if base == "hash":
        return isinstance(value, str) and _HEX64.match(value) is not None
    if base == "obj":
        return isinstance(value, dict)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if base == "bool":
        return isinstance(value, bool)
    return isinstance(value, str) and _TIME.match(value) is not None


def validate_fields(kind: str, fields: Mapping[str, Any]) -> None:
    """Raise InvalidLeaf naming the first field that breaks the kind's schema."""
    compiled = _COMPILED.get(kind)
    if compiled is None:
        raise InvalidLeaf(f"unknown leaf kind {kind!r}")
    keys, specs = compiled
    if len(fields) != len(keys) or not keys.issuperset(fields):
        extra = sorted(set(fields) - keys)
        if extra:
            raise InvalidLeaf(f"{kind}: unexpected field '{extra[0]}'")
    for name, base, optional in specs:
        value = fields.get(name, _MISSING)
        kind_of = type(value)
        # the common cases, checked inline
        if kind_of is str:
            if base == "str" and value:
                continue
            if base == "hash" and len(value) == 64 and _HEX64.match(value) is not None:
                continue
        elif kind_of is int:
            if base == "int" and value >= 0:
                continue
        elif kind_of is bool and base == "bool":
            continue
        if value is _MISSING:
            raise InvalidLeaf(f"{kind}: field '{name}' is missing")
        if value is None:
            if optional:
                continue
            raise InvalidLeaf(f"{kind}: field '{name}' is required")
        if not _value_ok(base, value):
            tag = base + ("?" if optional else "")
            raise InvalidLeaf(
                f"{kind}: field '{name}' has the wrong type or form for {tag}: {value!r}"
            )


_MISSING: Final = object()
_SCALARS: Final = frozenset({str, int, bool, type(None)})


def _check_json(value: Any, path: str) -> None:
    """Only JSON's own types, and no floats: strings, integers, booleans, null, objects with
    string keys, arrays."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                raise InvalidLeaf(f"field '{path}' has a non-string key {key!r}")
            if type(inner) not in _SCALARS:
                _check_json(inner, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            if type(inner) not in _SCALARS:
                _check_json(inner, f"{path}[{i}]")
    elif isinstance(value, float):
        raise InvalidLeaf(f"field '{path}' is a floating-point number; leaves hold no floats")
    elif not isinstance(value, str | int | None):
        raise InvalidLeaf(f"field '{path}' is a {type(value).__name__}, not a JSON value")


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, compact, UTF-8, no floats (RFC 8785 for these values).

    Encoded by orjson for speed; :func:`canonical_json_reference` is the plain standard-library
    spelling, and the tests hold the two to the same bytes."""
    _check_json(value, "$")
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidLeaf(f"value cannot be encoded as canonical JSON: {exc}") from exc


def canonical_json_reference(value: Any) -> bytes:
    """The simple path: the standard library's json, as the reference for the tests."""
    _check_json(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_OBJECT_FIELDS: Final = {
    kind: tuple(name for name, t in schema.items() if t.rstrip("?") == "obj")
    for kind, schema in SCHEMAS.items()
}
_last_time: tuple[datetime | None, str] = (None, "")


def format_time_cached(at: datetime) -> str:
    """format_time, remembering the last instant (a batch's leaves share one time object). The
    pair is replaced as one tuple, so threads never see one instant with another's text."""
    global _last_time
    last = _last_time
    if last[0] is at:
        return last[1]
    text = format_time(at)
    _last_time = (at, text)
    return text


def encode_leaf(draft: LeafDraft, seq: int) -> bytes:
    """The exact bytes of a leaf at position ``seq``; validates the draft first (the schemas
    hold only kebab-case kinds and no envelope key, so a valid draft cannot clash).

    After validation every field is a scalar of its schema type except the object fields,
    so only those are walked for non-JSON values before encoding."""
    validate_fields(draft.kind, draft.fields)
    fields = draft.fields
    for name in _OBJECT_FIELDS[draft.kind]:
        value = fields[name]
        if value is not None:
            _check_json(value, name)
    obj = dict(fields)
    obj.update(v=FORMAT_VERSION, seq=seq, kind=draft.kind, at=format_time_cached(draft.at))
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise InvalidLeaf(f"value cannot be encoded as canonical JSON: {exc}") from exc


def decode_leaf(raw: bytes) -> Leaf:
    """Parse and check a stored leaf: valid JSON, canonical, known version, kind and fields."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidLeaf(f"leaf is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise InvalidLeaf("leaf is not a JSON object")
    if obj.get("v") != FORMAT_VERSION:
        raise InvalidLeaf(f"leaf format version {obj.get('v')!r} is not {FORMAT_VERSION}")
    seq, kind = obj.get("seq"), obj.get("kind")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidLeaf(f"leaf seq {seq!r} is not a non-negative integer")
    if not isinstance(kind, str):
        raise InvalidLeaf(f"leaf kind {kind!r} is not a string")
    at = parse_time(obj.get("at"))  # type: ignore[arg-type]
    fields = {k: v for k, v in obj.items() if k not in ENVELOPE}
    validate_fields(kind, fields)
    if canonical_json(obj) != raw:
        raise InvalidLeaf(f"leaf {seq} is not in canonical form")
    return Leaf(seq=seq, kind=kind, at=at, fields=fields, raw=raw)


def place(draft: LeafDraft, seq: int) -> Leaf:
    """The leaf a draft becomes at position ``seq``: encoded once, never re-parsed."""
    raw = encode_leaf(draft, seq)
    return Leaf(seq=seq, kind=draft.kind, at=draft.at, fields=draft.fields, raw=raw)
