"""The ports: what services need from the outside world, as Protocols.

Services see only these. ``bootstrap`` chooses the adapters (MemoryStore, SQLiteStore,
PostgresStore; FileKeyRing; SystemClock). Every Store implementation passes the one contract
suite in ``tests/store/test_contract.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from consentry.domain.leaves import LeafDraft
from consentry.domain.merkle import SubtreeSource
from consentry.domain.policy_bulk import AudienceRow
from consentry.domain.state import LeafRef, Projection, SubjectState

# --- what a batch carries besides its leaves ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressRow:
    """Side table: the address behind a subject ref (personal data; erasable)."""

    subject: str
    literal: str
    canonical: str


@dataclass(frozen=True, slots=True)
class EvidenceBlob:
    """Side table: an evidence blob of a subject, addressed by the SHA-256 (hex) that the leaf
    carries."""

    hash: str
    subject: str
    blob: bytes


@dataclass(frozen=True, slots=True)
class NoticeText:
    """Side table: the wording shown to people, content-addressed (SHA-256 hex of the bytes)."""

    hash: str
    text: str
    media_type: str


# --- campaigns and dispatch ---------------------------------------------------------------------

#: The states of one recipient's message in a campaign. ``claimed``: a worker took it and has not
#: decided; ``decided``: an allow decision is durable, nothing sent yet; ``handing``: its batch is
#: with the transport, so the handoff may be under way. The last five are final.
MESSAGE_STATES: tuple[str, ...] = (
    "queued", "claimed", "decided", "handing", "sent", "denied", "rejected", "failed",
    "uncertain",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CampaignRow:
    campaign_id: str
    list_id: str
    template_class: str
    jurisdiction: str
    state: str
    spec: dict[str, Any]
    content_hash: str
    created_at: datetime
    #: Index of the campaign-created leaf; -1 in a batch that writes it (the store fills it in).
    created_index: int = -1


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    campaign_id: str
    actor: str
    report: str
    recipients: int
    #: Index of the campaign-approved leaf; in a batch, the position of that leaf in the batch.
    leaf_index: int


@dataclass(frozen=True, slots=True)
class MessageUpdate:
    """A change to one queue row, written with the leaves of its batch. ``leaf`` is the position
    in ``Batch.leaves`` of the send-decided or send-handed-off leaf that justifies it."""

    campaign_id: str
    subject: str
    state: str
    leaf: int | None = None
    attempts: int | None = None
    not_before: datetime | None = None
    reply: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    campaign_id: str
    subject: str
    attempts: int
    #: The literal and canonical address; None when the side row is gone (erased).
    literal: str | None
    canonical: str | None
    decided_index: int | None = None


@dataclass(slots=True)
class Batch:
    """Everything one append writes, in one transaction: leaves (the store gives them their
    places), side rows, erasures."""

    leaves: list[LeafDraft] = field(default_factory=list)
    addresses: list[AddressRow] = field(default_factory=list)
    evidence: list[EvidenceBlob] = field(default_factory=list)
    notices: list[NoticeText] = field(default_factory=list)
    erase_subjects: list[str] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    messages: list[MessageUpdate] = field(default_factory=list)
    #: Dispatch controls to set (value None removes), e.g. ("halted", reason) for the kill switch.
    controls: list[tuple[str, str | None]] = field(default_factory=list)
    #: (campaign, subject): queue one message for the subject (a double opt-in confirmation). A
    #: row in a final state is queued again (its attempts kept); one in flight is left alone.
    enqueue: list[tuple[str, str]] = field(default_factory=list)


#: Signs a checkpoint inside the append's transaction: (tree size, root) -> signed note text.
Sealer = Callable[[int, bytes], str]


@dataclass(frozen=True, slots=True)
class AppendResult:
    refs: tuple[LeafRef, ...]
    size: int
    root: bytes
    note: str | None


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    index: int
    raw: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ListInfo:
    list_id: str
    purpose: str
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class NoticeInfo:
    notice: str
    list_id: str
    version: int
    language: str
    leaf: LeafRef


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """An admin API bearer token (an operational row, not a ledger leaf): only the SHA-256 (hex)
    of the secret is kept. ``scope``: read, write or admin."""

    name: str
    token_hash: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class Store(Protocol):
    """The ledger, its projections and its side tables, behind one port."""

    # ledger
    def append(self, batch: Batch, seal: Sealer | None = None) -> AppendResult: ...
    def size(self) -> int: ...
    def last_at(self) -> datetime | None: ...
    def leaf(self, index: int) -> StoredLeaf: ...
    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[StoredLeaf]: ...
    def leaf_chunks(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[Sequence[tuple[int, bytes, bytes]]]:
        """(index, leaf bytes, stored leaf hash) rows in order, a chunk at a time: the fast path
        for verification and export."""
        ...

    def leaves_for_subject(self, subject: str) -> list[StoredLeaf]: ...
    def leaves_of_kind(self, kind: str) -> list[StoredLeaf]:
        """Every leaf of one kind, in ledger order (for rare kinds: imports, cutovers)."""
        ...

    def tree(self) -> SubtreeSource: ...
    def checkpoints(self) -> list[StoredCheckpoint]: ...
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    # projections
    def subject_state(self, subject: str) -> SubjectState | None: ...
    def subject_states(self, subjects: Sequence[str]) -> dict[str, SubjectState]: ...
    def list_states(self, list_id: str) -> Iterator[tuple[str, SubjectState]]:
        """Every subject with a consent record on the list, streamed: each state holds that
        list's record only, and the suppressions in its scope (global or the list)."""
        ...

    def audience_rows(
        self, list_id: str, subjects: Iterable[str]
    ) -> Iterator[tuple[list[str], list[AudienceRow]]]:
        """The gate's fast path for an audience, a chunk at a time: the chunk's members (repeats
        kept; chunks may come in any order) and one row for each that the store knows, in the
        layout of ``policy_bulk.ROW_COLUMNS`` (extra trailing columns allowed). A store may mark
        any row complex (it is then decided from the full state), and must mark those that are."""
        ...

    def list_rows(self, list_id: str) -> Iterator[list[AudienceRow]]:
        """The rows (as ``audience_rows``) of everyone with a record on the list, a page at a
        time."""
        ...

    def suppressed_subjects(self) -> Iterator[str]:
        """Every subject ref with at least one suppression, streamed in a stable order (for
        exports: suppressions go out first and all of them)."""
        ...

    def list_info(self, list_id: str) -> ListInfo | None: ...
    def lists(self) -> list[ListInfo]: ...
    def notice_info(self, notice: str) -> NoticeInfo | None: ...
    def notices_for_list(self, list_id: str) -> list[NoticeInfo]: ...
    def organisation(self) -> dict[str, Any] | None: ...
    def projection(self) -> Projection: ...
    def rebuild_projections(self) -> None: ...

    # side tables
    def address(self, subject: str) -> AddressRow | None: ...
    def evidence(self, subject: str, hash: str) -> EvidenceBlob | None: ...
    def notice_text(self, hash: str) -> NoticeText | None: ...

    # campaigns and the dispatch queue
    def campaign(self, campaign_id: str) -> CampaignRow | None: ...
    def campaigns(self) -> list[CampaignRow]: ...
    def campaign_state(self, campaign_id: str) -> str | None:
        """Just the state (what the dispatcher's watcher polls)."""
        ...

    def set_campaign_state(self, campaign_id: str, state: str, allowed_from: Sequence[str]) -> str:
        """Move a campaign to ``state`` if it is in one of ``allowed_from``; returns the state it
        was in (unchanged when that is not allowed: the caller raises)."""
        ...

    def approvals(self, campaign_id: str) -> list[ApprovalRow]: ...
    def enqueue_campaign(self, campaign_id: str, list_id: str) -> int:
        """Queue every subject with a consent record on the list (idempotent); returns how many
        rows were added."""
        ...

    def claim_messages(
        self, campaign_id: str, worker_id: str, limit: int, now: datetime
    ) -> list[ClaimedMessage]:
        """Take up to ``limit`` queued rows due by ``now`` for this worker (PostgreSQL: FOR
        UPDATE SKIP LOCKED, so any number of workers can claim at once)."""
        ...

    def release_messages(self, campaign_id: str, subjects: Sequence[str]) -> None:
        """Put claimed or decided rows back in the queue (withheld before handoff)."""
        ...

    def mark_handing(self, campaign_id: str, subjects: Sequence[str]) -> None:
        """Decided rows whose batch goes to the transport now: from here a crash leaves them
        uncertain (before it, they go back to the queue)."""
        ...

    def message_counts(self, campaign_id: str) -> dict[str, int]: ...
    def messages_in_state(self, campaign_id: str, state: str) -> list[ClaimedMessage]: ...
    def heartbeat(self, worker_id: str, campaign_id: str, now: datetime) -> None: ...
    def stale_workers(self, campaign_id: str, seen_before: datetime) -> list[str]:
        """Workers of the campaign not seen since ``seen_before``, and rows claimed by workers
        that never registered, as worker ids."""
        ...

    def orphaned_messages(self, campaign_id: str, workers: Sequence[str]) -> list[ClaimedMessage]:
        """Rows the given (dead) workers left behind. Claimed and decided rows go back to the
        queue here (nothing of them was sent); the handing ones are returned: their handoff is
        uncertain."""
        ...

    def forget_workers(self, workers: Sequence[str]) -> None: ...
    def objections_since(self, index: int) -> tuple[int, list[tuple[int, str]]]:
        """(ledger size, [(index, subject)]) of withdrawal, suppression and erasure leaves at
        ``index`` or later: what the dispatcher's watcher polls."""
        ...

    def control(self, name: str) -> str | None: ...

    def close(self) -> None: ...

    # admin API tokens: operational rows, not ledger leaves (store/sql_tokens.py, memory_tokens.py)
    def add_api_token(self, row: ApiTokenRow) -> bool:
        """Store a new token; False (nothing written) when its name or hash is taken."""
        ...

    def api_token(self, name: str) -> ApiTokenRow | None: ...
    def api_token_by_hash(self, token_hash: str) -> ApiTokenRow | None: ...
    def api_tokens(self) -> list[ApiTokenRow]: ...
    def revoke_api_token(self, name: str, at: datetime) -> bool:
        """Mark the token revoked at ``at``; False when there is none of that name or it was
        revoked already (the first revocation time stays)."""
        ...

    def touch_api_token(self, name: str, at: datetime) -> None:
        """Record when the token was last used."""
        ...


# --- the way out: only the dispatcher holds a Transport ----------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message for the transport: envelope addresses and the RFC 5322 bytes (CRLF line
    endings, not dot-stuffed). ``key`` is the caller's, returned in the Handoff."""

    key: Any
    sender: str
    recipient: str
    data: bytes
    smtputf8: bool = False


@dataclass(frozen=True, slots=True)
class Handoff:
    """What became of one envelope. ``outcome``: accepted, rejected (5xx), deferred (4xx, or the
    session broke before the final dot: nothing delivered), uncertain (the dot was sent, no reply
    came), withheld (the gate said no just before MAIL FROM) or failed (a local reason)."""

    key: Any
    outcome: str
    code: int | None
    enhanced: str | None
    reply: str
    stage: str
    at: float


class Transport(Protocol):
    """SMTPPool (``mail/smtp_pool.py``) and Outbox (``mail/outbox.py``)."""

    async def start(self) -> None: ...
    async def send(
        self, envelopes: Sequence[Envelope], gate: Callable[[Envelope], bool]
    ) -> list[Handoff]: ...
    async def close(self) -> None: ...


class MessageSigner(Protocol):
    """DKIM: the header fields to prepend to each message (empty bytes when not signing)."""

    async def sign_many(self, messages: Sequence[bytes]) -> list[bytes]: ...
    def close(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC time."""
        ...


class KeyRing(Protocol):
    """Key material kept outside the database (``CONSENTRY_HOME``)."""

    def subject_key(self) -> bytes: ...
    def checkpoint_origin(self) -> str: ...
    def verifier_key(self) -> str: ...
    def sign_checkpoint(self, size: int, root: bytes) -> str: ...
    def verify_checkpoint(self, note: str) -> tuple[int, bytes]:
        """Verify a signed note with this ring's key; returns (size, root) or raises."""
        ...

    def token_key(self, kid: str | None = None) -> tuple[str, bytes]:
        """The unsubscribe-token HMAC key by id (the current one when None): (id, key)."""
        ...
