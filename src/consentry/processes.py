"""Whether a process still runs: for leftovers named by a process id (a dispatcher's claim, a
backup's partial file), which may be cleared once their process is gone."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True if process ``pid`` exists on this host (even when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
