"""SQLStore: what the SQLite and PostgreSQL stores share.

A subclass supplies a DB-API connection in autocommit mode, its dialect's named queries and the
translation of driver errors. Appends are serialised by the dialect's ``begin_write`` (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so indexes are gap-free; the
leaves, their Merkle nodes, the projection changes, the side rows and the signed checkpoint of one
batch commit together or not at all.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from consentry.domain.errors import ConsentryError, StoreError
from consentry.domain.leaves import decode_leaf, format_time, parse_time, place
from consentry.domain.merkle import SubtreeSource, TiledSource, completed_nodes, leaf_hash
from consentry.domain.merkle import root as merkle_root
from consentry.domain.policy_bulk import AudienceRow
from consentry.domain.state import (
    LeafRef,
    Projection,
    PutNotice,
    SubjectState,
    Suppression,
    changes_for,
)
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
from consentry.store.sql_dispatch import SQLDispatch
from consentry.store.sql_rows import (
    change_subject,
    consent_from_row,
    statement_runs,
    suppression_from_row,
)

T = TypeVar("T")
CHUNK = 5000
IN_CHUNK = 500
ARRAY_CHUNK = 5000
ID_CACHE = 100_000
NODE_CACHE = 4096  # committed perfect subtrees a store keeps (the frontier and a little more)


class SQLStore(SQLDispatch):
    """Store over a DB-API connection; see the module docstring."""

    #: The driver's exception classes, translated into StoreError and its subclasses.
    driver_errors: tuple[type[Exception], ...] = ()

    def __init__(self, conn: Any, queries: dict[str, list[str]], placeholder: str = "?") -> None:
        self._conn = conn
        self._queries = queries
        self._placeholder = placeholder
        self._lock = threading.RLock()
        #: subject ref -> dense id, for ids read from the database (never for ids this
        #: connection is still inserting): ids are append-only, so an entry never goes stale.
        self._id_cache: dict[str, int] = {}
        #: (level, index) -> hash of perfect subtrees of committed leaves, which never change:
        #: an append reads the tree's frontier from here instead of from the database.
        self._node_cache: dict[tuple[int, int], bytes] = {}

    # --- plumbing -------------------------------------------------------------------------------

    def _translate(self, exc: Exception) -> ConsentryError:  # pragma: no cover - overridden
        return StoreError(f"database error: {exc}")

    def _sql(self, name: str) -> str:
        return self._queries[name][0]

    def _exec(self, name: str, params: Sequence[Any] = ()) -> Any:
        return self._run(self._sql(name), tuple(params))

    def _run(self, sql: str, params: tuple[Any, ...]) -> Any:
        """Execute one statement; a dialect may pass driver options here."""
        return self._conn.execute(sql, params)

    def _one(self, name: str, params: Sequence[Any] = ()) -> Any:
        with self._lock:
            try:
                return self._exec(name, params).fetchone()
            except self.driver_errors as exc:
                raise self._translate(exc) from exc

    def _all(self, name: str, params: Sequence[Any] = (), **fmt: str) -> list[Any]:
        with self._lock:
            try:
                sql = self._sql(name).format(**fmt) if fmt else self._sql(name)
                return list(self._run(sql, tuple(params)).fetchall())
            except self.driver_errors as exc:
                raise self._translate(exc) from exc

    def _many(
        self, name: str, rows: Sequence[Sequence[Any]], fresh_from: int | None = None
    ) -> None:
        """Execute the named statement once per row. ``fresh_from``, where given, is the first
        subject id that the current append gave out: a row whose first column (its subject id)
        is at least that is about a subject no committed row names yet (a dialect may insert
        such rows without looking for a row to update)."""
        if rows:
            self._conn.cursor().executemany(self._sql(name), [tuple(r) for r in rows])

    def _begin(self) -> None:
        """Start the serialised write transaction: the dialect's ``begin_write`` statements,
        after a plain BEGIN unless they start the transaction themselves."""
        statements = self._queries["begin_write"]
        if not statements[0].upper().startswith("BEGIN"):
            self._conn.execute("BEGIN")
        for statement in statements:
            self._conn.execute(statement)

    def _pipelined(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` (an append's writes, inside its transaction) with its statements sent
        without waiting for each answer, where the driver can; here, as it is."""
        return fn

    def _write(self, fn: Any, serialised: bool = True) -> Any:
        """Run ``fn`` inside one write transaction, serialised with appends unless
        ``serialised`` is False (claims and bookkeeping that write no leaf)."""
        with self._lock:
            try:
                if serialised:
                    self._begin()
                else:
                    for statement in self._queries["begin_plain"]:
                        self._conn.execute(statement)
                result = fn()
                self._conn.execute("COMMIT")
                return result
            except BaseException as exc:
                with contextlib.suppress(Exception):  # the original error is what matters
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, self.driver_errors):
                    raise self._translate(exc) from exc
                raise

    # --- ledger ---------------------------------------------------------------------------------

    def _tiled(self, fresh_from: int = 0, fresh: Sequence[bytes] = ()) -> TiledSource:
        """Tree access through the database; ``fresh`` are the hashes of leaves ``fresh_from``
        onwards that this transaction just wrote, served from memory. With ``fresh``, the
        caller holds the write lock and every leaf before ``fresh_from`` is committed, so the
        subtrees among them are kept in the store's node cache."""

        def leaf_hashes(start: int, end: int) -> list[bytes]:
            if fresh and start >= fresh_from:
                return list(fresh[start - fresh_from : end - fresh_from])
            rows = self._exec("leaf_hashes", (start, end)).fetchall()
            return [bytes(r[0]) for r in rows]

        def stored_nodes(level: int, start: int, end: int) -> list[bytes]:
            rows = self._exec("node_range", (level, start, end)).fetchall()
            return [bytes(r[0]) for r in rows]

        if not fresh:
            return TiledSource(leaf_hashes, stored_nodes)
        return TiledSource(leaf_hashes, stored_nodes, committed=self._node_cache,
                           committed_size=fresh_from)  # fmt: skip

    def _ids_of(self, subjects: Sequence[str]) -> dict[str, int]:
        """The dense ids of the subject refs that have one (no writes); remembered ones first."""
        cache = self._id_cache
        ids: dict[str, int] = {}
        missing = []
        for subject in subjects:
            found = cache.get(subject)
            if found is None:
                missing.append(subject)
            else:
                ids[subject] = found
        if missing:
            read = self._read_ids(missing)
            self._remember_ids(read)
            ids.update(read)
        return ids

    def _remember_ids(self, read: dict[str, int]) -> None:
        """Keep ids read from the database (committed ones only) in the id cache."""
        if len(self._id_cache) + len(read) > ID_CACHE:
            self._id_cache.clear()
        self._id_cache.update(read)

    def _read_ids(self, subjects: Sequence[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        arrays = "{subjects}" not in self._sql("subject_ids")  # one array parameter
        size = ARRAY_CHUNK if arrays else IN_CHUNK
        for i in range(0, len(subjects), size):
            chunk = list(subjects[i : i + size])
            if arrays:
                rows = self._run(self._sql("subject_ids"), (chunk,)).fetchall()
            else:
                marks = ", ".join([self._placeholder] * len(chunk))
                sql = self._sql("subject_ids").format(subjects=marks)
                rows = self._run(sql, tuple(chunk)).fetchall()
            ids.update({subject: int(sid) for sid, subject in rows})
        return ids

    def _ensure_ids(self, subjects: Sequence[str]) -> tuple[dict[str, int], int | None]:
        """Ids for every subject ref, giving new ones the next ids (inside the write lock), and
        the first new id given (None: none)."""
        unique = list(dict.fromkeys(subjects))
        ids = self._ids_of(unique)
        new = [s for s in unique if s not in ids]
        if not new:
            return ids, None
        nxt = int(self._exec("max_subject_id").fetchone()[0]) + 1
        fresh = {subject: nxt + k for k, subject in enumerate(new)}
        self._many("add_subject", [(sid, subject) for subject, sid in fresh.items()])
        ids.update(fresh)
        return ids, nxt

    def _ids_later(
        self, subjects: Sequence[str]
    ) -> Callable[[], tuple[dict[str, int], int | None]]:
        """``_ensure_ids`` as a question asked now and a function that collects the answer: a
        dialect may send it at once, so that the database works while the caller encodes."""
        return lambda: self._ensure_ids(subjects)

    def append(self, batch: Batch, seal: Sealer | None = None) -> AppendResult:
        # The order lets a client-server database work while this process does: the subject
        # ids are asked for before the leaves are encoded, and the projection changes are
        # worked out after the leaves and side rows have been sent.
        def work() -> AppendResult:
            start = int(self._exec("size").fetchone()[0])
            named = [draft.subject() for draft in batch.leaves]
            named += [a.subject for a in batch.addresses] + [e.subject for e in batch.evidence]
            named += batch.erase_subjects + [m.subject for m in batch.messages]
            named += [subject for _, subject in batch.enqueue]
            ids_of = self._ids_later([s for s in named if s is not None])
            placed = [place(draft, start + i) for i, draft in enumerate(batch.leaves)]
            hashes = [leaf_hash(leaf.raw) for leaf in placed]
            ids, fresh_from = ids_of()
            sid = ids.__getitem__
            times: dict[datetime, str] = {}
            self._many("insert_leaf", [
                (leaf.seq, leaf.kind, ids.get(leaf.subject() or ""),
                 times.get(leaf.at) or times.setdefault(leaf.at, format_time(leaf.at)),
                 leaf.raw, h)
                for leaf, h in zip(placed, hashes, strict=True)
            ])  # fmt: skip
            for subject in batch.erase_subjects:
                self._exec("erase_addresses", (sid(subject),))
                self._exec("erase_evidence", (sid(subject),))
            addresses = [(sid(a.subject), a.literal, a.canonical) for a in batch.addresses]
            self._many("put_address", addresses, fresh_from)
            evidence = [(sid(e.subject), e.hash, e.blob) for e in batch.evidence]
            self._many("put_evidence", evidence, fresh_from)
            self._many("put_notice_text", [(n.hash, n.text, n.media_type) for n in batch.notices])
            size = start + len(placed)
            tiled = self._tiled(start, hashes)
            self._many("insert_node", completed_nodes(start, size, tiled))
            refs = [LeafRef(leaf.seq, h.hex()) for leaf, h in zip(placed, hashes, strict=True)]
            changes = [
                change
                for leaf, ref in zip(placed, refs, strict=True)
                for change in changes_for(leaf, ref)
            ]
            for name, rows, first in statement_runs(changes, sid):
                # a row that an earlier run of this append wrote is in the way of a plain insert
                self._many(name, rows, fresh_from if first else None)
            self._write_dispatch(batch, placed, ids)
            root = merkle_root(tiled, size)
            note = seal(size, root) if seal is not None else None
            if note is not None:
                created = placed[-1].at if placed else datetime.now(UTC)
                self._exec("insert_checkpoint", (size, root, note, format_time(created)))
            computed.append(tiled)
            return AppendResult(tuple(refs), size, root, note)

        computed: list[TiledSource] = []
        result: AppendResult = self._write(self._pipelined(work))
        with self._lock:  # committed now: what the append computed of the tree is final
            if len(self._node_cache) > NODE_CACHE:
                self._node_cache.clear()
            for tiled in computed:
                self._node_cache.update(tiled.known())
        return result

    def size(self) -> int:
        return int(self._one("size")[0])

    def last_at(self) -> datetime | None:
        row = self._one("last_at")
        return parse_time(row[0]) if row else None

    def leaf(self, index: int) -> StoredLeaf:
        row = self._one("leaf", (index,))
        if row is None:
            raise StoreError(f"no leaf at index {index}; the ledger has {self.size()} leaves")
        return StoredLeaf(int(row[0]), bytes(row[1]), bytes(row[2]))

    def leaf_chunks(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[Sequence[tuple[int, bytes, bytes]]]:
        stop = self.size() if end is None else end
        pos = start
        while pos < stop:
            rows = self._all("leaf_range", (pos, min(pos + CHUNK, stop)))
            if not rows:
                return
            yield rows
            pos = int(rows[-1][0]) + 1

    def iter_leaves(self, start: int = 0, end: int | None = None) -> Iterator[StoredLeaf]:
        for rows in self.leaf_chunks(start, end):
            for row in rows:
                yield StoredLeaf(int(row[0]), bytes(row[1]), bytes(row[2]))

    def leaves_for_subject(self, subject: str) -> list[StoredLeaf]:
        rows = self._all("leaves_for_subject", (subject,))
        return [StoredLeaf(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]

    def leaves_of_kind(self, kind: str) -> list[StoredLeaf]:
        rows = self._all("leaves_of_kind", (kind,))
        return [StoredLeaf(int(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]

    def tree(self) -> SubtreeSource:
        return self._tiled()

    def _checkpoint(self, row: Sequence[Any]) -> StoredCheckpoint:
        return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], parse_time(row[3]))

    def checkpoints(self) -> list[StoredCheckpoint]:
        return [self._checkpoint(r) for r in self._all("checkpoints")]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        row = self._one("latest_checkpoint")
        return self._checkpoint(row) if row else None

    # --- projections ----------------------------------------------------------------------------

    def subject_state(self, subject: str) -> SubjectState | None:
        return self.subject_states([subject]).get(subject)

    def _by_ids(self, name: str, ids: list[int]) -> list[Any]:
        if "{ids}" not in self._sql(name):
            return self._all(name, (ids,))
        return self._all(name, ids, ids=", ".join([self._placeholder] * len(ids)))

    _STATE_QUERIES = ("consents_for_ids", "suppressions_for_ids", "erased_among_ids")

    def _state_rows(self, ids: list[int]) -> list[list[Any]]:
        """The consent, suppression and erasure rows of these subject ids."""
        return [self._by_ids(name, ids) for name in self._STATE_QUERIES]

    def subject_states(self, subjects: Sequence[str]) -> dict[str, SubjectState]:
        out: dict[str, SubjectState] = {}
        with self._lock:
            try:
                known = self._ids_of(list(dict.fromkeys(subjects)))
            except self.driver_errors as exc:
                raise self._translate(exc) from exc
        by_id = {sid: subject for subject, sid in known.items()}
        id_list = list(by_id)
        size = ARRAY_CHUNK if "{ids}" not in self._sql("consents_for_ids") else IN_CHUNK
        for i in range(0, len(id_list), size):
            chunk = id_list[i : i + size]
            consent_rows, sup_rows, erased_rows = self._state_rows(chunk)
            consents: dict[str, dict[str, Any]] = {}
            for row in consent_rows:
                subject, record = consent_from_row(row)
                consents.setdefault(subject, {})[record.list_id] = record
            sups: dict[str, list[Any]] = {}
            for row in sup_rows:
                _, sup = suppression_from_row(row)
                sups.setdefault(by_id[int(row[0])], []).append(sup)
            erased = {by_id[int(r[0])] for r in erased_rows}
            for sid in chunk:
                subject = by_id[sid]
                if subject in consents or subject in sups:
                    out[subject] = SubjectState(
                        subject, consents.get(subject, {}), tuple(sups.get(subject, [])),
                        subject in erased,
                    )  # fmt: skip
        return out

    def audience_rows(
        self, list_id: str, subjects: Iterable[str]
    ) -> Iterator[tuple[list[str], list[AudienceRow]]]:
        """IN-list chunks; see ``Store.audience_rows``."""
        it = iter(subjects)
        while chunk := list(islice(it, IN_CHUNK)):
            unique = list(dict.fromkeys(chunk))
            marks = ", ".join([self._placeholder] * len(unique))
            rows = self._all("audience_rows", (list_id, list_id, *unique), subjects=marks)
            yield chunk, rows

    def list_rows(self, list_id: str) -> Iterator[list[AudienceRow]]:
        after = 0
        while True:
            rows = self._all("list_rows", (list_id, list_id, after, CHUNK))
            if rows:
                yield rows
            if len(rows) < CHUNK:
                return
            after = int(rows[-1][23])

    def suppressed_subjects(self) -> Iterator[str]:
        after = 0
        while True:
            rows = self._all("suppressed_subjects_after", (after, CHUNK))
            for row in rows:
                yield str(row[1])
            if len(rows) < CHUNK:
                return
            after = int(rows[-1][0])

    def list_states(self, list_id: str) -> Iterator[tuple[str, SubjectState]]:
        """A page of the list's records at a time (keyset on the subject id), with the
        suppressions and erasures of that page's id range read by two range scans."""
        after = 0
        while True:
            rows = self._all("list_consents", (list_id, after, CHUNK))
            if not rows:
                return
            first, last = int(rows[0][20]), int(rows[-1][20])
            sups: dict[int, list[Suppression]] = {}
            for row in self._all("suppressions_between", (first, last, list_id)):
                sups.setdefault(int(row[0]), []).append(suppression_from_row(row)[1])
            erased = {int(r[0]) for r in self._all("erased_between", (first, last))}
            for row in rows:
                subject, record = consent_from_row(row[:20])
                sid = int(row[20])
                found = sups.get(sid)
                state = SubjectState(
                    subject, {list_id: record}, tuple(found) if found else (), sid in erased
                )
                yield subject, state
            if len(rows) < CHUNK:
                return
            after = last

    @staticmethod
    def _list(row: Sequence[Any]) -> ListInfo:
        return ListInfo(row[0], row[1], LeafRef(int(row[2]), row[3]))

    @staticmethod
    def _notice(row: Sequence[Any]) -> NoticeInfo:
        return NoticeInfo(row[0], row[1], int(row[2]), row[3], LeafRef(int(row[4]), row[5]))

    def list_info(self, list_id: str) -> ListInfo | None:
        row = self._one("list_info", (list_id,))
        return self._list(row) if row else None

    def lists(self) -> list[ListInfo]:
        return [self._list(r) for r in self._all("lists")]

    def notice_info(self, notice: str) -> NoticeInfo | None:
        row = self._one("notice_info", (notice,))
        return self._notice(row) if row else None

    def notices_for_list(self, list_id: str) -> list[NoticeInfo]:
        return [self._notice(r) for r in self._all("notices_for_list", (list_id,))]

    def organisation(self) -> dict[str, Any] | None:
        row = self._one("organisation")
        if row is None:
            return None
        settings: dict[str, Any] = json.loads(row[0])
        return settings

    def projection(self) -> Projection:
        p = Projection()
        for row in self._all("all_consents"):
            subject, record = consent_from_row(row)
            p.consents.setdefault(subject, {})[record.list_id] = record
        for row in self._all("all_suppressions"):
            subject, sup = suppression_from_row(row)
            p.suppressions.setdefault(subject, []).append(sup)
        p.erased = {r[0] for r in self._all("all_erased")}
        p.lists = {r[0]: (r[1], LeafRef(int(r[2]), r[3])) for r in self._all("lists")}
        for row in self._all("all_notices"):
            info = self._notice(row)
            p.notices[info.notice] = PutNotice(
                info.notice, info.list_id, info.version, info.language, info.leaf
            )
        p.organisation = self.organisation()
        return p

    def rebuild_projections(self) -> None:
        def work() -> None:
            for statement in self._queries["clear_projections"]:
                self._conn.execute(statement)
            size = int(self._exec("size").fetchone()[0])
            for pos in range(0, size, CHUNK):
                rows = self._exec("leaf_range", (pos, pos + CHUNK)).fetchall()
                changes = [
                    change
                    for row in rows
                    for change in changes_for(
                        decode_leaf(bytes(row[1])), LeafRef(int(row[0]), bytes(row[2]).hex())
                    )
                ]
                ids = self._ids_of(
                    list({s for c in changes if (s := change_subject(c)) is not None})
                )
                for name, rows, _ in statement_runs(changes, ids.__getitem__):
                    self._many(name, rows)

        self._write(work)

    # --- side tables ----------------------------------------------------------------------------

    def address(self, subject: str) -> AddressRow | None:
        row = self._one("address", (subject,))
        return AddressRow(row[0], row[1], row[2]) if row else None

    def evidence(self, subject: str, hash: str) -> EvidenceBlob | None:
        row = self._one("evidence", (subject, hash))
        return EvidenceBlob(row[1], row[0], bytes(row[2])) if row else None

    def notice_text(self, hash: str) -> NoticeText | None:
        row = self._one("notice_text", (hash,))
        return NoticeText(row[0], row[1], row[2]) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
