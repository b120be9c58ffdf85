"""Leaf drafts and batches for tests, with sensible defaults."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from consentry.domain.leaves import LeafDraft
from consentry.ports import AddressRow, Batch, EvidenceBlob

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOTICE = hashlib.sha256(b"the notice").hexdigest()


def subject(n: int | str) -> str:
    return hashlib.sha256(f"subject-{n}".encode()).hexdigest()


def ev(n: int | str) -> str:
    return hashlib.sha256(f"evidence-{n}".encode()).hexdigest()


def consent_fields(subj: str, list_id: str = "news", **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "record": uuid.uuid4().hex, "subject": subj, "controller": "Example Ltd",
        "list": list_id, "channel": "email", "basis": "consent", "jurisdiction": "uk",
        "language": "en", "notice": NOTICE, "form_version": None, "method": "web-form",
        "valid_until": None, "actor": "test", "source": "first-party", "evidence": ev(subj),
        "facts": {},
    }  # fmt: skip
    fields.update(over)
    return fields


def given(subj: str, list_id: str = "news", at: datetime = T0, **over: Any) -> LeafDraft:
    return LeafDraft("consent-given", at, consent_fields(subj, list_id, **over))


def confirmed(subj: str, list_id: str, record: str, at: datetime = T0) -> LeafDraft:
    return LeafDraft("consent-confirmed", at, {
        "record": uuid.uuid4().hex, "subject": subj, "list": list_id, "confirms": record,
        "method": "double-opt-in", "evidence": None, "actor": "test",
    })  # fmt: skip


def withdrawn(subj: str, list_id: str | None = "news", at: datetime = T0) -> LeafDraft:
    return LeafDraft("consent-withdrawn", at, {
        "record": uuid.uuid4().hex, "subject": subj, "list": list_id, "channel": "web",
        "method": "one-click", "actor": "test", "source": "first-party", "evidence": None,
    })  # fmt: skip


def suppressed(
    subj: str, reason: str = "complaint", scope: str = "*", at: datetime = T0
) -> LeafDraft:
    return LeafDraft("suppressed", at, {
        "record": uuid.uuid4().hex, "subject": subj, "scope": scope, "reason": reason,
        "channel": "email", "actor": "test", "source": "first-party", "evidence": None,
    })  # fmt: skip


def erased(subj: str, at: datetime = T0) -> LeafDraft:
    fields = {"record": uuid.uuid4().hex, "subject": subj, "actor": "test", "request": None}
    return LeafDraft("subject-erased", at, fields)


def list_created(name: str = "news", at: datetime = T0) -> LeafDraft:
    return LeafDraft("list-created", at, {"list": name, "purpose": f"{name} purpose", "actor": "t"})


def grant_batch(subj: str, list_id: str = "news", at: datetime = T0, **over: Any) -> Batch:
    draft = given(subj, list_id, at, **over)
    return Batch(
        leaves=[draft],
        addresses=[AddressRow(subj, f"{subj[:8]}@Example.org", f"{subj[:8]}@example.org")],
        evidence=[EvidenceBlob(draft.fields["evidence"], subj, b'{"ip":"203.0.113.1"}')],
    )
