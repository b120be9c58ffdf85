"""One-click unsubscribe (RFC 8058, R18, R19): from the token in a message's List-Unsubscribe URL
to a durable withdrawal.

The token names the subject and the list and carries an HMAC tag under a key id, so tokens of
every earlier message keep working across key rotation (``KeyRing.token_key(kid)``). A forged,
truncated or tampered token is :class:`NotFound` and reveals nothing. Repeats are idempotent: when
the person is already unsubscribed from the list (a withdrawal or unsubscribe suppression in
scope that no later consent lifted), nothing new is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from consentry.domain.errors import NotFound
from consentry.domain.leaves import LeafDraft
from consentry.domain.state import GLOBAL_SCOPE, SubjectState, SuppressionReason
from consentry.domain.tokens import read_unsubscribe_token
from consentry.ports import Batch
from consentry.services.consent import evidence_blob, leaf_time, new_record_id, withdraw_subject
from consentry.services.context import Context
from consentry.services.ledger import append_sealed

_OBJECTIONS = frozenset({SuppressionReason.UNSUBSCRIBE, SuppressionReason.WITHDRAWAL})


@dataclass(frozen=True)
class Unsubscribed:
    subject: str
    list_id: str
    recorded: bool  # False: already unsubscribed, nothing written
    index: int | None


def subject_of_token(ctx: Context, list_id: str, token: str, list_known: bool | None = None) -> str:
    """The subject ref a token names for this list, or NotFound. ``list_known``: the caller
    has looked the list up already (a batch of requests looks each list up once)."""
    kid = token.partition(".")[0]
    if list_known is None:
        list_known = ctx.store.list_info(list_id) is not None
    if not list_known:
        raise NotFound("not found")
    try:
        kid, key = ctx.keys.token_key(kid or None)
        return read_unsubscribe_token({kid: key}, token, list_id)
    except Exception as exc:  # a bad key id, length, encoding or tag: all the same to the caller
        raise NotFound("not found") from exc


def already_unsubscribed(ctx: Context, subject: str, list_id: str) -> bool:
    return unsubscribed_in(ctx.store.subject_state(subject), list_id)


def unsubscribed_in(state: SubjectState | None, list_id: str) -> bool:
    """A withdrawal or unsubscribe in scope (global or this list) that no later consent for the
    list lifted."""
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


@dataclass(frozen=True)
class UnsubscribeRequest:
    """One one-click POST: the list and token of its URL, and the client as evidence."""

    list_id: str
    token: str
    evidence: Mapping[str, str]
    method: str = "one-click"


def unsubscribe_many(
    ctx: Context, requests: Sequence[UnsubscribeRequest]
) -> list[Unsubscribed | NotFound]:
    """Group commit of one-click unsubscribes: every request that arrived together is written in
    one append (one transaction, one checkpoint), durably, before this returns. The result of
    each is what :func:`unsubscribe_by_token` would have given (NotFound for a bad token or list,
    returned rather than raised so that it answers only its own request)."""
    results: list[Unsubscribed | NotFound | None] = [None] * len(requests)
    subjects: dict[int, str] = {}
    known = {lid: ctx.store.list_info(lid) is not None for lid in {r.list_id for r in requests}}
    for i, request in enumerate(requests):
        try:
            subjects[i] = subject_of_token(ctx, request.list_id, request.token,
                                           known[request.list_id])  # fmt: skip
        except NotFound as exc:
            results[i] = exc
    states = ctx.store.subject_states(sorted(set(subjects.values())))
    now = leaf_time(ctx, objection=True)
    batch = Batch()
    placed: dict[int, int] = {}
    seen: set[tuple[str, str]] = set()
    for i, subject in subjects.items():
        request = requests[i]
        key = (subject, request.list_id)
        if key in seen or unsubscribed_in(states.get(subject), request.list_id):
            results[i] = Unsubscribed(subject, request.list_id, False, None)
            continue
        seen.add(key)
        blob = evidence_blob(request.evidence, subject, now)
        placed[i] = len(batch.leaves)
        batch.leaves.append(LeafDraft("consent-withdrawn", now, {
            "record": new_record_id(), "subject": subject, "list": request.list_id,
            "channel": "web", "method": request.method, "actor": "recipient",
            "source": "list-unsubscribe", "evidence": blob.hash,
        }))  # fmt: skip
        batch.evidence.append(blob)
    if batch.leaves:
        refs = append_sealed(ctx, batch).refs
        for i, position in placed.items():
            request = requests[i]
            results[i] = Unsubscribed(subjects[i], request.list_id, True, refs[position].index)
    done = [r for r in results if r is not None]
    assert len(done) == len(requests)
    return done
