"""Invariant 7: the projections equal a rebuild from the ledger."""

from __future__ import annotations

from consentry.domain.leaves import decode_leaf
from consentry.domain.state import LeafRef, Projection
from consentry.services.context import Context


def rebuild_in_memory(ctx: Context) -> Projection:
    projection = Projection()
    for stored in ctx.store.iter_leaves():
        projection.apply_leaf(decode_leaf(stored.raw), LeafRef(stored.index, stored.hash.hex()))
    return projection


def compare_projections(ctx: Context) -> list[str]:
    """Differences between the live projection and a rebuild from leaf 0 (empty when equal)."""
    live, rebuilt = ctx.store.projection(), rebuild_in_memory(ctx)
    problems = []
    for name in ("consents", "suppressions", "erased", "lists", "notices", "organisation"):
        a, b = getattr(live, name), getattr(rebuilt, name)
        if name == "suppressions":
            a = {k: sorted(v, key=lambda s: s.leaf.index) for k, v in a.items()}
            b = {k: sorted(v, key=lambda s: s.leaf.index) for k, v in b.items()}
        if a != b:
            problems.append(f"projection '{name}' differs from a rebuild from the ledger")
    return problems
