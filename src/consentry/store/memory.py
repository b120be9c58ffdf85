"""MemoryStore: the whole store in process memory, for tests, dry runs and as the reference."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from consentry.domain.errors import StoreError
from consentry.domain.leaves import decode_leaf, place
from consentry.domain.merkle import MemoryTree, SubtreeSource, leaf_hash
from consentry.domain.policy_bulk import AudienceRow, row_of
from consentry.domain.state import GLOBAL_SCOPE, LeafRef, Projection, SubjectState, changes_for
from consentry.ports import (
    AddressRow,
    AppendResult,
    Batch,
    EvidenceBlob,
    ListInfo,
    NoticeInfo,
    NoticeText,
    Sealer,
    StoredCheckpoint,
    StoredLeaf,
)
from consentry.store.memory_dispatch import MemoryDispatch
from consentry.store.memory_tokens import MemoryTokens

_AUDIENCE_CHUNK = 1000


class MemoryStore(MemoryTokens, MemoryDispatch):
    """Keeps leaves, projections and side tables in dicts; appends are serialised by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: list[bytes] = []
        self._hashes: list[bytes] = []
        self._ats: list[datetime] = []
        self._by_subject: dict[str, list[int]] = {}
        self._tree = MemoryTree()
        self._projection = Projection()
        self._addresses: dict[str, AddressRow] = {}
        self._evidence: dict[str, EvidenceBlob] = {}
        self._notice_texts: dict[str, NoticeText] = {}
        self._checkpoints: list[StoredCheckpoint] = []
        self._init_dispatch()

    # --- ledger ---------------------------------------------------------------------------------

    def append(self, batch: Batch, seal: Sealer | None = None) -> AppendResult:
        with self._lock:
            start = len(self._raw)
            placed = [place(draft, start + i) for i, draft in enumerate(batch.leaves)]
            refs = [LeafRef(leaf.seq, leaf_hash(leaf.raw).hex()) for leaf in placed]
            changes = [
                c for leaf, ref in zip(placed, refs, strict=True) for c in changes_for(leaf, ref)
            ]
            for ref in refs:
                self._tree.append_hash(bytes.fromhex(ref.hash))
            size = start + len(placed)
            root = self._tree.root()
            try:
                note = seal(size, root) if seal is not None else None
            except BaseException:
                self._tree = MemoryTree()
                for h in self._hashes:
                    self._tree.append_hash(h)
                raise
            for leaf, ref in zip(placed, refs, strict=True):
                self._raw.append(leaf.raw)
                self._hashes.append(bytes.fromhex(ref.hash))
                self._ats.append(leaf.at)
                subject = leaf.subject()
                if subject is not None:
                    self._by_subject.setdefault(subject, []).append(leaf.seq)
            for change in changes:
                self._projection.apply(change)
            for subject in batch.erase_subjects:
                self._addresses.pop(subject, None)
                for key in [k for k, e in self._evidence.items() if e.subject == subject]:
                    del self._evidence[key]
            for row in batch.addresses:
                self._addresses.setdefault(row.subject, row)
            for ev in batch.evidence:
                self._evidence.setdefault(ev.hash, ev)
            for text in batch.notices:
                self._notice_texts.setdefault(text.hash, text)
            self._write_dispatch(batch, placed)
            if note is not None:
                self._checkpoints.append(StoredCheckpoint(size, root, note, datetime.now(UTC)))
            return AppendResult(tuple(refs), size, root, note)

    def size(self) -> int:
        return len(self._raw)

    def last_at(self) -> datetime | None:
        return self._ats[-1] if self._ats else None

    def leaf(self, index: int) -> StoredLeaf:
        if not 0 <= index < len(self._raw):
            raise StoreError(f"no leaf at index {index}; the ledger has {len(self._raw)} leaves")
        return StoredLeaf(index, self._raw[index], self._hashes[index])

    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[StoredLeaf]:
        stop = len(self._raw) if end is None else min(end, len(self._raw))
        for i in range(start, stop):
            yield StoredLeaf(i, self._raw[i], self._hashes[i])

    def leaf_chunks(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[Sequence[tuple[int, bytes, bytes]]]:
        stop = len(self._raw) if end is None else min(end, len(self._raw))
        for pos in range(start, stop, 10_000):
            upto = min(pos + 10_000, stop)
            yield list(
                zip(range(pos, upto), self._raw[pos:upto], self._hashes[pos:upto], strict=True)
            )

    def leaves_for_subject(self, subject: str) -> list[StoredLeaf]:
        return [self.leaf(i) for i in self._by_subject.get(subject, [])]

    def leaves_of_kind(self, kind: str) -> list[StoredLeaf]:
        wanted = f'"kind":"{kind}"'.encode()
        return [self.leaf(i) for i in range(self.size()) if wanted in self.leaf(i).raw]

    def tree(self) -> SubtreeSource:
        return self._tree

    def checkpoints(self) -> list[StoredCheckpoint]:
        return list(self._checkpoints)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self._checkpoints[-1] if self._checkpoints else None

    # --- projections ----------------------------------------------------------------------------

    def subject_state(self, subject: str) -> SubjectState | None:
        return self._projection.subject_state(subject)

    def subject_states(self, subjects: Sequence[str]) -> dict[str, SubjectState]:
        out = {}
        for subject in subjects:
            state = self._projection.subject_state(subject)
            if state is not None:
                out[subject] = state
        return out

    def suppressed_subjects(self) -> Iterator[str]:
        with self._lock:
            subjects = sorted(s for s, sups in self._projection.suppressions.items() if sups)
        yield from subjects

    def list_states(self, list_id: str) -> Iterator[tuple[str, SubjectState]]:
        for subject in sorted(self._projection.consents):
            record = self._projection.consents[subject].get(list_id)
            if record is None:
                continue
            sups = tuple(
                s
                for s in sorted(
                    self._projection.suppressions.get(subject, []), key=lambda s: s.leaf.index
                )
                if s.scope in (GLOBAL_SCOPE, list_id)
            )
            erased = subject in self._projection.erased
            yield subject, SubjectState(subject, {list_id: record}, sups, erased)

    def audience_rows(
        self, list_id: str, subjects: Iterable[str]
    ) -> Iterator[tuple[list[str], list[AudienceRow]]]:
        it = iter(subjects)
        while chunk := list(islice(it, _AUDIENCE_CHUNK)):
            rows = [self._row(s, list_id) for s in dict.fromkeys(chunk)]
            yield chunk, [r for r in rows if r is not None]

    def _row(self, subject: str, list_id: str) -> AudienceRow | None:
        with self._lock:
            return row_of(subject, self._projection.subject_state(subject), list_id)

    def list_rows(self, list_id: str) -> Iterator[list[AudienceRow]]:
        with self._lock:
            subjects = sorted(s for s, c in self._projection.consents.items() if list_id in c)
        for i in range(0, len(subjects), _AUDIENCE_CHUNK):
            rows = [self._row(s, list_id) for s in subjects[i : i + _AUDIENCE_CHUNK]]
            yield [r for r in rows if r is not None]

    def list_info(self, list_id: str) -> ListInfo | None:
        found = self._projection.lists.get(list_id)
        return ListInfo(list_id, found[0], found[1]) if found else None

    def lists(self) -> list[ListInfo]:
        return [ListInfo(k, p, ref) for k, (p, ref) in sorted(self._projection.lists.items())]

    def notice_info(self, notice: str) -> NoticeInfo | None:
        n = self._projection.notices.get(notice)
        return NoticeInfo(n.notice, n.list_id, n.version, n.language, n.leaf) if n else None

    def notices_for_list(self, list_id: str) -> list[NoticeInfo]:
        found = [
            NoticeInfo(n.notice, n.list_id, n.version, n.language, n.leaf)
            for n in self._projection.notices.values()
            if n.list_id == list_id
        ]
        return sorted(found, key=lambda n: n.version)

    def organisation(self) -> dict[str, Any] | None:
        org = self._projection.organisation
        return dict(org) if org is not None else None

    def projection(self) -> Projection:
        return _copy_projection(self._projection)

    def rebuild_projections(self) -> None:
        with self._lock:
            projection = Projection()
            for i, raw in enumerate(self._raw):
                projection.apply_leaf(decode_leaf(raw), LeafRef(i, self._hashes[i].hex()))
            self._projection = projection

    # --- side tables ----------------------------------------------------------------------------

    def address(self, subject: str) -> AddressRow | None:
        return self._addresses.get(subject)

    def evidence(self, subject: str, hash: str) -> EvidenceBlob | None:
        found = self._evidence.get(hash)
        return found if found is not None and found.subject == subject else None

    def notice_text(self, hash: str) -> NoticeText | None:
        return self._notice_texts.get(hash)

    def close(self) -> None:
        return None


def _copy_projection(p: Projection) -> Projection:
    return Projection(
        consents={s: dict(recs) for s, recs in p.consents.items()},
        suppressions={s: list(sups) for s, sups in p.suppressions.items()},
        erased=set(p.erased),
        lists=dict(p.lists),
        notices=dict(p.notices),
        organisation=dict(p.organisation) if p.organisation is not None else None,
    )
