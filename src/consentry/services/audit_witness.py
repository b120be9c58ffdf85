"""Checking the ledger against the checkpoints its witnesses kept (R6).

A witness holds signed checkpoints the operator can no longer change. A database restored from
an older backup, or one whose history was rewritten, is inconsistent with them: a witnessed
checkpoint covers more leaves than the ledger has, or the ledger's first *n* leaves no longer hash
to the witnessed root of size *n*. The newest witnessed checkpoint the ledger covers is checked
with an RFC 9162 consistency proof from it to the current tree; every other one by its root.
The stored tree is read as it is: ``ledger verify`` checks it against the leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from consentry.domain.errors import ConsentryError
from consentry.domain.merkle import consistency_proof, verify_consistency
from consentry.domain.merkle import root as merkle_root
from consentry.services.context import Context


@dataclass
class WitnessCheck:
    ledger_size: int = 0
    witnessed: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ledger_size": self.ledger_size,
            "witnessed": self.witnessed,
            "problems": self.problems,
        }


def check_witnessed(ctx: Context, notes: Sequence[str]) -> WitnessCheck:
    """Each witnessed note must verify with this ledger's key and be consistent with the ledger."""
    report = WitnessCheck(ledger_size=ctx.store.size())
    size_now = report.ledger_size
    distinct: dict[tuple[int, bytes], int] = {}
    for n, note in enumerate(notes, start=1):
        try:
            size, root = ctx.keys.verify_checkpoint(note)
        except ConsentryError as exc:
            report.problems.append(f"witnessed checkpoint {n} does not verify: {exc}")
            continue
        distinct.setdefault((size, root), n)
    tree = ctx.store.tree()
    root_now = merkle_root(tree, size_now)
    covered = [key for key in distinct if key[0] <= size_now]
    newest = max(covered, default=None)
    for (size, root), n in sorted(distinct.items()):
        if size > size_now:
            status = "beyond-ledger"
            report.problems.append(
                f"consistency failure: the witnessed checkpoint of {size} leaves (note {n}) is "
                f"beyond the ledger's {size_now}: the database was restored to an earlier state "
                "or leaves were removed"
            )
        elif (size, root) == newest:
            proof = consistency_proof(tree, size, size_now)
            ok = verify_consistency(size, size_now, root, root_now, proof)
            status = "consistent" if ok else "inconsistent"
        else:
            status = "consistent" if merkle_root(tree, size) == root else "inconsistent"
        if status == "inconsistent":
            report.problems.append(
                f"consistency failure: the ledger's first {size} leaves do not hash to the "
                f"witnessed root (note {n}): its history was rewritten"
            )
        report.witnessed.append({"size": size, "root": root.hex(), "note": n, "status": status})
    return report
