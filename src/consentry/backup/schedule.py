"""``backup create --every 1h --keep 48``: backups on a schedule, in the foreground.

Each run writes ``consentry-<UTC time>.age`` into the directory (the names sort in time order),
then removes the oldest such files beyond ``keep``. A failed run is reported and the schedule
goes on; the next run starts ``every`` after the previous one started (a run that took longer
than that is followed at once).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from consentry.backup.create import remove_stale_partials
from consentry.domain.errors import ConsentryError, InputError

PREFIX = "consentry-"
SUFFIX = ".age"
_EVERY = re.compile(r"([1-9][0-9]*)(s|m|h|d)\Z")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> float:
    """Seconds of ``30s``, ``15m``, ``1h`` or ``1d``."""
    found = _EVERY.match(text.strip())
    if found is None:
        raise InputError(f"--every {text!r} is not a duration such as 30s, 15m, 1h or 1d")
    return float(int(found.group(1)) * _UNIT[found.group(2)])


def scheduled_name(at: datetime) -> str:
    return f"{PREFIX}{at.astimezone(UTC):%Y%m%dT%H%M%S.%f}Z{SUFFIX}"


def scheduled_files(directory: Path) -> list[Path]:
    """This schedule's backups in the directory, oldest first."""
    pattern = re.compile(re.escape(PREFIX) + r"\d{8}T\d{6}\.\d{6}Z" + re.escape(SUFFIX) + r"\Z")
    return sorted(p for p in directory.iterdir() if pattern.match(p.name) and p.is_file())


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove the oldest scheduled backups beyond the newest ``keep``; returns them."""
    files = scheduled_files(directory)
    old = files[: max(0, len(files) - keep)]
    for path in old:
        path.unlink(missing_ok=True)
    return old


@dataclass
class Schedule:
    directory: Path
    every: float
    keep: int
    #: Stop after this many runs (None: run until interrupted).
    runs: int | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def run(self, make: Callable[[Path], str], say: Callable[[str], None]) -> int:
        """Run ``make(path)`` on the schedule (it returns a line to print); returns how many
        runs failed."""
        if self.keep < 1:
            raise InputError("--keep must be at least 1")
        if not self.directory.is_dir():
            raise InputError(f"--to {self.directory} must be an existing directory with --every")
        failures = done = 0
        while self.runs is None or done < self.runs:
            started = time.monotonic()
            remove_stale_partials(self.directory, f"{PREFIX}*")
            target = self.directory / scheduled_name(self.clock())
            try:
                say(make(target))
                for path in prune(self.directory, self.keep):
                    say(f"removed {path.name} (keeping the newest {self.keep})")
            except ConsentryError as exc:
                failures += 1
                say(f"backup {target.name} failed: {exc}")
            done += 1
            if self.runs is not None and done >= self.runs:
                break
            self.sleep(max(0.0, self.every - (time.monotonic() - started)))
        return failures
