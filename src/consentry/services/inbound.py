"""Mail that reached the opt-out or reply addresses, turned into ledger objections (R20, R21).

``handle_inbound`` classifies the message (``codecs.inbound_mail``), turns what it found into
:class:`ProviderEvent` values (provider ``inbound``) and records them with
``services.provider_events.record_provider_events``, durably, before it returns:

* a DSN: one event per recipient block: hard bounce (global suppression), soft bounce, delivered
  or other (counted, nothing written), for the address the block names; a block that names no
  usable address falls back to the token in the returned original, when there is one block;
* an ARF: abuse, fraud and virus reports are complaints (global suppression) for every address
  the report names, and for the subject of the token in the original's List-Unsubscribe when it
  verifies (providers redact addresses); other feedback types are counted only;
* ``unsubscribe <list> <token>`` with a token that verifies for that list: a withdrawal of the
  token's subject from the list. A forged or unknown token is not trusted: the request is then
  taken as the sender's own, for the From address and the list it names (widened to every list
  when no such list exists);
* a reply asking to stop: a withdrawal of the From address from every list;
* auto-replies, and anything from the null sender that is not a report, never unsubscribe
  anyone; other mail is left alone.

Nothing of the message is kept except the facts in each event's detail (status, feedback type,
message ids, the SHA-256 of the message) which become the evidence blob of the leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consentry.codecs.inbound_mail import InboundMail, ListToken, MailKind, classify_mail
from consentry.domain.errors import NotFound
from consentry.domain.provider_events import EventKind, ProviderEvent
from consentry.services.context import Context
from consentry.services.provider_events import record_provider_events
from consentry.services.unsubscribe import subject_of_token

PROVIDER = "inbound"
_NO_COUNTS: Mapping[str, int] = {"recorded": 0, "duplicate": 0, "ignored": 0, "rejected": 0}


@dataclass(frozen=True)
class InboundResult:
    """What became of one message. ``note`` says why in words without personal data."""

    kind: MailKind
    events: tuple[ProviderEvent, ...]
    counts: Mapping[str, int]
    note: str

    @property
    def recorded(self) -> int:
        return self.counts.get("recorded", 0)

    def __str__(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return f"{self.kind.value}: {self.note}" + (f" ({counts})" if counts else "")


def handle_inbound(
    ctx: Context, data: bytes, envelope_from: str, recipients: Sequence[str]
) -> InboundResult:
    """Classify one message and record the objections it carries. ``InputError`` for a message
    that cannot be read (nothing written)."""
    mail = classify_mail(data)
    facts = {"sha256": hashlib.sha256(data).hexdigest(), "to": ",".join(recipients)[:200]}
    if mail.message_id:
        facts["message_id"] = mail.message_id
    key = mail.message_id or f"sha256:{facts['sha256']}"
    events, note = _events(ctx, mail, envelope_from, key, facts)
    counts = record_provider_events(ctx, events) if events else dict(_NO_COUNTS)
    return InboundResult(mail.kind, tuple(events), counts, note)


def _events(
    ctx: Context, mail: InboundMail, envelope_from: str, key: str, facts: dict[str, str]
) -> tuple[list[ProviderEvent], str]:
    if mail.kind is MailKind.DELIVERY_REPORT:
        return _delivery_events(ctx, mail, key, facts)
    if mail.kind is MailKind.FEEDBACK_REPORT:
        return _feedback_events(ctx, mail, key, facts)
    if mail.kind is MailKind.AUTO_REPLY:
        return [], "automatic reply: never unsubscribes"
    if mail.kind is MailKind.OTHER:
        return [], "nothing to record"
    if not envelope_from.strip("<> "):
        return [], "null sender: automatic mail never unsubscribes"
    if mail.token is not None:
        subject = _verified(ctx, mail.token)
        if subject is not None:
            event = _event(EventKind.UNSUBSCRIBE, f"{key}#token", facts, "mailto",
                           subject=subject, list_id=mail.token.list_id)  # fmt: skip
            return [event], "unsubscribe by token"
        if mail.sender is None:
            return [], "token does not verify and the sender is unknown"
        event = _event(EventKind.UNSUBSCRIBE, f"{key}#sender", facts, "mailto-sender",
                       email=mail.sender, list_id=mail.token.list_id)  # fmt: skip
        return [event], "token does not verify: unsubscribed the sender from the list"
    if mail.sender is None:
        return [], "asks to stop but has no single From address"
    event = _event(EventKind.UNSUBSCRIBE, f"{key}#reply", facts, "reply", email=mail.sender)
    return [event], "reply asking to stop: unsubscribed the sender from every list"


def _delivery_events(
    ctx: Context, mail: InboundMail, key: str, facts: dict[str, str]
) -> tuple[list[ProviderEvent], str]:
    assert mail.delivery is not None
    report = mail.delivery
    fallback = None
    if len(report.recipients) == 1 and report.original_token is not None:
        fallback = _verified(ctx, report.original_token)
    events = []
    for n, block in enumerate(report.recipients, start=1):
        detail = {
            **facts,
            "action": block.action,
            "status": block.status,
            "diagnostic": block.diagnostic,
            "reporting_mta": report.reporting_mta[:200],
        }
        if report.original_message_id:
            detail["original_message_id"] = report.original_message_id
        subject = fallback if block.address is None else None
        events.append(_event(block.kind, f"{key}#{n}", detail, "dsn",
                             email=block.address, subject=subject))  # fmt: skip
    hard = sum(e.kind is EventKind.HARD_BOUNCE for e in events)
    return events, f"delivery report: {len(events)} recipient(s), {hard} hard bounce(s)"


def _feedback_events(
    ctx: Context, mail: InboundMail, key: str, facts: dict[str, str]
) -> tuple[list[ProviderEvent], str]:
    assert mail.feedback is not None
    report = mail.feedback
    detail = {
        **facts,
        "feedback_type": report.feedback_type,
        "user_agent": report.user_agent[:200],
        "reported_domain": report.reported_domain[:200],
    }
    if report.original_message_id:
        detail["original_message_id"] = report.original_message_id
    events = []
    token = report.original_token
    subject = _verified(ctx, token) if token is not None else None
    if subject is not None and token is not None:
        events.append(_event(report.kind, f"{key}#token", detail, "arf",
                             subject=subject, list_id=token.list_id))  # fmt: skip
    for n, address in enumerate(report.recipients, start=1):
        events.append(_event(report.kind, f"{key}#{n}", detail, "arf", email=address))
    if not events:
        return [], f"{report.feedback_type} report names no recipient we can identify"
    return events, f"{report.feedback_type} report: {len(events)} identification(s)"


def _verified(ctx: Context, found: ListToken) -> str | None:
    """The subject the token names for its list, or None when it does not verify."""
    try:
        return subject_of_token(ctx, found.list_id, found.token)
    except NotFound:
        return None


def _event(
    kind: EventKind,
    event_id: str,
    detail: Mapping[str, str],
    via: str,
    *,
    email: str | None = None,
    subject: str | None = None,
    list_id: str | None = None,
) -> ProviderEvent:
    return ProviderEvent(kind=kind, provider=PROVIDER, email=email, subject=subject,
                         list_id=list_id, event_id=event_id[:300],
                         detail={**detail, "via": via})  # fmt: skip
