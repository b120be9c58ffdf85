"""Reading a backup back: every check ``backup verify`` makes, in one streaming pass, handing
the rows to a ``Sink`` when restoring.

Checked: the age encryption (any altered or missing byte fails its chunk), the container's
shape, every section's row count and SHA-256, the whole stream's SHA-256, its MAC under the
subject key (when the key ring is here), each evidence blob and notice text against the hash it
is filed under, each leaf's declared place, the Merkle root after every checkpoint against that
checkpoint's signature, the manifest's size and root, and the exported checkpoint (rollback).
Memory stays bounded: one line and one chunk of rows at a time, and the tree's frontier.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import orjson

from consentry.backup import container
from consentry.backup.age_keys import Opening
from consentry.backup.age_pipe import AgeReader
from consentry.backup.container import CONTROL_PREFIX, FormatProblem, decode_row, parse_control
from consentry.backup.dump import Digest
from consentry.backup.report import Sink, VerifyReport
from consentry.backup.tables import CHECKPOINT_COLUMNS, ROW_TABLES, TABLES_BY_NAME, Table
from consentry.backup.trust import Trust
from consentry.domain.errors import ConsentryError, InputError, VerificationFailed
from consentry.domain.merkle import TILE_HEIGHT, RootAccumulator

BATCH = 5000
_HEX64 = frozenset("0123456789abcdef")


class _Lines:
    """The plaintext, a line at a time, knowing where it is."""

    def __init__(self, age: AgeReader) -> None:
        self.age = age
        self._readline = age.stream.readline
        self.offset = 0  # where the current line starts
        self.consumed = 0
        self.number = 0
        self.section = "manifest"
        self.total = hashlib.sha256()

    def where(self) -> str:
        return f"section '{self.section}', line {self.number}, plaintext byte {self.offset}"

    def fail(self, message: str) -> VerificationFailed:
        return VerificationFailed(f"{self.age.path}: {message} ({self.where()})")

    def next(self) -> bytes:
        self.offset = self.consumed
        line = self._readline(container.MAX_LINE + 1)
        self.number += 1
        self.consumed += len(line)
        if not line.endswith(b"\n"):
            raise self._ended(line)
        return line

    def at_end(self) -> bool:
        """True when nothing follows and the age stream ended cleanly."""
        return self._readline(1) == b"" and self.age.failure() is None

    def _ended(self, line: bytes) -> ConsentryError:
        failure = self.age.failure()
        if failure is not None and failure.stage == "header":
            return InputError(f"cannot open the backup {self.age.path}: {failure}")
        if failure is not None:
            chunk = self.consumed // 65536
            at = failure.header_bytes + 16 + chunk * (65536 + 16)
            return VerificationFailed(
                f"{self.age.path}: the encrypted data is damaged or cut short at age chunk "
                f"{chunk} (file byte {at}): it was altered or truncated [{failure}]; what could "
                f"be read ends in {self.where()}"
            )
        if len(line) > container.MAX_LINE:
            return self.fail("a line is longer than 64 MiB")
        return self.fail("the backup is truncated: it ends before its end record")

    def control(self, line: bytes, key: str) -> dict[str, Any]:
        """Parse a control record (the final SHA-256 covers every one before the last)."""
        self.total.update(line)
        try:
            got, record = parse_control(line)
        except FormatProblem as exc:
            raise self.fail(str(exc)) from exc
        if got != key:
            raise self.fail(f"expected a {key} record, found {got}")
        return record


def _leaf_fields(raw: bytes, seq: int) -> tuple[str, str, str | None]:
    obj = orjson.loads(raw)
    kind, at, subject = obj.get("kind"), obj.get("at"), obj.get("subject")
    if obj.get("seq") != seq or not isinstance(kind, str) or not isinstance(at, str):
        raise FormatProblem(f"leaf {seq} lacks its seq, kind or time")
    return kind, at, subject if isinstance(subject, str) else None


def _row_problem(table: str, row: tuple[Any, ...]) -> str | None:
    if table == "subjects":
        ref = row[1]
        if len(ref) != 64 or not _HEX64.issuperset(ref):
            return f"subject ref {ref!r} is not 64 lower-case hex digits"
    elif table == "side_evidence":
        if hashlib.sha256(row[2]).hexdigest() != row[1]:
            return f"the evidence blob filed as {row[1]} does not hash to that"
    elif table == "side_notice_texts" and hashlib.sha256(row[1].encode()).hexdigest() != row[0]:
        return f"the notice text filed as {row[0]} does not hash to that"
    return None


class BackupReader:
    """One pass over a backup; ``run`` returns the report or raises naming what and where."""

    def __init__(
        self, age: AgeReader, trust: Trust, sink: Sink | None = None, auth_key: bytes | None = None,
        refuse_rollback: bool = False,
    ) -> None:  # fmt: skip
        self.lines = _Lines(age)
        self.trust = trust
        self.sink = sink
        self.auth_key = auth_key
        self.refuse_rollback = refuse_rollback
        self.exported: tuple[int, bytes] | None = None
        self.exported_root: bytes | None = None

    def run(self) -> VerifyReport:
        started = time.perf_counter()
        lines = self.lines
        manifest = self._manifest()
        report = VerifyReport(lines.age.path, manifest)
        self.trust.resolve(manifest)
        report.warnings = self.trust.warnings
        self.exported = self.trust.exported_point()
        size = int(manifest["ledger"]["size"])
        refuse = self.refuse_rollback and not self.trust.allow_rollback
        if self.exported and self.exported[0] > size and refuse:
            raise self._rollback(size)
        for entry in manifest["sections"]:
            name = entry["name"]
            lines.section = name
            start = lines.control(lines.next(), container.SECTION_KEY)
            if start[container.SECTION_KEY] != name:
                raise lines.fail(f"expected section '{name}', found '{start['@section']}'")
            if name == container.LEDGER:
                report.sections[name] = self._ledger(start, report)
            else:
                report.sections[name] = self._table(TABLES_BY_NAME[name], start)
        lines.section = "end"
        before = lines.total.hexdigest()
        plain = lines.consumed
        final = lines.control(lines.next(), container.FINAL_KEY)[container.FINAL_KEY]
        self._final(final, before, plain, report)
        if not lines.at_end():
            raise lines.fail("there is data after the end record, or the age stream is damaged")
        self._check_rollback(report)
        report.plaintext_bytes = plain
        report.seconds = time.perf_counter() - started
        return report

    def _manifest(self) -> dict[str, Any]:
        lines = self.lines
        line = lines.next()
        if not line.startswith(CONTROL_PREFIX):
            raise lines.fail("this is not a consentry backup (no manifest line)")
        manifest = lines.control(line, container.HEADER_KEY)[container.HEADER_KEY]
        if not isinstance(manifest, dict) or manifest.get("format") != container.FORMAT:
            raise lines.fail("this is not a consentry backup (unknown format)")
        if manifest.get("version") != container.VERSION:
            raise lines.fail(f"backup format version {manifest.get('version')!r} is not supported")
        names = [s.get("name") for s in manifest.get("sections", [])]
        required = ["subjects", container.LEDGER, *(t.name for t in ROW_TABLES if not t.optional)]
        known = ["subjects", container.LEDGER, *(t.name for t in ROW_TABLES)]
        if [n for n in names if n in required] != required or not set(names) <= set(known):
            raise lines.fail(f"the manifest lists the sections {names}, not those of format 1")
        return manifest

    def _end(self, line: bytes, name: str, sha: Any, rows: int, checkpoints: int = 0) -> Digest:
        """Check the section's end record (``line``, already read) against what was read."""
        lines = self.lines
        end = lines.control(line, container.END_KEY)
        if end[container.END_KEY] != name:
            raise lines.fail(f"section '{name}' ends with the end record of '{end['@end']}'")
        digest = Digest(rows, checkpoints, sha.hexdigest())
        if end.get("rows") != rows or end.get("checkpoints", 0) != checkpoints:
            raise lines.fail(
                f"section '{name}' holds {rows} rows but its end record says {end.get('rows')}"
            )
        if end.get("sha256") != digest.sha256:
            raise lines.fail(f"section '{name}' does not match its SHA-256: it was altered")
        return digest

    def _table(self, table: Table, start: dict[str, Any]) -> Digest:
        lines = self.lines
        if start.get("columns") != table.column_names:
            raise lines.fail(f"section '{table.name}' has the columns {start.get('columns')}")
        if self.sink is not None:
            self.sink.start(table.name, int(start.get("rows", 0)))
        sha, count, batch = hashlib.sha256(), 0, []
        while not (line := lines.next()).startswith(CONTROL_PREFIX):
            sha.update(line)
            count += 1
            try:
                row = decode_row(table.columns, line[:-1])
            except FormatProblem as exc:
                raise lines.fail(f"row {count} of '{table.name}': {exc}") from exc
            problem = _row_problem(table.name, row)
            if problem is not None:
                raise lines.fail(f"row {count} of '{table.name}': {problem}")
            if self.sink is not None:
                batch.append(row)
                if len(batch) >= BATCH:
                    self.sink.rows(table, batch)
                    batch = []
        if self.sink is not None and batch:
            self.sink.rows(table, batch)
        return self._end(line, table.name, sha, count)

    def _ledger(self, start: dict[str, Any], report: VerifyReport) -> Digest:
        lines, trust, sink = self.lines, self.trust, self.sink
        nodes: list[tuple[int, int, bytes]] = []

        def keep(level: int, index: int, value: bytes) -> None:
            if level % TILE_HEIGHT == 0:
                nodes.append((level, index, value))

        acc = RootAccumulator(keep if sink is not None else None)
        push, sha256 = acc.push, hashlib.sha256
        watch = self.exported[0] if self.exported else -1
        sha, seq, cps, last_good = hashlib.sha256(), 0, 0, 0
        leaves: list[Any] = []
        checkpoints: list[tuple[Any, ...]] = []
        while not (line := lines.next()).startswith(CONTROL_PREFIX):
            sha.update(line)
            if line[0] == 0x7B:  # a leaf: exactly its bytes
                raw = line[:-1]
                if b'"seq":%d,' % seq not in raw:
                    raise lines.fail(f"leaf {seq} declares another place in the ledger")
                if seq == watch:
                    self.exported_root = acc.root()
                h = sha256(b"\x00" + raw).digest()
                push(h)
                if sink is not None:
                    try:
                        kind, at, subject = _leaf_fields(raw, seq)
                    except (FormatProblem, orjson.JSONDecodeError) as exc:
                        raise lines.fail(f"leaf {seq} is not a ledger leaf: {exc}") from exc
                    leaves.append((seq, kind, at, subject, raw, h))
                    if len(leaves) >= BATCH:
                        sink.leaves(leaves, nodes)
                        leaves, nodes[:] = [], []
                seq += 1
                continue
            try:
                size, root, note, created = decode_row(CHECKPOINT_COLUMNS, line[:-1])
            except FormatProblem as exc:
                raise lines.fail(f"a checkpoint row: {exc}") from exc
            if size != seq:
                raise lines.fail(
                    f"the checkpoint of size {size} stands after {seq} leaves"
                    + (": leaves were removed" if size > seq else "")
                )
            if acc.root() != root:
                raise lines.fail(
                    f"the leaves do not hash to the signed checkpoint of size {size}: a leaf in "
                    f"[{last_good}, {size}) was altered"
                )
            try:
                signed = trust.check_note(note)
            except (InputError, VerificationFailed) as exc:
                raise lines.fail(f"the checkpoint of size {size} does not verify: {exc}") from exc
            if signed != (size, root):
                raise lines.fail(f"the checkpoint note of size {size} disagrees with its row")
            last_good, cps = size, cps + 1
            if sink is not None:
                checkpoints.append((size, root, note, created))
        if seq == watch:
            self.exported_root = acc.root()
        if sink is not None:
            sink.leaves(leaves, nodes)
            sink.checkpoints(checkpoints)
        digest = self._end(line, container.LEDGER, sha, seq, cps)
        ledger = report.manifest["ledger"]
        report.size, report.root, report.checkpoints = seq, acc.root(), cps
        if seq != start.get("leaves") or seq != ledger.get("size"):
            raise lines.fail(f"the ledger holds {seq} leaves, the manifest says {ledger['size']}")
        if report.root.hex() != ledger.get("root"):
            raise lines.fail("the leaves do not hash to the manifest's root")
        latest = ledger.get("latest_checkpoint")
        if cps != ledger.get("checkpoints") or (latest and latest.get("size") != last_good):
            raise lines.fail("the checkpoints do not match the manifest's")
        return digest

    def _final(self, final: dict[str, Any], before: str, plain: int, report: VerifyReport) -> None:
        lines = self.lines
        if final.get("sha256") != before or final.get("bytes") != plain:
            raise lines.fail("the backup does not match its final SHA-256: it was altered")
        listed = {name: d.to_json() for name, d in report.sections.items()}
        if final.get("sections") != listed:
            raise lines.fail("the end record's section digests differ from the sections")
        mac = final.get("mac")
        if self.auth_key is None:
            report.warnings.append(
                "not authenticated: without the key ring's subject key, anyone holding the "
                "recipient's public key could have made this file (the ledger is still checked "
                "against its signed checkpoints)"
            )
            return
        want = hmac.new(self.auth_key, bytes.fromhex(before), hashlib.sha256).hexdigest()
        if not isinstance(mac, str) or not hmac.compare_digest(mac, want):
            raise lines.fail(
                "the backup's MAC does not verify with this key ring's subject key: it was made "
                "with another key ring, or altered"
            )
        report.authenticated = True

    def _rollback(self, size: int) -> VerificationFailed:
        assert self.exported is not None and self.trust.exported is not None
        return VerificationFailed(
            f"rollback: the backup holds {size} leaves but the checkpoint exported at "
            f"{self.trust.exported.source} covers {self.exported[0]}: restoring it would lose "
            f"{self.exported[0] - size} leaves (--allow-rollback to restore it anyway)"
        )

    def _check_rollback(self, report: VerifyReport) -> None:
        if self.exported is None or self.trust.exported is None:
            return
        size, root = self.exported
        info: dict[str, Any] = {
            "exported_checkpoint": self.trust.exported.source, "exported_size": size,
            "backup_size": report.size, "rolled_back": size > report.size,
        }  # fmt: skip
        report.rollback = info
        if size <= report.size and self.exported_root != root:
            raise VerificationFailed(
                f"{report.file}: its first {size} leaves do not hash to the exported checkpoint "
                f"({self.trust.exported.source}): the backup holds another history"
            )
        if size > report.size:
            if self.refuse_rollback and not self.trust.allow_rollback:
                raise self._rollback(report.size)
            report.warnings.append(str(self._rollback(report.size)).split(" (--allow")[0])


def verify_backup(
    path: Path, opening: Opening, trust: Trust, auth_key: bytes | None = None
) -> VerifyReport:
    """``backup verify``: every check, nothing restored."""
    age = AgeReader(path, opening)
    try:
        return BackupReader(age, trust, None, auth_key).run()
    finally:
        age.close()
