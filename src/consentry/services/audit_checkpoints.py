"""Files of signed checkpoints, as witnesses keep them and auditors hand them over: split a text
into its signed notes, and pick out the verifier keys written beside them.

A checkpoint file is any number of signed notes (docs/ledger-format.md §4) one after another,
optionally separated by blank lines, with optional verifier-key lines
(``<name>+<8 hex digits>+<base64>``, as ``consentry init`` prints) and ``#`` comment lines
between notes. A note is its body lines, a blank line, and its signature lines (each starting
with an em dash and a space). Pure text in, text out: signatures are checked elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from consentry.domain.checkpoint import SIGNATURE_PREFIX
from consentry.domain.errors import InputError

_VERIFIER_KEY: Final = re.compile(r"[^\s+]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/]+=*")


@dataclass
class CheckpointFile:
    notes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def split_notes(text: str, where: str = "the checkpoint file") -> CheckpointFile:
    """The signed notes (each ending in a newline, exactly as signed) and verifier keys of a
    checkpoint file. InputError naming the line when a note is cut short."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = CheckpointFile()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            i += 1
            continue
        if _VERIFIER_KEY.fullmatch(line.strip()):
            out.keys.append(line.strip())
            i += 1
            continue
        if line.startswith(SIGNATURE_PREFIX):
            raise InputError(f"{where}, line {i + 1}: a signature line with no note before it")
        start = i
        while i < len(lines) and lines[i] != "":
            i += 1
        body = lines[start:i]
        i += 1  # the blank line between the text and its signatures
        signatures = []
        while i < len(lines) and lines[i].startswith(SIGNATURE_PREFIX):
            signatures.append(lines[i])
            i += 1
        if len(body) < 3 or not signatures:
            raise InputError(
                f"{where}, line {start + 1}: a checkpoint needs an origin, a size and a root "
                "hash, a blank line and at least one signature line"
            )
        out.notes.append("\n".join(body) + "\n\n" + "\n".join(signatures) + "\n")
    return out
