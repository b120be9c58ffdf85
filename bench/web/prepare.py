"""The home the server runs on: subscribers seeded through the product's services, and the
one-click paths wrk sends, one valid token per subscriber; afterwards, the ledger counted.

Seeding is :func:`bench.dispatch.seed.seed` (keys, the organisation, the list ``news`` and its
notice, one first-party web-form consent with evidence per subscriber, ``consent.grant_many`` in
chunks). Each path is ``/u/news/<token>``, the URL the dispatcher puts in List-Unsubscribe, made
with the home's current token key, shuffled (unsubscribes do not arrive in subscriber order) and
split into one file per measured round, so that no token is sent twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dispatch import seed, workload
from consentry.domain.leaves import decode_leaf
from consentry.domain.tokens import make_unsubscribe_token
from consentry.services import consent

WITHDRAWN = "consent-withdrawn"


@dataclass(frozen=True)
class Prepared:
    home: Path
    url: str
    subscribers: int
    seed_seconds: float
    rounds: list[Path]  # one file of distinct one-click paths per measured POST round
    aside: dict[str, Path]  # paths no round uses, by purpose (warm-up, profile)
    healthz: Path  # a file with the one line /healthz

    def to_json(self) -> dict[str, Any]:
        return {
            "subscribers": self.subscribers,
            "seed_seconds": self.seed_seconds,
            "paths_per_round": len(self.rounds[0].read_text().split()) if self.rounds else 0,
        }


def prepare(
    home: Path, url: str, subscribers: int, rounds: int, aside: dict[str, int], log: seed.Log
) -> Prepared:
    """Seed ``subscribers`` into a fresh home and database, and write the paths files: for each
    purpose in ``aside`` that many paths, and the rest split evenly into ``rounds`` files."""
    seeded = seed.seed(home, url, subscribers, log)
    with seed.opened(url, home) as ctx:
        kid, key = ctx.keys.token_key()
        paths = [
            f"/u/{workload.LIST_ID}/"
            + make_unsubscribe_token(
                kid, key, consent.subject_for(ctx, address)[1], workload.LIST_ID
            )
            for address in workload.emails(subscribers)
        ]
    random.Random(subscribers).shuffle(paths)
    files = home.parent / "paths"
    files.mkdir(exist_ok=True)
    aside_files = {}
    for purpose, count in aside.items():
        aside_files[purpose] = files / f"{purpose}.txt"
        aside_files[purpose].write_text("\n".join(paths[:count]) + "\n")
        paths = paths[count:]
    rest = paths
    per_round = len(rest) // max(1, rounds)
    round_files = []
    for i in range(rounds):
        path = files / f"round-{i + 1}.txt"
        path.write_text("\n".join(rest[i * per_round : (i + 1) * per_round]) + "\n")
        round_files.append(path)
    healthz = files / "healthz.txt"
    healthz.write_text("/healthz\n")
    return Prepared(home, url, subscribers, seeded.seconds, round_files, aside_files, healthz)


@dataclass(frozen=True)
class LedgerCount:
    size: int  # leaves in the ledger
    withdrawals: int  # consent-withdrawn leaves with method one-click


def ledger_size(prepared: Prepared) -> int:
    with seed.opened(prepared.url, prepared.home) as ctx:
        return ctx.store.size()


def count_ledger(prepared: Prepared) -> LedgerCount:
    """The ledger's size and its one-click withdrawals, read from leaf 0."""
    with seed.opened(prepared.url, prepared.home) as ctx:
        size = ctx.store.size()
        withdrawals = 0
        for stored in ctx.store.iter_leaves():
            leaf = decode_leaf(stored.raw)
            if leaf.kind == WITHDRAWN and leaf.fields.get("method") == "one-click":
                withdrawals += 1
    return LedgerCount(size, withdrawals)
