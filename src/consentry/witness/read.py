"""What a file or directory witness kept, read back for checking (``audit witness-check``,
``ledger verify --witness``)."""

from __future__ import annotations

from pathlib import Path

from consentry.domain.errors import InputError
from consentry.services.audit_checkpoints import CheckpointFile, split_notes


def read_witnessed(path: Path) -> CheckpointFile:
    """The signed notes (and any verifier keys) in a witness file, or in every ``*.note`` file
    of a witness directory, oldest first. InputError naming the path when it cannot be read."""
    try:
        if path.is_dir():
            found = CheckpointFile()
            for item in sorted(path.glob("*.note")):
                part = split_notes(item.read_text(encoding="utf-8"), str(item))
                found.notes += part.notes
                found.keys += part.keys
            return found
        return split_notes(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the witnessed checkpoints: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: witnessed checkpoints are not UTF-8 text") from exc
