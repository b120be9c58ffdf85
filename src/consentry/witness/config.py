"""``CONSENTRY_WITNESSES``: where checkpoints are exported, comma-separated.

* ``file:PATH``: an append-only file of signed notes;
* ``dir:PATH``: a directory, one file per checkpoint;
* ``https://...`` (or ``http://127.0.0.1...``, ``http://localhost...``, ``http://[::1]...``):
  each checkpoint POSTed as ``text/plain``.

An entry that is none of these is refused with its position and text; nothing is opened or
contacted here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from consentry.domain.errors import InputError
from consentry.services.witness_port import Witness
from consentry.witness.endpoint import HTTPWitness
from consentry.witness.files import DirectoryWitness, FileWitness

ENV = "CONSENTRY_WITNESSES"


def parse_witnesses(text: str) -> list[Witness]:
    witnesses: list[Witness] = []
    for n, raw in enumerate(text.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        kind, sep, rest = entry.partition(":")
        if kind in ("file", "dir") and sep and rest.strip():
            path = Path(rest.strip())
            witnesses.append(FileWitness(path) if kind == "file" else DirectoryWitness(path))
        elif kind in ("http", "https"):
            witnesses.append(HTTPWitness(entry))
        else:
            raise InputError(
                f"{ENV} entry {n} ({entry!r}) is not file:PATH, dir:PATH or an https:// URL"
            )
    return witnesses


def load_witnesses(env: Mapping[str, str]) -> list[Witness]:
    """The witnesses ``CONSENTRY_WITNESSES`` names (none when it is unset or empty)."""
    return parse_witnesses(env.get(ENV, ""))
