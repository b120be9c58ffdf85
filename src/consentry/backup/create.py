"""``backup create``: a consistent snapshot of a store, streamed into an age file.

The file appears under its name only when it is complete: it is written as
``.<name>.<pid>.partial`` beside it, fsync'ed by the age worker, then linked into place (never
over an existing file) and the directory fsync'ed. A crash at any point leaves at most a partial
file, which never verifies (it has no end record), and the next run in that directory removes
partial files whose process is gone.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from consentry.backup import container
from consentry.backup.age_keys import Sealing
from consentry.backup.age_pipe import AgeWriter
from consentry.backup.db import Database, locate, open_database
from consentry.backup.dump import Digest, Survey, sections, survey, tree_root
from consentry.domain.errors import InputError
from consentry.domain.leaves import format_time
from consentry.processes import alive


@dataclass(frozen=True)
class KeyFacts:
    """The public facts of the key ring that go into the manifest (never a key)."""

    origin: str
    verifier_key: str
    #: HMAC-SHA256(subject key, "consentry subject key id"), first 16 hex digits: tells whether a
    #: key ring holds the subject key this backup's subject refs were made with.
    subject_key_id: str
    #: HMAC-SHA256(subject key, "consentry backup authentication"): the key of the backup's MAC,
    #: so that a key ring holding the same subject key can tell the file was made by one.
    auth_key: bytes = field(default=b"", repr=False)


def key_facts(origin: str, verifier_key: str, subject_key: bytes) -> KeyFacts:
    """The manifest's key facts from a key ring's origin, verifier key and subject key."""
    return KeyFacts(
        origin, verifier_key, subject_key_id(subject_key), authentication_key(subject_key)
    )


def subject_key_id(subject_key: bytes) -> str:
    return hmac.new(subject_key, b"consentry subject key id", hashlib.sha256).hexdigest()[:16]


def authentication_key(subject_key: bytes) -> bytes:
    return hmac.new(subject_key, b"consentry backup authentication", hashlib.sha256).digest()


@dataclass
class CreateReport:
    file: Path
    bytes: int
    plaintext_bytes: int
    seconds: float
    survey: Survey
    digests: dict[str, Digest] = field(default_factory=dict)
    #: Set when the database disagrees with the exported checkpoint (rolled back or forked).
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        found = self.survey
        return {
            "file": str(self.file),
            "bytes": self.bytes,
            "plaintext_bytes": self.plaintext_bytes,
            "seconds": round(self.seconds, 3),
            "dialect": found.dialect,
            "leaves": found.size,
            "root": found.root.hex(),
            "checkpoints": found.checkpoints,
            "latest_checkpoint_size": found.latest["size"] if found.latest else None,
            "sections": {name: d.to_json() for name, d in self.digests.items()},
            "warnings": self.warnings,
        }


def manifest(found: Survey, keys: KeyFacts, now: datetime) -> dict[str, Any]:
    return {
        "format": container.FORMAT,
        "version": container.VERSION,
        "created_at": format_time(now),
        "source": {"dialect": found.dialect, "migrations": found.migrations},
        "origin": keys.origin,
        "verifier_key": keys.verifier_key,
        "subject_key_id": keys.subject_key_id,
        "ledger": {
            "size": found.size,
            "root": found.root.hex(),
            "checkpoints": found.checkpoints,
            "latest_checkpoint": found.latest,
        },
        "organisation": found.organisation,
        "state": found.state,
        "sections": [
            {"name": "subjects", "rows": found.counts["subjects"]},
            {"name": container.LEDGER, "leaves": found.size, "checkpoints": found.checkpoints},
            *({"name": t.name, "rows": found.counts[t.name]} for t in found.tables),
        ],
    }


def partial_name(target: Path, pid: int) -> Path:
    return target.with_name(f".{target.name}.{pid}.partial")


def remove_stale_partials(directory: Path, name: str = "*") -> list[Path]:
    """Partial files of backups named ``name`` (a glob) left by a process that is gone."""
    removed = []
    for path in directory.glob(f".{name}.*.partial"):
        pid = path.name.rsplit(".", 2)[-2]
        if not pid.isdigit() or alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _publish(partial: Path, target: Path) -> None:
    """Give the finished file its name, never replacing an existing one, and make it durable."""
    try:
        os.link(partial, target)
    except FileExistsError as exc:
        raise InputError(f"{target} appeared while the backup was written; kept it") from exc
    except OSError:  # a file system without hard links: rename, having checked just before
        if target.exists():
            raise InputError(f"{target} appeared while the backup was written; kept it") from None
        os.rename(partial, target)
    else:
        partial.unlink()
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def held_against(db: Database, found: Survey, exported: tuple[int, bytes] | None) -> list[str]:
    """What is wrong with the database next to the exported checkpoint (size, root)."""
    if exported is None:
        return []
    size, root = exported
    if size > found.size:
        return [
            f"the database holds {found.size} leaves but a checkpoint of {size} leaves was "
            "exported: the database was rolled back (restore a newer backup)"
        ]
    if tree_root(db, size) != root:
        return [
            f"the database's first {size} leaves do not hash to the exported checkpoint's root: "
            "it holds another history than the one published"
        ]
    return []


def create_backup(
    url: str, target: Path, sealing: Sealing, keys: KeyFacts, now: datetime,
    exported: tuple[int, bytes] | None = None,
) -> CreateReport:  # fmt: skip
    """Back up the store at ``url`` into ``target`` (which must not exist yet). ``exported``:
    the (size, root) of the exported checkpoint, to warn when the database disagrees with it."""
    started = time.perf_counter()
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"cannot write the backup {target}: {directory} is not a directory")
    if target.exists():
        raise InputError(f"{target} exists already; a backup never overwrites a file")
    remove_stale_partials(directory, glob.escape(target.name))
    location = locate(url)
    db = open_database(location)
    try:
        try:
            db.begin_read()
            found = survey(db)
            warnings = held_against(db, found, exported)
        except db.driver_errors as exc:
            raise db.fail(exc, "reading it for a backup") from exc
        partial = partial_name(target, os.getpid())
        writer = AgeWriter(partial, sealing, shown=target)
        total = hashlib.sha256()
        plain = 0

        def write(data: bytes) -> None:
            nonlocal plain
            plain += len(data)
            writer.write(data)

        def control(line: bytes) -> None:  # the final SHA-256 covers the control records
            total.update(line)
            write(line)

        try:
            control(container.control(container.HEADER_KEY, manifest(found, keys, now)))
            try:
                digests = sections(db, found, write, control)
            except db.driver_errors as exc:
                raise db.fail(exc, "reading it for a backup") from exc
            final = {
                "bytes": plain,
                "sections": {name: d.to_json() for name, d in digests.items()},
                "sha256": total.hexdigest(),
            }
            if keys.auth_key:
                mac = hmac.new(keys.auth_key, total.digest(), hashlib.sha256).hexdigest()
                final["mac"] = mac
            last = container.control(container.FINAL_KEY, final)
            writer.write(last)
            plain += len(last)
            size = writer.close()
        except BaseException:
            writer.abort()
            raise
        db.rollback()
        try:
            _publish(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    finally:
        with contextlib.suppress(Exception):
            db.close()
    seconds = time.perf_counter() - started
    return CreateReport(target, size, plain, seconds, found, digests, warnings)
