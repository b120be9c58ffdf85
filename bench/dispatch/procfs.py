"""Watching a process tree from outside through ``/proc``: peak memory and CPU time.

A :class:`TreeWatch` polls every 0.1 s while a ``campaign send`` runs and keeps:

* ``hwm_kb``: the process's own ``VmHWM`` (peak resident set), the memory figure reported;
* ``anon_peak_kb`` and ``file_peak_kb``: the peaks of its ``RssAnon`` (heap: Python objects,
  SQLite's page cache) and ``RssFile`` (file pages mapped in, e.g. SQLite's ``mmap_size``
  window on the database), which tell what the resident memory is;
* ``tree_peak_kb``: the peak of the summed ``VmRSS`` of the process and all its descendants (a
  DKIM signing pool's workers and their forkserver);
* ``cpu_s``: the last CPU time (user + system) seen for each process of the tree, so the CPU a
  send costs splits into the sending process and its helpers. A process's final 0.1 s can be
  missed; over runs of many seconds that is noise.

Linux's ``ru_maxrss`` (``os.wait4``) would be the obvious peak-memory source but carries the
high-water mark of the image ``exec`` replaced, here this benchmark's own process at the fork.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def status_kb(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (``VmHWM``, ``VmRSS``), or 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (from /proc/<pid>/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: fields 14 and 15


def tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


@dataclass
class TreeWatch:
    """Polls /proc for one process tree until :meth:`stop`; see the module docstring."""

    pid: int
    hwm_kb: int = 0
    anon_peak_kb: int = 0
    file_peak_kb: int = 0
    tree_peak_kb: int = 0
    cpu_s: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _poll(self) -> None:
        self.hwm_kb = max(self.hwm_kb, status_kb(self.pid, "VmHWM"))
        self.anon_peak_kb = max(self.anon_peak_kb, status_kb(self.pid, "RssAnon"))
        self.file_peak_kb = max(self.file_peak_kb, status_kb(self.pid, "RssFile"))
        pids = tree(self.pid)
        self.tree_peak_kb = max(self.tree_peak_kb, sum(status_kb(p, "VmRSS") for p in pids))
        for p in pids:
            seen = cpu_seconds(p)
            if seen is not None:
                self.cpu_s[p] = seen

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(0.1)

    def start(self) -> TreeWatch:
        threading.Thread(target=self._loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def main_cpu_s(self) -> float:
        return self.cpu_s.get(self.pid, 0.0)

    @property
    def helpers_cpu_s(self) -> float:
        return sum(v for p, v in self.cpu_s.items() if p != self.pid)
