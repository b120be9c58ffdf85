"""The store the benchmark backs up: ``leaves`` leaves through the product path (``bench.seed``:
confirmed web-form grants with address rows and evidence blobs, then suppressions and
withdrawals), in one SQLite file beside its key ring. Kept between runs in ``--work``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench import data
from bench.seed import Seeder, setup_context
from consentry.keys.ring import FileKeyRing
from consentry.store.sqlite import SQLiteStore

ORIGIN = "bench.local/backup"


def seeded(work: Path, leaves: int, log: object) -> tuple[Path, Path]:
    """(home, database file) of a store of exactly ``leaves`` leaves, made if missing."""
    home, path = work / f"home-{leaves}", work / f"store-{leaves}.sqlite"
    done = work / f"store-{leaves}.json"
    if done.exists() and path.exists():
        log(f"reusing the seeded store {path}")  # type: ignore[operator]
        return home, path
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    if home.exists():
        import shutil

        shutil.rmtree(home)
    keys = FileKeyRing.create(home, ORIGIN)
    store = SQLiteStore(path)
    started = time.perf_counter()
    try:
        ctx = setup_context(store, keys)
        seeder = Seeder(ctx, data.plan_audience(data.make_people(keys.subject_key(), leaves // 2)))
        seeder.fill_to(leaves)
    finally:
        store.close()
    seconds = time.perf_counter() - started
    done.write_text(json.dumps({"leaves": leaves, "seconds": seconds}))
    log(f"seeded {leaves:,} leaves in {seconds:.0f}s")  # type: ignore[operator]
    return home, path
