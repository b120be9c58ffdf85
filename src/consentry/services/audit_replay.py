"""Independent verification of a ledger export (R7), offline: no database, no keys but the
verifier key.

:func:`replay_export` reads the export (``consentry ledger export``: one leaf's exact bytes per
line) and a set of trusted signed checkpoints, and

1. checks every line: canonical JSON of a known kind, version 1, ``seq`` equal to its line;
2. recomputes the RFC 9162 root at each checkpoint's size and compares it with the signed root
   (a changed, removed, reordered or inserted leaf changes every root from its position on; a
   checkpoint larger than the export means leaves were removed); two checkpoints of one size
   with different roots are a split view;
3. replays state with the domain's fold and the policy at each ``send-decided`` leaf
   (``services.audit_fold``), and lists every allow whose justification was invalid at decision
   time, every handoff that names no allow, and every send after an objection.

The verifier of signatures is passed in (``verify``): this module stays free of cryptography.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from consentry.domain.errors import ConsentryError
from consentry.domain.leaves import decode_leaf, format_time
from consentry.domain.merkle import RootAccumulator
from consentry.services.audit_campaign import row_values
from consentry.services.audit_fold import Replayer
from consentry.services.audit_rows import Row, gc_paused, leaf_hash_of

#: (origin, size, root) of a signed note, or a ConsentryError when it does not verify.
NoteVerifier = Callable[[str], tuple[str, int, bytes]]
#: Opens the export again from its start (it is read twice when some decisions need their
#: subject's state re-folded): an iterator of its lines, each with its final newline.
LineSource = Callable[[], Iterable[bytes]]
_SUBJECT: Final = b'"subject":"'


@dataclass
class ReplayReport:
    leaves: int = 0
    root: str = ""
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    decisions: int = 0
    allowed: int = 0
    handed_off: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)
    after_objection: list[dict[str, Any]] = field(default_factory=list)
    near_objection: list[dict[str, Any]] = field(default_factory=list)
    handoff_problems: list[dict[str, Any]] = field(default_factory=list)
    by_problem: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not (self.problems or self.invalid or self.after_objection or self.handoff_problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "leaves": self.leaves,
            "root_hash": self.root,
            "checkpoints": self.checkpoints,
            "problems": self.problems,
            "decisions": self.decisions,
            "allowed": self.allowed,
            "handed_off": self.handed_off,
            "invalid_decisions": len(self.invalid),
            "invalid": self.invalid,
            "sent_after_objection": len(self.after_objection),
            "after_objection": self.after_objection,
            "near_objection": self.near_objection,
            "handoff_problems": self.handoff_problems,
            "by_problem": dict(sorted(self.by_problem.items())),
        }


def replay_export(lines: LineSource, notes: list[str], verify: NoteVerifier) -> ReplayReport:
    """Verify and replay an export against trusted checkpoints; never raises for a bad ledger
    (the report says what is wrong), only for unreadable input."""
    report = ReplayReport()
    trusted = _trusted(notes, verify, report)
    replayer = Replayer(lambda row: _tally(report, row))
    with gc_paused():
        acc, left = _stream(report, lines, replayer, trusted)
    report.leaves = acc.size
    report.root = acc.root().hex()
    for size in left:
        report.checkpoints.append(
            {"size": size, "root": trusted[size].hex(), "status": "beyond-export"}
        )
        report.problems.append(
            f"a trusted checkpoint covers {size} leaves but the export has {acc.size}: leaves "
            "were removed (or the export was cut short)"
        )
    with gc_paused():
        replayer.finish(lambda subjects: _subject_lines(lines, subjects))
    return report


def _stream(
    report: ReplayReport, lines: LineSource, replayer: Replayer, trusted: dict[int, bytes]
) -> tuple[RootAccumulator, list[int]]:
    """One pass: each line checked, hashed into the tree (roots compared at every trusted size)
    and replayed. Returns the tree and the trusted sizes beyond the export."""
    acc = RootAccumulator()
    stops = sorted(trusted)
    next_stop = 0
    for i, line in enumerate(_lines(lines)):
        digest = leaf_hash_of(line)
        acc.push_many((digest,))
        while next_stop < len(stops) and stops[next_stop] == i + 1:
            _compare(report, stops[next_stop], trusted[stops[next_stop]], acc.root())
            next_stop += 1
        problem = _check_line(line, i)
        if problem is not None:
            report.problems.append(problem)
            continue
        try:
            replayer.feed(i, line, digest)
        except (ConsentryError, KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"leaf {i}: cannot be replayed: {exc}")
    return acc, stops[next_stop:]


def _trusted(notes: list[str], verify: NoteVerifier, report: ReplayReport) -> dict[int, bytes]:
    trusted: dict[int, bytes] = {}
    origins: set[str] = set()
    for n, note in enumerate(notes, start=1):
        try:
            origin, size, root = verify(note)
        except ConsentryError as exc:
            report.problems.append(f"checkpoint {n}: signature does not verify: {exc}")
            report.checkpoints.append({"note": n, "status": "bad-signature"})
            continue
        origins.add(origin)
        if size in trusted and trusted[size] != root:
            report.problems.append(
                f"checkpoints {n} and an earlier one both sign size {size} with different roots: "
                "the log showed two histories (a split view)"
            )
            continue
        trusted[size] = root
    if len(origins) > 1:
        report.problems.append(f"the checkpoints are of several logs: {sorted(origins)}")
    return trusted


def _compare(report: ReplayReport, size: int, want: bytes, got: bytes) -> None:
    ok = got == want
    report.checkpoints.append(
        {"size": size, "root": want.hex(), "status": "ok" if ok else "root-mismatch"}
    )
    if not ok:
        report.problems.append(
            f"the first {size} leaves of the export do not hash to the root of the trusted "
            "checkpoint of that size: a leaf was changed, removed, reordered or inserted"
        )


def _lines(source: LineSource) -> Iterator[bytes]:
    for line in source():
        yield line[:-1] if line.endswith(b"\n") else line


def _check_line(line: bytes, i: int) -> str | None:
    try:
        leaf = decode_leaf(line)
    except ConsentryError as exc:
        return f"line {i + 1} (leaf {i}): {exc}"
    if leaf.seq != i:
        return f"line {i + 1} holds leaf seq {leaf.seq}: it is out of place"
    return None


def _subject_lines(
    source: LineSource, subjects: set[str]
) -> dict[str, list[tuple[int, bytes, bytes]]]:
    """Second pass: the leaves of these subjects, in order."""
    found: dict[str, list[tuple[int, bytes, bytes]]] = {s: [] for s in subjects}
    for i, line in enumerate(_lines(source)):
        at = line.find(_SUBJECT)
        if at < 0:
            continue
        subject = line[at + len(_SUBJECT) : at + len(_SUBJECT) + 64].decode("ascii", "replace")
        if subject in found:
            found[subject].append((i, line, leaf_hash_of(line)))
    return found


def _tally(report: ReplayReport, row: Row) -> None:
    d, h = row.decision, row.handoff
    if d is not None:
        report.decisions += 1
        if d.allowed:
            report.allowed += 1
            if row.verdict is not None and row.verdict.problem is not None:
                report.invalid.append(_described(row))
                report.by_problem[row.verdict.problem] += 1
    if h is None:
        return
    if row.handoff_problem is not None:
        report.handoff_problems.append(_described(row))
        report.by_problem[row.handoff_problem] += 1
    if row.delivered:
        report.handed_off += 1
        if row.late is not None:
            target = report.after_objection if row.late.proven else report.near_objection
            target.append(_described(row))
            if row.late.proven:
                report.by_problem["sent-after-objection"] += 1


def _described(row: Row) -> dict[str, Any]:
    out = row_values(row)
    source = row.decision or row.handoff
    out["campaign"] = source.campaign if source is not None else None
    if row.late is not None:
        out["objection"] = {
            "index": row.late.objection.seq,
            "at": format_time(row.late.objection.at),
            "kind": row.late.objection.kind,
            "reason": row.late.objection.reason,
            "scope": row.late.objection.scope,
        }
    return out
