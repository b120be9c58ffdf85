"""Provider event exports, one webhook payload per line, read for reconciliation (R38).

The codecs of ``consentry.codecs.webhooks`` turn each payload into events (delivered, bounces,
complaints, unsubscribes); they keep a provider's own message id as masked evidence, not the
RFC 5322 ``Message-ID`` the dispatcher wrote into ``send-decided`` leaves. This module reads that
header where each provider reports it, beside the codec's events:

* SES: ``mail.commonHeaders.messageId``, else the ``Message-ID`` of ``mail.headers`` (present
  when the configuration includes original headers); the SNS envelope is unwrapped first.
* SendGrid: ``smtp-id`` of each event (the message's Message-ID).
* Mailgun: ``event-data.message.headers.message-id``.
* Postmark: its ``MessageID`` is Postmark's own; ``Metadata.message_id`` (or
  ``consentry_message_id``) when the sender put the Message-ID there, else none.

Without a Message-ID a delivery is matched by its recipient instead (``services.audit_reconcile``).
Pure: decoded JSON in, values out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from consentry.codecs.webhooks.mailgun import mailgun_events
from consentry.codecs.webhooks.postmark import postmark_events
from consentry.codecs.webhooks.sendgrid import sendgrid_events
from consentry.codecs.webhooks.ses import parse_sns, ses_events
from consentry.domain.errors import InputError
from consentry.domain.provider_events import ProviderEvent

PROVIDERS: Final = ("ses", "sendgrid", "mailgun", "postmark")
_POSTMARK_KEYS: Final = ("message_id", "consentry_message_id")


@dataclass(frozen=True)
class ReadEvent:
    """A codec's event and the Message-ID of the message it is about (None when not reported)."""

    event: ProviderEvent
    message_id: str | None


def clean_message_id(value: object) -> str | None:
    """A Message-ID without white space or angle brackets; None for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text if text and "@" in text and not any(c.isspace() for c in text) else None


def read_payload(provider: str, payload: object) -> list[ReadEvent]:
    """The events of one payload with their Message-IDs; InputError naming what is wrong."""
    if provider == "ses":
        return _ses(payload)
    if provider == "sendgrid":
        items = payload if isinstance(payload, list) else [payload]
        out = []
        for item in items:
            (event,) = sendgrid_events([item])
            found = item.get("smtp-id") if isinstance(item, Mapping) else None
            out.append(ReadEvent(event, clean_message_id(found)))
        return out
    if provider == "mailgun":
        body = (
            payload
            if isinstance(payload, Mapping) and "event-data" in payload
            else {"event-data": payload}
        )
        data = body.get("event-data")
        return [ReadEvent(e, _mailgun_id(data)) for e in mailgun_events(body)]
    if provider == "postmark":
        metadata = payload.get("Metadata") if isinstance(payload, Mapping) else None
        found = None
        if isinstance(metadata, Mapping):
            found = next((metadata[k] for k in _POSTMARK_KEYS if k in metadata), None)
        return [ReadEvent(e, clean_message_id(found)) for e in postmark_events(payload)]
    raise InputError(f"provider {provider!r} is not one of {', '.join(PROVIDERS)}")


def _ses(payload: object) -> list[ReadEvent]:
    if isinstance(payload, Mapping) and "Type" in payload and "Message" in payload:
        sns = parse_sns(payload)
        try:
            inner: Any = json.loads(sns.message)
        except ValueError as exc:
            raise InputError("SNS.Message is not the JSON of an SES notification") from exc
        events = ses_events(inner, sns.message_id)
    else:
        inner = payload
        events = ses_events(payload)
    mail = inner.get("mail") if isinstance(inner, Mapping) else None
    return [ReadEvent(e, _ses_id(mail)) for e in events]


def _ses_id(mail: object) -> str | None:
    if not isinstance(mail, Mapping):
        return None
    common = mail.get("commonHeaders")
    if isinstance(common, Mapping) and clean_message_id(common.get("messageId")):
        return clean_message_id(common.get("messageId"))
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping) and str(header.get("name", "")).lower() == "message-id":
            return clean_message_id(header.get("value"))
    return None


def _mailgun_id(data: object) -> str | None:
    message = data.get("message") if isinstance(data, Mapping) else None
    headers = message.get("headers") if isinstance(message, Mapping) else None
    return clean_message_id(headers.get("message-id")) if isinstance(headers, Mapping) else None
