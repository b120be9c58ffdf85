"""File witnesses: an append-only file of signed notes, or a directory of one file per note.

Both write durably (fsync) before ``publish`` returns. The append-only file is opened with
``O_APPEND`` for each publish and never rewritten: notes are added one after another, separated
by a blank line (``services.audit_checkpoints.split_notes`` reads them back). The directory gets
``<size, 20 digits>-<first 16 hex digits of the root>.note`` per checkpoint, written to a
temporary name and renamed, so a reader never sees half a note; a checkpoint already there is
left alone (the same size and root give the same signed note).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from consentry.domain.checkpoint import parse_checkpoint, parse_note


class FileWitness:
    """An append-only file of checkpoints (e.g. on a mount the operator cannot rewrite)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    def publish(self, notes: Sequence[str]) -> None:
        # a note that is already the file's last is not appended again (several publishers
        # may offer the same latest checkpoint: the app's, a cron job's)
        tail = self._tail(max((len(n.encode()) for n in notes), default=0) + 1)
        kept: list[str] = []
        for note in notes:  # never the same note twice in a row
            previous = kept[-1] if kept else None
            if note == previous or (previous is None and tail.endswith((note + "\n").encode())):
                continue
            kept.append(note)
        notes = kept
        if not notes:
            return
        data = "".join(note + "\n" for note in notes).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _tail(self, size: int) -> bytes:
        try:
            with open(self.path, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - size))
                return f.read()
        except FileNotFoundError:
            return b""


class DirectoryWitness:
    """A directory with one file per checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return f"dir:{self.path}"

    def publish(self, notes: Sequence[str]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        for note in notes:
            body = parse_checkpoint(parse_note(note).text)
            root = body.root.hex()[:16]
            target = self.path / f"{body.size:020d}-{root}.note"
            if target.exists():
                continue
            temporary = target.with_suffix(f".tmp{os.getpid()}")
            with open(temporary, "w", encoding="utf-8") as out:
                out.write(note)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
