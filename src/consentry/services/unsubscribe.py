"""One-click unsubscribe (RFC 8058, R18, R19): from the token in a message's List-Unsubscribe URL
to a durable withdrawal.

The token names the subject and the list and carries an HMAC tag under a key id, so tokens of
every earlier message keep working across key rotation (``KeyRing.token_key(kid)``). A forged,
truncated or tampered token is :class:`NotFound` and reveals nothing. Repeats are idempotent: when
the person is already unsubscribed from the list (a withdrawal or unsubscribe suppression in
scope that no later consent lifted), nothing new is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consentry.domain.errors import NotFound
from consentry.domain.state import GLOBAL_SCOPE, SuppressionReason
from consentry.domain.tokens import read_unsubscribe_token
from consentry.services.consent import withdraw_subject
from consentry.services.context import Context

_OBJECTIONS = frozenset({SuppressionReason.UNSUBSCRIBE, SuppressionReason.WITHDRAWAL})


@dataclass(frozen=True)
class Unsubscribed:
    subject: str
    list_id: str
    recorded: bool  # False: already unsubscribed, nothing written
    index: int | None


def subject_of_token(ctx: Context, list_id: str, token: str) -> str:
    """The subject ref a token names for this list, or NotFound."""
    kid = token.partition(".")[0]
    if ctx.store.list_info(list_id) is None:
        raise NotFound("not found")
    try:
        kid, key = ctx.keys.token_key(kid or None)
        return read_unsubscribe_token({kid: key}, token, list_id)
    except Exception as exc:  # a bad key id, length, encoding or tag: all the same to the caller
        raise NotFound("not found") from exc


def already_unsubscribed(ctx: Context, subject: str, list_id: str) -> bool:
    state = ctx.store.subject_state(subject)
    if state is None:
        return False
    record = state.consents.get(list_id)
    granted = record.grant.index if record is not None else -1
    return any(
        s.reason in _OBJECTIONS and s.scope in (GLOBAL_SCOPE, list_id) and s.leaf.index > granted
        for s in state.suppressions
    )


def unsubscribe_by_token(
    ctx: Context, list_id: str, token: str, evidence: Mapping[str, str], method: str
) -> Unsubscribed:
    """Withdraw the token's subject from the list, durably, before returning."""
    subject = subject_of_token(ctx, list_id, token)
    if already_unsubscribed(ctx, subject, list_id):
        return Unsubscribed(subject, list_id, False, None)
    recorded = withdraw_subject(
        ctx, subject, [list_id], "web", method, "list-unsubscribe", "recipient", evidence
    )
    return Unsubscribed(subject, list_id, True, recorded.refs[0].index)
