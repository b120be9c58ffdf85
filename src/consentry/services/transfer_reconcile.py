"""Reconciliation and cutover between providers (issue 5, R25).

``reconcile(OLD, NEW)`` compares two exports (any formats, each detected or named) on canonical
address keys (``domain.addresses``: NFC local part with ASCII-only case folding, IDNA A-label
domain; no stripping of dots or +tags, esp-formats.md §4.3): every address suppressed in OLD must
be suppressed in NEW. ``missing`` lists those that are not, with the state they had in OLD; a
state the new side holds only in a weaker form (OLD complained, NEW unsubscribed) still counts
as suppressed. NEW may be the ledger itself (``consentry`` as NEW): what consentry enforces.

``cutover`` records that the old provider's full suppression export was imported (its SHA-256 is
in an ``import-recorded`` leaf) and reconciles with nothing missing against the ledger, in a
``provider-cutover`` leaf. From then on marketing may be sent through the new provider
(``require_cutover``); before it, it is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentry.codecs.transfer.registry import detect, reader
from consentry.codecs.transfer.source import Source
from consentry.domain.addresses import parse_address
from consentry.domain.errors import CampaignStateError, InputError
from consentry.domain.leaves import LeafDraft, decode_leaf
from consentry.domain.policy import in_force
from consentry.domain.transfer import SUPPRESSING, RejectedRow, TransferRecord
from consentry.ports import Batch
from consentry.services.consent import leaf_time, subject_for
from consentry.services.context import Context
from consentry.services.ledger import append_sealed
from consentry.services.transfer_import import file_sha256

LEDGER = "consentry"
MAX_LISTED = 100_000


@dataclass
class Reconciliation:
    old: str
    new: str
    old_suppressed: int = 0
    new_suppressed: int = 0
    missing: list[str] = field(default_factory=list)
    missing_by_state: Counter[str] = field(default_factory=Counter)
    unreadable: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old, "new": self.new, "old_suppressed": self.old_suppressed,
            "new_suppressed": self.new_suppressed, "missing": self.missing,
            "missing_count": sum(self.missing_by_state.values()),
            "missing_by_state": dict(sorted(self.missing_by_state.items())),
            "unreadable": dict(sorted(self.unreadable.items())),
        }  # fmt: skip


def _suppressions(
    path: Path, format_name: str | None, unreadable: Counter[str]
) -> Iterator[tuple[str, str, str]]:
    """(canonical key, literal, state) of every suppressing record of a file."""
    source = Source(path)
    try:
        codec = reader(format_name) if format_name else detect(source)
        for item in codec.read(source):
            if isinstance(item, RejectedRow):
                unreadable[f"{path.name}: rejected rows"] += 1
                continue
            if item.state not in SUPPRESSING:
                continue
            key = _key(item, unreadable, path.name)
            if key is not None:
                yield key, item.email, item.state.value
    finally:
        source.close()


def _key(item: TransferRecord, unreadable: Counter[str], name: str) -> str | None:
    try:
        return parse_address(item.email).canonical
    except InputError:
        unreadable[f"{name}: bad addresses"] += 1
        return None


def reconcile(
    ctx: Context | None, old: Path, new: Path | str, old_format: str | None = None,
    new_format: str | None = None,
) -> Reconciliation:  # fmt: skip
    """See the module docstring. ``new`` is a file, or ``"consentry"`` for the ledger (then
    ``ctx`` is needed)."""
    result = Reconciliation(str(old), str(new))
    old_keys: dict[str, tuple[str, str]] = {}
    for key, literal, state in _suppressions(old, old_format, result.unreadable):
        old_keys.setdefault(key, (literal, state))
    result.old_suppressed = len(old_keys)
    if new == LEDGER:
        if ctx is None:
            raise InputError("reconciling against the ledger needs a consentry store")
        missing = _missing_in_ledger(ctx, old_keys)
        result.new_suppressed = -1  # not counted: the ledger is looked up per address
    else:
        new_keys = {k for k, _, _ in _suppressions(Path(new), new_format, result.unreadable)}
        result.new_suppressed = len(new_keys)
        missing = [k for k in old_keys if k not in new_keys]
    for key in missing:
        literal, state = old_keys[key]
        result.missing_by_state[state] += 1
        if len(result.missing) < MAX_LISTED:
            result.missing.append(literal)
    return result


def _missing_in_ledger(ctx: Context, old_keys: dict[str, tuple[str, str]]) -> list[str]:
    """Old suppressions the ledger does not enforce for every list (a list-scoped one is not
    enough when the old provider's was broader than a list: it is counted as missing only when
    the ledger has no suppression in force for the address at all)."""
    missing = []
    keys = list(old_keys)
    for i in range(0, len(keys), 2000):
        chunk = keys[i : i + 2000]
        subjects = {k: subject_for(ctx, old_keys[k][0])[1] for k in chunk}
        states = ctx.store.subject_states(list(subjects.values()))
        for key in chunk:
            state = states.get(subjects[key])
            held = state is not None and any(
                in_force(s, state.consents.get(s.scope)) for s in state.suppressions
            )
            if not held:
                missing.append(key)
    return missing


# --- cutover --------------------------------------------------------------------------------------


def _imports(ctx: Context) -> Iterator[tuple[int, dict[str, Any]]]:
    for stored in ctx.store.leaves_of_kind("import-recorded"):
        leaf = decode_leaf(stored.raw)
        yield leaf.seq, dict(leaf.fields)


def _cutovers(ctx: Context) -> list[dict[str, Any]]:
    return [dict(decode_leaf(s.raw).fields) for s in ctx.store.leaves_of_kind("provider-cutover")]


def cutover(
    ctx: Context, old_export: Path, from_provider: str, to_provider: str, actor: str,
    format_name: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Record the cutover, or refuse it naming what is missing."""
    digest = file_sha256(old_export)
    imported = [seq for seq, f in _imports(ctx) if f["sha256"] == digest]
    if not imported:
        raise CampaignStateError(
            f"{old_export.name} (SHA-256 {digest[:12]}…) has not been imported: run "
            f"'consentry transfer import {old_export}' first"
        )
    result = reconcile(ctx, old_export, LEDGER, format_name)
    if result.missing_by_state:
        count = sum(result.missing_by_state.values())
        raise CampaignStateError(
            f"{count} suppressions of {old_export.name} are not in force in consentry "
            f"(e.g. {', '.join(result.missing[:3])}); cutover refused"
        )
    fields = {
        "from": from_provider, "to": to_provider, "sha256": digest, "import": imported[-1],
        "suppressions": result.old_suppressed, "missing": 0, "actor": actor,
    }  # fmt: skip
    ref = append_sealed(
        ctx, Batch(leaves=[LeafDraft("provider-cutover", leaf_time(ctx), fields)])
    ).refs[0]
    return {**fields, "leaf_index": ref.index}


def require_cutover(ctx: Context, provider: str) -> None:
    """Marketing through ``provider`` is allowed when nothing was ever imported from another
    provider, or a cutover to it is recorded (R25)."""
    others = {f["provider"] for _, f in _imports(ctx)} - {provider, "consentry"}
    if not others:
        return
    if any(c["to"] == provider for c in _cutovers(ctx)):
        return
    raise CampaignStateError(
        f"consentry holds data imported from {', '.join(sorted(others))}; marketing through "
        f"{provider!r} is refused until the old provider's full suppression export is imported "
        f"and reconciled: run 'consentry transfer cutover OLD_EXPORT --from "
        f"{sorted(others)[0]} --to {provider}'"
    )
