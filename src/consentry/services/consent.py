"""Use cases of consent: lists, notices, grants, confirmations, withdrawals, suppressions,
erasure, and the send check. Each writes its leaves, side rows and checkpoint in one append."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consentry.domain.addresses import Address, parse_address, subject_ref
from consentry.domain.errors import (
    ClockRegressed,
    DuplicateList,
    InputError,
    MissingEvidence,
    NothingToConfirm,
    SetupError,
    UnknownList,
    UnknownNotice,
)
from consentry.domain.leaves import LeafDraft, canonical_json, format_time
from consentry.domain.profiles import (
    RULESET_VERSION,
    Organisation,
    check_grant,
    configure_organisation,
)
from consentry.domain.state import GLOBAL_SCOPE, SUPPRESS_REASONS, LeafRef
from consentry.ports import AddressRow, Batch, EvidenceBlob, NoticeText
from consentry.services.context import Context
from consentry.services.ledger import append_sealed

_LIST_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
CHANNEL = "email"


def new_record_id() -> str:
    return uuid.uuid4().hex


def leaf_time(ctx: Context, *, objection: bool = False) -> datetime:
    """The server time for a new leaf; leaf times never go backwards. A grant refuses a clock
    that went back past the ledger's last leaf (fail closed); an objection is never refused and is
    stamped with the last leaf's time instead."""
    now = ctx.clock.now()
    last = ctx.store.last_at()
    if last is not None and now < last:
        if objection:
            return last
        raise ClockRegressed(
            f"the clock reads {format_time(now)}, before the ledger's last leaf at "
            f"{format_time(last)}; refusing to record a grant"
        )
    return now


def organisation(ctx: Context) -> Organisation:
    settings = ctx.store.organisation()
    if settings is None:
        raise SetupError("the organisation is not configured; run 'consentry init'")
    return Organisation.from_settings({k: v for k, v in settings.items() if k != "origin"})


def configure(ctx: Context, org: Organisation, actor: str) -> LeafRef:
    """Record the organisation profile (validated again here: political parties get no soft
    opt-in) as an ``organisation-configured`` leaf."""
    org = configure_organisation(
        org.controller, org.type, org.jurisdiction, org.soft_opt_in,
        org.similar_products, org.max_age_days,
    )  # fmt: skip
    fields: dict[str, Any] = {
        **org.to_settings(),
        "origin": ctx.keys.checkpoint_origin(),
        "ruleset": RULESET_VERSION,
        "actor": actor,
    }
    draft = LeafDraft("organisation-configured", leaf_time(ctx), fields)
    return append_sealed(ctx, Batch(leaves=[draft])).refs[0]


def create_list(ctx: Context, name: str, purpose: str, actor: str) -> LeafRef:
    if not _LIST_NAME.match(name):
        raise InputError(
            f"list name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if ctx.store.list_info(name) is not None:
        raise DuplicateList(f"list {name!r} already exists")
    organisation(ctx)
    draft = LeafDraft(
        "list-created", leaf_time(ctx), {"list": name, "purpose": purpose, "actor": actor}
    )
    return append_sealed(ctx, Batch(leaves=[draft])).refs[0]


def require_list(ctx: Context, name: str) -> None:
    if ctx.store.list_info(name) is None:
        known = ", ".join(li.list_id for li in ctx.store.lists()) or "none yet"
        raise UnknownList(f"unknown list {name!r} (known lists: {known})")


@dataclass(frozen=True)
class PublishedNotice:
    notice: str
    version: int
    leaf: LeafRef | None  # None when this exact text was already published for the list


def publish_notice(
    ctx: Context, list_id: str, text: str, actor: str, language: str = "en",
    media_type: str = "text/plain",
) -> PublishedNotice:  # fmt: skip
    """Store the wording people are shown, content-addressed, and record that it was published."""
    require_list(ctx, list_id)
    if not text.strip():
        raise InputError("the notice text is empty")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = ctx.store.notice_info(digest)
    if existing is not None and existing.list_id == list_id:
        return PublishedNotice(digest, existing.version, None)
    version = len(ctx.store.notices_for_list(list_id)) + 1
    fields = {
        "list": list_id, "notice": digest, "version": version, "language": language,
        "media_type": media_type, "actor": actor,
    }  # fmt: skip
    batch = Batch(
        leaves=[LeafDraft("notice-published", leaf_time(ctx), fields)],
        notices=[NoticeText(digest, text, media_type)],
    )
    return PublishedNotice(digest, version, append_sealed(ctx, batch).refs[0])


def evidence_blob(items: Mapping[str, str], subject: str, at: datetime) -> EvidenceBlob:
    """An evidence blob; the random nonce keeps its hash from being guessed from its content."""
    blob = canonical_json(
        {"items": dict(items), "nonce": secrets.token_hex(16), "recorded_at": format_time(at)}
    )
    return EvidenceBlob(hashlib.sha256(blob).hexdigest(), subject, blob)


def subject_for(ctx: Context, email: str) -> tuple[Address, str]:
    address = parse_address(email)
    return address, subject_ref(ctx.keys.subject_key(), address)


@dataclass
class Grant:
    email: str
    list_id: str
    basis: str
    notice: str
    method: str
    source: str
    evidence: Mapping[str, str]
    actor: str
    confirmed: bool = False
    jurisdiction: str | None = None
    language: str = "en"
    form_version: str | None = None
    valid_until: datetime | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    requested: bool = False  # a double opt-in request (consent-requested), not yet a consent


@dataclass(frozen=True)
class Recorded:
    subject: str
    refs: tuple[LeafRef, ...]
    record: str


def grant_consent(ctx: Context, grant: Grant) -> Recorded:
    """Record a consent (or a double opt-in request) with its notice and evidence."""
    return grant_many(ctx, [grant])[0]


def grant_many(ctx: Context, grants: Sequence[Grant], enqueue: str | None = None) -> list[Recorded]:
    """Record many consents in one append (one transaction, one checkpoint); each is checked
    as :func:`grant_consent` checks it, and one bad grant records none of them. ``enqueue``: a
    campaign to queue one message for each subject in the same transaction (the double opt-in
    confirmation)."""
    org = organisation(ctx)
    now = leaf_time(ctx)
    notices: dict[str, Any] = {}
    batch = Batch()
    made: list[tuple[str, str, int]] = []
    for grant in grants:
        address, subject = subject_for(ctx, grant.email)
        if grant.notice not in notices:
            require_list(ctx, grant.list_id)
            notices[grant.notice] = ctx.store.notice_info(grant.notice)
        info = notices[grant.notice]
        if info is None or info.list_id != grant.list_id:
            raise UnknownNotice(
                f"notice {grant.notice!r} was not published for list {grant.list_id!r}; "
                "publish it with 'consentry notice publish'"
            )
        if not grant.evidence:
            raise MissingEvidence(
                "a consent needs its evidence (for example --evidence ip=203.0.113.9 "
                "--evidence form=signup-v3); none was given"
            )
        jurisdiction = grant.jurisdiction or org.jurisdiction.value
        check_grant(org, grant.basis, jurisdiction, grant.facts, now)
        evidence = evidence_blob(grant.evidence, subject, now)
        record = new_record_id()
        fields: dict[str, Any] = {
            "record": record, "subject": subject, "controller": org.controller,
            "list": grant.list_id, "channel": CHANNEL, "basis": grant.basis,
            "jurisdiction": jurisdiction, "language": grant.language, "notice": grant.notice,
            "form_version": grant.form_version, "method": grant.method,
            "valid_until": format_time(grant.valid_until) if grant.valid_until else None,
            "actor": grant.actor, "source": grant.source, "evidence": evidence.hash,
            "facts": dict(grant.facts),
        }  # fmt: skip
        first = len(batch.leaves)
        kind = "consent-requested" if grant.requested else "consent-given"
        batch.leaves.append(LeafDraft(kind, now, fields))
        if grant.confirmed:
            batch.leaves.append(
                confirmation_draft(subject, grant.list_id, record, None, grant.actor, now)
            )
        batch.addresses.append(AddressRow(subject, address.literal, address.canonical))
        batch.evidence.append(evidence)
        made.append((subject, record, first))
        if enqueue is not None:
            batch.enqueue.append((enqueue, subject))
    refs = append_sealed(ctx, batch).refs
    ends = [first for _, _, first in made[1:]] + [len(refs)]
    return [
        Recorded(subject, tuple(refs[first:end]), record)
        for (subject, record, first), end in zip(made, ends, strict=True)
    ]


def confirmation_draft(
    subject: str, list_id: str, record: str, evidence: str | None, actor: str, at: datetime
) -> LeafDraft:
    fields = {
        "record": new_record_id(), "subject": subject, "list": list_id, "confirms": record,
        "method": "double-opt-in", "evidence": evidence, "actor": actor,
    }  # fmt: skip
    return LeafDraft("consent-confirmed", at, fields)


def confirm_consent(
    ctx: Context, email: str, list_id: str, evidence: Mapping[str, str], actor: str
) -> Recorded:
    """Record the double opt-in confirmation of the subject's latest grant or request."""
    _, subject = subject_for(ctx, email)
    require_list(ctx, list_id)
    state = ctx.store.subject_state(subject)
    record = state.consents.get(list_id) if state else None
    if record is None or record.status.value not in ("given", "requested") or record.confirmed:
        raise NothingToConfirm(f"{email} has no unconfirmed consent or request for {list_id!r}")
    now = leaf_time(ctx)
    blob = evidence_blob(evidence, subject, now) if evidence else None
    draft = confirmation_draft(
        subject, list_id, record.record, blob.hash if blob else None, actor, now
    )
    batch = Batch(leaves=[draft], evidence=[blob] if blob else [])
    return Recorded(subject, append_sealed(ctx, batch).refs, record.record)


def withdraw_consent(
    ctx: Context, email: str, list_id: str | None, channel: str, method: str, source: str,
    actor: str, evidence: Mapping[str, str] | None = None,
) -> Recorded:  # fmt: skip
    """Record a withdrawal (one list, or every list when ``list_id`` is None). Never refused for
    an unknown subject: an objection is always recorded, so it holds if the person turns up."""
    address, subject = subject_for(ctx, email)
    if list_id is not None:
        require_list(ctx, list_id)
    row = AddressRow(subject, address.literal, address.canonical)
    return withdraw_subject(ctx, subject, [list_id], channel, method, source, actor, evidence, row)


def withdraw_subject(
    ctx: Context, subject: str, lists: Sequence[str | None], channel: str, method: str,
    source: str, actor: str, evidence: Mapping[str, str] | None = None,
    address: AddressRow | None = None,
) -> Recorded:  # fmt: skip
    """Withdrawals of a subject known by its ref (from an unsubscribe token): one
    ``consent-withdrawn`` leaf per list (None: every list), sharing one evidence blob, in one
    append. The leaf times never go backwards and an objection is never refused."""
    now = leaf_time(ctx, objection=True)
    blob = evidence_blob(evidence, subject, now) if evidence else None
    records = [new_record_id() for _ in lists]
    common = {"subject": subject, "channel": channel, "method": method, "actor": actor,
              "source": source, "evidence": blob.hash if blob else None}  # fmt: skip
    leaves = [
        LeafDraft("consent-withdrawn", now, {**common, "record": record, "list": list_id})
        for record, list_id in zip(records, lists, strict=True)
    ]
    batch = Batch(
        leaves=leaves, addresses=[address] if address else [], evidence=[blob] if blob else []
    )
    return Recorded(subject, append_sealed(ctx, batch).refs, records[0])


def suppress(
    ctx: Context, email: str, reason: str, list_id: str | None, source: str, actor: str,
    channel: str = CHANNEL,
) -> Recorded:  # fmt: skip
    """Suppress an address, globally or for one list."""
    if reason not in SUPPRESS_REASONS:
        raise InputError(f"suppression reason {reason!r} is not one of {sorted(SUPPRESS_REASONS)}")
    address, subject = subject_for(ctx, email)
    if list_id is not None:
        require_list(ctx, list_id)
    now = leaf_time(ctx, objection=True)
    record = new_record_id()
    fields = {
        "record": record, "subject": subject, "scope": list_id or GLOBAL_SCOPE,
        "reason": reason, "channel": channel, "actor": actor, "source": source,
        "evidence": None,
    }  # fmt: skip
    batch = Batch(
        leaves=[LeafDraft("suppressed", now, fields)],
        addresses=[AddressRow(subject, address.literal, address.canonical)],
    )
    return Recorded(subject, append_sealed(ctx, batch).refs, record)


def erase_subject(ctx: Context, email: str, actor: str, request: str | None = None) -> Recorded:
    """Erase a person's data from the side tables. The ledger keeps only the keyed subject ref,
    which still matches the address, so the global suppression this writes keeps working."""
    _, subject = subject_for(ctx, email)
    now = leaf_time(ctx, objection=True)
    record = new_record_id()
    fields = {"record": record, "subject": subject, "actor": actor, "request": request}
    batch = Batch(leaves=[LeafDraft("subject-erased", now, fields)], erase_subjects=[subject])
    return Recorded(subject, append_sealed(ctx, batch).refs, record)
