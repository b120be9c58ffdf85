"""One wrk run: ``wrk -t1 -c<connections> --latency`` with ``one_click.lua`` over a paths file,
and what it found (the script's ``BENCHWEB`` line: answers by status, the window, latency).

One wrk thread leaves the other core to the server. ``-d`` is only a limit: the script stops
issuing after the window, waits for every answer and then ends wrk (see ``one_click.lua``).
``--timeout`` is long so that a slow answer is measured, never dropped as a timeout.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dispatch.procfs import cpu_seconds

WRK = "/usr/bin/wrk"
SCRIPT = Path(__file__).resolve().parent / "one_click.lua"
MARK = "BENCHWEB "
TIMEOUT_S = 30


@dataclass(frozen=True)
class Run:
    """One run's figures; latencies in milliseconds."""

    method: str
    issued: int
    answered: int
    n200: int
    non_2xx: int
    socket_errors: int
    window_s: float
    stopped_by: str
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    server_cpu_s: float
    raw: dict[str, Any]

    @property
    def rate(self) -> float:
        """Answers per second over the window (first request to last answer)."""
        return self.answered / self.window_s if self.window_s > 0 else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rate": self.rate,
            "issued": self.issued,
            "answered": self.answered,
            "n200": self.n200,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "window_s": self.window_s,
            "stopped_by": self.stopped_by,
            "latency_ms": {
                "p50": self.p50_ms,
                "p90": self.p90_ms,
                "p99": self.p99_ms,
                "max": self.max_ms,
                "mean": self.mean_ms,
            },
            "server_cpu_s": self.server_cpu_s,
            "server_cpu_ms_per_request": 1000 * self.server_cpu_s / self.answered
            if self.answered
            else None,
            "wrk": self.raw,
        }


def run_wrk(
    origin: str,
    paths: Path,
    method: str,
    window_s: float,
    connections: int,
    server_pid: int,
    log: Path,
) -> Run:
    """wrk against ``origin`` over ``paths`` (POST: each path once; GET: cycled)."""
    reuse = "1" if method == "GET" else "0"
    limit = math.ceil(window_s) + TIMEOUT_S + 5
    command = [
        WRK, "-t1", f"-c{connections}", f"-d{limit}s", f"--timeout={TIMEOUT_S}s", "--latency",
        "-s", str(SCRIPT), origin, "--", str(paths), method, str(window_s), reuse,
        str(connections),
    ]  # fmt: skip
    cpu_before = cpu_seconds(server_pid) or 0.0
    done = subprocess.run(command, capture_output=True, text=True, timeout=limit + 30, check=False)
    cpu_after = cpu_seconds(server_pid) or 0.0
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line[len(MARK) :])
    lat = raw["latency_us"]
    return Run(
        method=method,
        issued=raw["issued"],
        answered=raw["answered"],
        n200=raw["n200"],
        non_2xx=raw["n3xx"] + raw["n4xx"] + raw["n5xx"],
        socket_errors=sum(
            raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        window_s=raw["window_s"],
        stopped_by=",".join(sorted(set(raw["stopped_by"]))),
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
        mean_ms=lat["mean"] / 1000,
        server_cpu_s=cpu_after - cpu_before,
        raw=raw,
    )
