"""The ports: what services need from the outside world, as Protocols.

Services see only these. ``bootstrap`` chooses the adapters (MemoryStore, SQLiteStore,
PostgresStore; FileKeyRing; SystemClock). Every Store implementation passes the one contract
suite in ``tests/store/test_contract.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from consentry.domain.leaves import LeafDraft
from consentry.domain.merkle import SubtreeSource
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


@dataclass(slots=True)
class Batch:
    """Everything one append writes, in one transaction: leaves (the store gives them their
    places), side rows, erasures."""

    leaves: list[LeafDraft] = field(default_factory=list)
    addresses: list[AddressRow] = field(default_factory=list)
    evidence: list[EvidenceBlob] = field(default_factory=list)
    notices: list[NoticeText] = field(default_factory=list)
    erase_subjects: list[str] = field(default_factory=list)


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
