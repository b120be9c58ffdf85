"""The preference centre: from any message's unsubscribe token, with no login, the lists the
person is on, and unsubscribing from some of them or from everything.

The token proves the person (it names their subject ref under an HMAC key, R18); the page's form
carries a CSRF token bound to that subject and list under the same key, so another site cannot
post on their behalf. Each change is a ``consent-withdrawn`` leaf (one list, or every list), with
the request's IP and user agent as evidence; lists already unsubscribed are left alone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from consentry.domain.errors import InputError, NotFound
from consentry.domain.state import ConsentStatus
from consentry.services.consent import withdraw_subject
from consentry.services.context import Context
from consentry.services.unsubscribe import already_unsubscribed, subject_of_token


@dataclass(frozen=True)
class ListChoice:
    list_id: str
    purpose: str
    subscribed: bool


@dataclass(frozen=True)
class Preferences:
    subject: str
    lists: tuple[ListChoice, ...]
    csrf: str


def _csrf(ctx: Context, subject: str, list_id: str, token: str) -> str:
    kid = token.partition(".")[0]
    _, key = ctx.keys.token_key(kid)
    message = b"consentry-preferences-v1\0" + subject.encode() + b"\0" + list_id.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def preferences(ctx: Context, list_id: str, token: str) -> Preferences:
    """What the person behind the token is subscribed to (NotFound for a bad token)."""
    subject = subject_of_token(ctx, list_id, token)
    state = ctx.store.subject_state(subject)
    records = state.consents if state is not None else {}
    choices = []
    for info in ctx.store.lists():
        record = records.get(info.list_id)
        if record is None:
            continue
        on = record.status == ConsentStatus.GIVEN and not already_unsubscribed(
            ctx, subject, info.list_id
        )
        choices.append(ListChoice(info.list_id, info.purpose, on))
    return Preferences(subject, tuple(choices), _csrf(ctx, subject, list_id, token))


def update_preferences(
    ctx: Context,
    list_id: str,
    token: str,
    csrf: str,
    unsubscribe: Collection[str],
    everything: bool,
    evidence: Mapping[str, str],
) -> list[str]:
    """Withdraw from the chosen lists (or all); returns the lists newly unsubscribed."""
    current = preferences(ctx, list_id, token)
    if not hmac.compare_digest(csrf.encode(), current.csrf.encode()):
        raise InputError("the form has expired; open the link again")
    known = {c.list_id: c for c in current.lists}
    if not everything and not set(unsubscribe) <= set(known):
        raise NotFound("not found")
    targets = [c.list_id for c in current.lists if c.subscribed]
    if not everything:
        targets = [t for t in targets if t in set(unsubscribe)]
    if not targets:
        return []
    lists: list[str | None] = [None] if everything else list(targets)
    withdraw_subject(
        ctx, current.subject, lists, "web", "preference-centre", "preference-centre",
        "recipient", evidence,
    )  # fmt: skip
    return targets
