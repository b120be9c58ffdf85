"""Seeding the big store through the product path, in batches of 10,000 leaves.

One store per backend serves both big measurements: it gets the organisation, the list and its
notice through ``services.consent``, then the audience's grants (``consent-given`` +
``consent-confirmed``, with address rows and evidence blobs), then the suppressions and
withdrawals. ``fill_to(n)`` stops exactly at n leaves (``verify`` is timed there), appending
extra grants for people outside the audience if the audience's leaves run out first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import data
from bench.common import WallClock
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.ports import Batch, KeyRing, Store
from consentry.services import consent
from consentry.services.context import Context
from consentry.services.ledger import append_sealed

BATCH_LEAVES = 10_000
_FILLER_START = 50_000_000


@dataclass
class SeedReport:
    leaves: int = 0
    append_s: float = 0.0  # inside append_sealed
    build_s: float = 0.0  # making people, drafts, evidence blobs
    batches: int = 0
    extra_people: int = 0

    def to_json(self) -> dict[str, Any]:
        rate = self.leaves / self.append_s if self.append_s else None
        return {
            "leaves": self.leaves,
            "batches": self.batches,
            "append_s": self.append_s,
            "append_leaves_per_s": rate,
            "build_s": self.build_s,
            "extra_people": self.extra_people,
        }


def setup_context(
    store: Store, keys: KeyRing, reader: Callable[[], Store] | None = None
) -> Context:
    """The organisation, the list and its notice, recorded through the services."""
    ctx = Context(store, keys, WallClock(), reader)
    org = configure_organisation(data.CONTROLLER, OrganisationType.COMMERCIAL, Jurisdiction.UK)
    consent.configure(ctx, org, "bench")
    consent.create_list(ctx, data.LIST_ID, "Monthly newsletter", "bench")
    consent.publish_notice(ctx, data.LIST_ID, data.NOTICE_TEXT, "bench")
    return ctx


def _split(batch: Batch, keep: int) -> tuple[Batch, Batch]:
    """The first ``keep`` leaves (with every side row) and the rest."""
    head = Batch(
        leaves=batch.leaves[:keep],
        addresses=batch.addresses,
        evidence=batch.evidence,
        notices=batch.notices,
    )
    return head, Batch(leaves=batch.leaves[keep:])


@dataclass
class Seeder:
    ctx: Context
    plan: data.AudiencePlan
    report: SeedReport = field(default_factory=SeedReport)

    def __post_init__(self) -> None:
        self._pending: Batch | None = None
        self._source = self._audience_batches()

    def _timed_build(self, it: Iterator[Batch]) -> Iterator[Batch]:
        while True:
            start = time.perf_counter()
            batch = next(it, None)
            self.report.build_s += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    def _audience_batches(self) -> Iterator[Batch]:
        at = datetime.now(UTC)
        per_batch = BATCH_LEAVES // 2  # two leaves per confirmed grant
        grants = data.grant_batches(self.plan.consented, per_batch, at, confirmed=True)
        yield from self._timed_build(grants)
        yield from self._timed_build(data.objection_batches(self.plan, BATCH_LEAVES, at))

    def _extra_batches(self, people: int) -> Iterator[Batch]:
        start = time.perf_counter()
        key = self.ctx.keys.subject_key()
        extra = data.make_people(key, people, _FILLER_START + self.report.extra_people)
        self.report.extra_people += people
        self.report.build_s += time.perf_counter() - start
        at = datetime.now(UTC)
        yield from self._timed_build(data.grant_batches(extra, BATCH_LEAVES, at))

    def _append(self, batch: Batch) -> None:
        start = time.perf_counter()
        append_sealed(self.ctx, batch)
        self.report.append_s += time.perf_counter() - start
        self.report.leaves += len(batch.leaves)
        self.report.batches += 1

    def _next(self) -> Batch | None:
        if self._pending is not None:
            batch, self._pending = self._pending, None
            return batch
        return next(self._source, None)

    def fill_to(self, size: int) -> None:
        """Append until the store holds exactly ``size`` leaves (or more already)."""
        have = self.ctx.store.size()
        while have < size:
            batch = self._next()
            if batch is None:
                self._source = self._extra_batches(size - have)
                continue
            if have + len(batch.leaves) > size:
                batch, self._pending = _split(batch, size - have)
            self._append(batch)
            have += len(batch.leaves)

    def finish(self) -> None:
        """Append whatever is left of the audience's leaves."""
        while (batch := self._next()) is not None:
            self._append(batch)
