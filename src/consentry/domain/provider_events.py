"""What the outside world tells us about a recipient: a bounce, a complaint or an unsubscribe
reported by a provider's webhook or by mail arriving at the inbound listener.

Codecs (``consentry.codecs.webhooks``, ``consentry.codecs.inbound_mail``) turn provider payloads
into :class:`ProviderEvent` values; ``services.provider_events`` records the ones that object
(hard bounce, complaint, unsubscribe) in the ledger. Everything else is counted and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    HARD_BOUNCE = "hard-bounce"  # the address does not exist or is disabled: suppress (R21)
    COMPLAINT = "complaint"  # marked as spam / abuse report: suppress globally (R21)
    UNSUBSCRIBE = "unsubscribe"  # the person asked to stop: withdraw (list, or every list)
    SOFT_BOUNCE = "soft-bounce"  # temporary: recorded nowhere, counted
    DELIVERED = "delivered"  # counted (audit reconciliation reads provider exports instead)
    OTHER = "other"  # opens, clicks, anything else: counted and dropped


#: The kinds that become ledger leaves.
OBJECTIONS = frozenset({EventKind.HARD_BOUNCE, EventKind.COMPLAINT, EventKind.UNSUBSCRIBE})


@dataclass(frozen=True)
class ProviderEvent:
    """One event about one recipient.

    ``email`` is the recipient's address as the provider gave it (checked and canonicalised when
    recorded, never trusted). ``subject`` may be given instead of (or as well as) ``email`` when
    the event carried one of our unsubscribe tokens, which names the subject ref directly.
    ``list_id`` scopes an unsubscribe; None means every list (a scope we cannot tell is widened,
    never dropped). ``event_id`` is the provider's id, used to recognise a replayed call.
    ``detail`` holds short, non-secret facts kept as evidence (status code, diagnostic, feedback
    type, provider message id).
    """

    kind: EventKind
    provider: str
    email: str | None = None
    subject: str | None = None
    list_id: str | None = None
    event_id: str | None = None
    occurred_at: datetime | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
