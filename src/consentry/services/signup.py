"""Signup with double opt-in (R13, R37): the form, the request, the confirmation, the receipt.

* ``enable_signup`` creates the list's *confirmation campaign*, ``confirm-<list>``: a service
  campaign (its wording is checked by the R16 lint like any other) whose templates may use
  ``{{ confirm_url }}``. It is never sent as a whole: each signup queues one message for one
  person, and the dispatcher (the only door out) decides, records and hands it off like any other.
* ``sign_up`` records a ``consent-requested`` leaf with the notice version shown and the evidence
  (time, IP, user agent, source page) and queues the confirmation, in one append. Its answer to
  the caller never depends on whether the address was known: a person already subscribed, or one
  whose confirmation went out in the last ten minutes, gets no new leaf and no new message, and
  the caller shows the same page.
* ``confirm_signup`` (the POST of the confirmation link; a GET never confirms, link scanners
  fetch URLs) writes ``consent-confirmed`` with its own evidence. Links are valid for
  :data:`CONFIRM_VALID_DAYS` days.
* ``consent_receipt`` is the person's receipt (Kantara Consent Receipt v1.1 field names, which
  ISO/IEC TS 27560 took up), with the record id, the signed checkpoint and inclusion proofs of
  the request and confirmation leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Literal

from consentry.domain.errors import InputError, NotFound
from consentry.domain.leaves import decode_leaf, format_time
from consentry.domain.state import ConsentRecord, ConsentStatus, SubjectState
from consentry.domain.tokens import make_confirm_token, read_confirm_token
from consentry.ports import Batch, CampaignRow, NoticeInfo
from consentry.services.campaigns import CampaignSpec, create_campaign
from consentry.services.consent import (
    Grant,
    confirmation_draft,
    evidence_blob,
    grant_many,
    leaf_time,
    organisation,
    require_list,
    subject_for,
)
from consentry.services.context import Context
from consentry.services.ledger import append_sealed, prove_inclusion
from consentry.services.unsubscribe import unsubscribed_in

CONFIRM_PREFIX: Final = "confirm-"
#: How long a confirmation link works.
CONFIRM_VALID_DAYS: Final = 7
#: A second signup for the same list within this time sends nothing new.
RESEND_AFTER: Final = timedelta(minutes=10)
SIGNUP_METHOD: Final = "double-opt-in"
SIGNUP_SOURCE: Final = "first-party"  # our own form; the page is in the evidence

DEFAULT_SUBJECT: Final = "Please confirm: {{ list.purpose }} from {{ sender.name }}"
DEFAULT_TEXT: Final = """Hello,

Someone, hopefully you, asked for {{ list.purpose }} from {{ sender.name }} to be sent to
{{ email }}.

To confirm, open this link and press the Confirm button:

{{ confirm_url }}

If it was not you, ignore this message: nothing more will be sent. The link works for 7 days.
"""
DEFAULT_HTML: Final = """<!doctype html><html><body>
<p>Hello,</p>
<p>Someone, hopefully you, asked for {{ list.purpose }} from {{ sender.name }} to be sent to
{{ email }}.</p>
<p><a href="{{ confirm_url }}">Confirm your subscription</a></p>
<p>If it was not you, ignore this message: nothing more will be sent. The link works for
7 days.</p>
</body></html>"""


def confirmation_campaign_id(list_id: str) -> str:
    return CONFIRM_PREFIX + list_id


def is_confirmation(row: CampaignRow) -> bool:
    return bool(row.spec.get("confirmation"))


def enable_signup(
    ctx: Context,
    list_id: str,
    from_address: str,
    actor: str,
    *,
    from_name: str | None = None,
    reply_to: str | None = None,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    postal_address: str | None = None,
    contact: str | None = None,
    opt_out_email: str | None = None,
) -> CampaignRow:
    """Create the list's confirmation campaign (the templates default to a plain confirmation
    request); refused if the list has no published notice, since a signup records the notice
    that the person was shown."""
    require_list(ctx, list_id)
    if not ctx.store.notices_for_list(list_id):
        raise InputError(
            f"list {list_id!r} has no published notice; publish the wording people sign up to "
            "with 'consentry notice publish' first"
        )
    spec = CampaignSpec(
        name=confirmation_campaign_id(list_id), list_id=list_id,
        subject=subject or DEFAULT_SUBJECT, text=text or DEFAULT_TEXT,
        html=DEFAULT_HTML if html is None and text is None else html,
        from_address=from_address, from_name=from_name, reply_to=reply_to,
        template_class="service", postal_address=postal_address, contact=contact,
        opt_out_email=opt_out_email, confirmation=True,
    )  # fmt: skip
    return create_campaign(ctx, spec, actor)


def confirmation_campaign(ctx: Context, list_id: str) -> CampaignRow:
    """The list's confirmation campaign, or NotFound (signup is not enabled for the list)."""
    row = ctx.store.campaign(confirmation_campaign_id(list_id))
    if row is None or not is_confirmation(row) or row.state == "cancelled":
        raise NotFound(f"signup is not enabled for list {list_id!r}")
    return row


# --- the form -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignupForm:
    list_id: str
    purpose: str
    notice: str  # SHA-256 of the wording shown
    version: int
    text: str
    media_type: str


def signup_form(ctx: Context, list_id: str) -> SignupForm:
    """What the signup page shows: the list and its latest notice. NotFound when signup is not
    enabled for the list."""
    confirmation_campaign(ctx, list_id)
    info = ctx.store.list_info(list_id)
    notices = ctx.store.notices_for_list(list_id)
    if info is None or not notices:
        raise NotFound(f"signup is not enabled for list {list_id!r}")
    latest = max(notices, key=lambda n: n.version)
    text = ctx.store.notice_text(latest.notice)
    if text is None:
        raise NotFound(f"the notice text of list {list_id!r} is missing")
    return SignupForm(list_id, info.purpose, latest.notice, latest.version, text.text,
                      text.media_type)  # fmt: skip


# --- the request ----------------------------------------------------------------------------------

#: What happened; the web page is the same for all of them.
SignupStatus = Literal["requested", "pending", "subscribed"]


def _subscribed(state: SubjectState | None, list_id: str) -> bool:
    """An active consent (given, not withdrawn since): a new request would only downgrade it."""
    record = state.consents.get(list_id) if state is not None else None
    return (
        record is not None
        and ConsentStatus(record.status) is ConsentStatus.GIVEN
        and not unsubscribed_in(state, list_id)
    )


def sign_up(
    ctx: Context, list_id: str, email: str, notice: str, evidence: Mapping[str, str]
) -> SignupStatus:
    """Record a double opt-in request for ``email`` and queue its confirmation message.

    ``notice`` is the hash of the wording the form showed (it must be one published for this
    list; an older version is accepted and recorded as the one shown). ``InvalidAddress`` for a
    bad address; NotFound when signup is not enabled for the list."""
    row = confirmation_campaign(ctx, list_id)
    info = _notice_of_list(ctx, list_id, notice)
    _, subject = subject_for(ctx, email)
    state = ctx.store.subject_state(subject)
    record = state.consents.get(list_id) if state is not None else None
    if _subscribed(state, list_id):
        return "subscribed"
    if (
        record is not None
        and ConsentStatus(record.status) is ConsentStatus.REQUESTED
        and ctx.clock.now() - record.given_at < RESEND_AFTER
    ):
        return "pending"
    grant = Grant(
        email=email, list_id=list_id, basis="consent", notice=notice, method=SIGNUP_METHOD,
        source=SIGNUP_SOURCE, evidence=dict(evidence), actor="subject",
        form_version=f"notice-v{info.version}", requested=True,
    )  # fmt: skip
    grant_many(ctx, [grant], enqueue=row.campaign_id)
    return "requested"


def _notice_of_list(ctx: Context, list_id: str, notice: str) -> NoticeInfo:
    info = ctx.store.notice_info(notice) if len(notice) == 64 else None
    if info is None or info.list_id != list_id:
        raise InputError(f"the form's notice {notice[:64]!r} was not published for {list_id!r}")
    return info


# --- the confirmation -----------------------------------------------------------------------------


def confirm_url(ctx: Context, base_url: str, list_id: str, subject: str, issued: date) -> str:
    kid, key = ctx.keys.token_key()
    token = make_confirm_token(kid, key, subject, list_id, issued)
    return f"{base_url.rstrip('/')}/c/{list_id}/{token}"


ConfirmStatus = Literal["pending", "confirmed", "expired", "nothing"]


@dataclass(frozen=True)
class Confirmation:
    status: ConfirmStatus
    purpose: str
    record: str | None = None


def _read_token(ctx: Context, list_id: str, token: str) -> tuple[str, date]:
    if ctx.store.list_info(list_id) is None:
        raise NotFound("not found")
    try:
        kid, key = ctx.keys.token_key(token.partition(".")[0] or None)
        return read_confirm_token({kid: key}, token, list_id)
    except Exception as exc:  # malformed, unknown key, forged: all the same to the caller
        raise NotFound("not found") from exc


def _status(ctx: Context, list_id: str, token: str) -> tuple[str, ConsentRecord | None, str]:
    subject, issued = _read_token(ctx, list_id, token)
    info = ctx.store.list_info(list_id)
    purpose = info.purpose if info is not None else list_id
    state = ctx.store.subject_state(subject)
    record = state.consents.get(list_id) if state is not None else None
    if ctx.clock.now().date() - issued > timedelta(days=CONFIRM_VALID_DAYS):
        return "expired", record, purpose
    if record is None or unsubscribed_in(state, list_id):
        return "nothing", record, purpose
    status = ConsentStatus(record.status)
    if record.confirmed and status is ConsentStatus.GIVEN:
        return "confirmed", record, purpose
    if status in (ConsentStatus.REQUESTED, ConsentStatus.GIVEN):
        return "pending", record, purpose
    return "nothing", record, purpose


def confirmation_status(ctx: Context, list_id: str, token: str) -> Confirmation:
    """What the confirmation page shows (a GET: nothing is written). NotFound for a bad token."""
    status, record, purpose = _status(ctx, list_id, token)
    return Confirmation(status, purpose, record.record if record else None)  # type: ignore[arg-type]


def confirm_signup(
    ctx: Context, list_id: str, token: str, evidence: Mapping[str, str]
) -> Confirmation:
    """Confirm the request the link was sent for (idempotent: a second POST writes nothing)."""
    subject, _ = _read_token(ctx, list_id, token)
    status, record, purpose = _status(ctx, list_id, token)
    if status != "pending" or record is None:
        return Confirmation(status, purpose, record.record if record else None)  # type: ignore[arg-type]
    now = leaf_time(ctx)
    blob = evidence_blob(evidence, subject, now) if evidence else None
    draft = confirmation_draft(
        subject, list_id, record.record, blob.hash if blob else None, "subject", now
    )
    append_sealed(ctx, Batch(leaves=[draft], evidence=[blob] if blob else []))
    return Confirmation("confirmed", purpose, record.record)


# --- the receipt (R37) ----------------------------------------------------------------------------


def consent_receipt(ctx: Context, list_id: str, token: str) -> dict[str, Any]:
    """The consent receipt for the request the link names: Kantara Consent Receipt v1.1 fields
    (as taken up by ISO/IEC TS 27560), and under ``proof`` the leaves, the latest signed
    checkpoint and an inclusion proof of each leaf against it."""
    subject, _ = _read_token(ctx, list_id, token)
    state = ctx.store.subject_state(subject)
    record = state.consents.get(list_id) if state is not None else None
    if record is None:
        raise NotFound("not found")
    org = organisation(ctx)
    address = ctx.store.address(subject)
    info = ctx.store.list_info(list_id)
    notice = ctx.store.notice_info(record.notice)
    text = ctx.store.notice_text(record.notice)
    spec = confirmation_campaign(ctx, list_id).spec
    leaves = [
        decode_leaf(s.raw)
        for s in ctx.store.leaves_for_subject(subject)
        if _belongs(decode_leaf(s.raw).fields, record.record)
    ]
    checkpoint = ctx.store.latest_checkpoint()
    size = checkpoint.size if checkpoint is not None else ctx.store.size()
    purpose = info.purpose if info is not None else list_id
    return {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": record.jurisdiction,
        "consentTimestamp": int(record.given_at.timestamp()),
        "collectionMethod": "web form with double opt-in confirmation by email",
        "consentReceiptID": record.record,
        "language": notice.language if notice is not None else "en",
        "piiPrincipalId": address.literal if address is not None else None,
        "piiControllers": [
            {
                "piiController": org.controller,
                "contact": spec.get("contact") or spec.get("from_name") or org.controller,
                "address": spec.get("postal_address"),
                "email": spec.get("opt_out_email") or spec.get("reply_to") or spec["from_address"],
                "onBehalf": False,
            }
        ],
        "policyUrl": None,
        "services": [
            {
                "service": purpose,
                "purposes": [
                    {
                        "purpose": purpose,
                        "purposeCategory": ["direct marketing by email"],
                        "consentType": "EXPLICIT",
                        "piiCategory": ["email address"],
                        "primaryPurpose": True,
                        "termination": "until withdrawn: every message has an unsubscribe link",
                        "thirdPartyDisclosure": False,
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        "notice": {
            "sha256": record.notice,
            "version": notice.version if notice is not None else None,
            "text": text.text if text is not None else None,
        },
        "status": {
            "status": record.status.value if hasattr(record.status, "value") else record.status,
            "confirmed": record.confirmed,
            "given_at": format_time(record.given_at),
        },
        "proof": {
            "leaves": [
                {"index": leaf.seq, "kind": leaf.kind, "at": format_time(leaf.at)}
                for leaf in leaves
            ],
            "checkpoint": checkpoint.note if checkpoint is not None else None,
            "verifier_key": ctx.keys.verifier_key(),
            "inclusion": [
                prove_inclusion(ctx, leaf.seq, size) for leaf in leaves if leaf.seq < size
            ],
        },
    }


def _belongs(fields: Mapping[str, Any], record: str) -> bool:
    return fields.get("record") == record or fields.get("confirms") == record
