"""What reading a backup yields: the report of ``backup verify``, and the Sink a restore
writes the checked rows through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from consentry.backup.dump import Digest
from consentry.backup.tables import Table

#: (seq, kind, at, subject ref or None, leaf bytes, leaf hash)
LeafRow = tuple[int, str, str, "str | None", bytes, bytes]


class Sink(Protocol):
    """Where a restore puts what it reads (each call gets rows already checked)."""

    def start(self, table: str, rows: int) -> None: ...
    def rows(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None: ...
    def leaves(self, rows: Sequence[LeafRow], nodes: Sequence[tuple[int, int, bytes]]) -> None: ...
    def checkpoints(self, rows: Sequence[tuple[Any, ...]]) -> None: ...


@dataclass
class VerifyReport:
    file: Path
    manifest: dict[str, Any]
    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    plaintext_bytes: int = 0
    authenticated: bool = False
    sections: dict[str, Digest] = field(default_factory=dict)
    rollback: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        latest = self.manifest["ledger"].get("latest_checkpoint")
        return {
            "ok": True,
            "file": str(self.file),
            "created_at": self.manifest.get("created_at"),
            "source_dialect": self.manifest.get("source", {}).get("dialect"),
            "leaves": self.size,
            "root": self.root.hex(),
            "checkpoints": self.checkpoints,
            "latest_checkpoint_size": latest["size"] if latest else None,
            "verifier_key": self.manifest.get("verifier_key"),
            "authenticated": self.authenticated,
            "sections": {name: d.to_json() for name, d in self.sections.items()},
            "rollback": self.rollback,
            "warnings": self.warnings,
            "plaintext_bytes": self.plaintext_bytes,
            "seconds": round(self.seconds, 3),
        }
