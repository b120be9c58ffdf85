"""Whom a backup's checkpoints must be signed by, and the exported checkpoint that tells a
rollback.

* The manifest names the verifier key its checkpoints verify with. When a key ring is present
  (``CONSENTRY_HOME``), that key must be the ring's (or one given with ``--verifier-key``, e.g.
  the published key from before a rotation); without one, the manifest's own key is used and a
  warning says that this proves the ledger consistent, not who wrote it.
* The exported checkpoint is the newest signed checkpoint kept outside the database:
  ``<home>/checkpoints/latest.note``, which ``backup create`` keeps up to date, or what is given
  with ``--checkpoint``: a note, a witness's file of notes or its directory of ``*.note`` files
  (the newest that verifies counts). A backup whose ledger is shorter than it is a rollback;
  one whose first leaves do not hash to its root is another history altogether.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentry.domain.checkpoint import parse_checkpoint, parse_note
from consentry.domain.errors import ConsentryError, InputError, VerificationFailed

#: (note text, trusted verifier keys, origin) -> (tree size, root); raises when it does not verify.
NoteVerifier = Callable[[str, Sequence[str], str], tuple[int, bytes]]

EXPORTED = Path("checkpoints") / "latest.note"


@dataclass(frozen=True)
class Exported:
    """Signed checkpoints kept outside the database (one note, or a witness's many)."""

    notes: tuple[str, ...]
    source: str


def split_notes(text: str) -> list[str]:
    """The signed notes of a text holding one or more, each ending with its signature lines
    (``— name sig``) and separated by blank lines (a witness file)."""
    notes: list[str] = []
    current: list[str] = []
    signed = False
    for line in text.splitlines():
        if signed and not line.startswith("\u2014 "):
            notes.append("\n".join(current) + "\n")
            current, signed = [], False
            if not line:
                continue
        current.append(line)
        signed = signed or line.startswith("\u2014 ")
    if current and any(line.strip() for line in current):
        notes.append("\n".join(current) + "\n")
    return notes


@dataclass
class Trust:
    verify_note: NoteVerifier
    #: The key ring's verifier key and subject key id, when there is a key ring.
    local_verifier_key: str | None = None
    local_subject_key_id: str | None = None
    extra_verifier_keys: tuple[str, ...] = ()
    exported: Exported | None = None
    allow_rollback: bool = False
    #: Filled by ``resolve``.
    keys: list[str] = field(default_factory=list)
    origin: str = ""
    warnings: list[str] = field(default_factory=list)

    def resolve(self, manifest: dict[str, Any]) -> None:
        """Choose the verifier keys for this backup's checkpoints (or refuse it)."""
        theirs = manifest.get("verifier_key")
        self.origin = str(manifest.get("origin") or "")
        if not isinstance(theirs, str) or not theirs:
            raise VerificationFailed("the backup's manifest names no verifier key")
        if self.extra_verifier_keys:
            self.keys = list(self.extra_verifier_keys)
            if self.local_verifier_key:
                self.keys.append(self.local_verifier_key)
        elif self.local_verifier_key:
            if theirs != self.local_verifier_key:
                raise VerificationFailed(
                    f"the backup's checkpoints are signed with the verifier key {theirs}, but the "
                    f"key ring here verifies with {self.local_verifier_key}: a backup of another "
                    "ledger, or made before the signing key was rotated (then give the old "
                    "published key with --verifier-key)"
                )
            self.keys = [self.local_verifier_key]
        else:
            self.keys = [theirs]
            self.warnings.append(
                "no key ring here: the checkpoints were verified with the key the backup itself "
                f"names ({theirs}); compare it with the verifier key you published"
            )
        mine, made = self.local_subject_key_id, manifest.get("subject_key_id")
        if mine and made and mine != made:
            self.warnings.append(
                "the subject key here is not the one this backup's subject refs were made with: "
                "restored, its addresses would not match their subjects (docs/backups.md)"
            )

    def subject_key_differs(self, manifest: dict[str, Any]) -> bool:
        made = manifest.get("subject_key_id")
        return bool(self.local_subject_key_id and made and made != self.local_subject_key_id)

    def check_note(self, note: str) -> tuple[int, bytes]:
        return self.verify_note(note, self.keys, self.origin)

    def exported_point(self) -> tuple[int, bytes] | None:
        """(size, root) of the newest exported checkpoint that verifies with the chosen keys
        (a witness may keep the checkpoints of other logs too)."""
        if self.exported is None:
            return None
        points, last_error = [], ""
        for note in self.exported.notes:
            try:
                points.append(self.check_note(note))
            except (InputError, VerificationFailed) as exc:
                last_error = str(exc)
        if not points:
            raise VerificationFailed(
                f"no checkpoint in {self.exported.source} verifies with the trusted key: "
                f"{last_error or 'it holds none'}"
            )
        return max(points)


def read_exported(home: Path | None, explicit: Path | None) -> Exported | None:
    """The exported checkpoints to hold a backup against: ``explicit`` (a note, a witness file
    of notes, or a witness directory of ``*.note`` files), else the home's latest."""
    path = explicit if explicit is not None else (home / EXPORTED if home else None)
    if path is None:
        return None
    try:
        if path.is_dir():
            texts = [p.read_text("utf-8") for p in sorted(path.glob("*.note"))]
        else:
            texts = [path.read_text("utf-8")]
        return Exported(tuple(n for t in texts for n in split_notes(t)), str(path))
    except FileNotFoundError:
        if explicit is not None:
            raise InputError(f"--checkpoint {explicit} does not exist") from None
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the checkpoint {path}: {exc}") from exc


def note_size(note: str) -> int:
    """The tree size a checkpoint note states (its signature is not checked here)."""
    return parse_checkpoint(parse_note(note).text).size


def export_checkpoint(home: Path, note: str) -> bool:
    """Keep ``<home>/checkpoints/latest.note`` at the newest checkpoint (written atomically).
    False when the one there is as new or newer."""
    path = home / EXPORTED
    with contextlib.suppress(FileNotFoundError, OSError, ConsentryError):
        if note_size(path.read_text("utf-8")) >= note_size(note):
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".latest.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(note)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True
