"""How the admin API shapes what the services and the store return into its JSON answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consentry.domain.leaves import format_time
from consentry.domain.state import LeafRef
from consentry.ports import ListInfo, NoticeInfo, StoredCheckpoint
from consentry.services.consent import Recorded


def error_body(code: str, message: str, fields: Sequence[dict[str, str]] = ()) -> dict[str, Any]:
    return {"error": code, "message": message, "fields": list(fields)}


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """A 422 naming each field that failed and why (never echoing the value sent)."""
    fields = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ())) or "request"
        problem = str(error.get("msg", "is not valid"))
        if error.get("type") == "json_invalid":  # loc is ("body", character position)
            detail = (error.get("ctx") or {}).get("error", "")
            problem = f"the body is not valid JSON: {detail} (at character {where[5:]})"
            where = "body"
        fields.append({"field": where, "problem": problem})
    message = "; ".join(f"{f['field']}: {f['problem']}" for f in fields) or "invalid request"
    return error_body("bad-input", message, fields)


def leaf_json(ref: LeafRef) -> dict[str, Any]:
    return {"index": ref.index, "hash": ref.hash}


def recorded_json(recorded: Recorded) -> dict[str, Any]:
    leaves = [leaf_json(r) for r in recorded.refs]
    return {"subject": recorded.subject, "record": recorded.record, "leaves": leaves}


def list_json(info: ListInfo) -> dict[str, Any]:
    return {"list_id": info.list_id, "purpose": info.purpose, "leaf": leaf_json(info.leaf)}


def notice_json(info: NoticeInfo) -> dict[str, Any]:
    return {
        "notice": info.notice, "list_id": info.list_id, "version": info.version,
        "language": info.language, "leaf": leaf_json(info.leaf),
    }  # fmt: skip


def checkpoint_json(cp: StoredCheckpoint) -> dict[str, Any]:
    return {
        "size": cp.size,
        "root_hash": cp.root.hex(),
        "note": cp.note,
        "created_at": format_time(cp.created_at),
    }
