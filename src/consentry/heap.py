"""Long-running commands settle their garbage collector once they have started.

CPython's full (generation 2) collection walks every tracked object, and most of them are the
modules, the app and its caches, alive until the process ends. In ``consentry serve`` such a
walk took 50-70 ms on these machines, a stall for every request in flight, about once a second
under load (the tail of the one-click latency was made of them); in ``campaign send`` the
collector took about a tenth of the sender's CPU. Once the process has started, what is alive is
moved out of the collector's sight (``gc.freeze``) and the youngest generation is collected
after more allocations, so full collections are rare and walk only what came after. Reference
cycles are still collected."""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # CPython's default is 700 allocations


def settle_heap() -> None:
    """Collect once, freeze what survives, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
