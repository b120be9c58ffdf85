"""The measurements, each with its reference taken next to it in the same run.

* SQLite, ``plan.sqlite`` recipients: unsigned 2 KB, RSA-signed 2 KB and unsigned 20 KB
  campaigns. Run ``i`` of each is preceded by its reference run ``i`` (``smtp-source`` of the same
  count and size; for the signed case ``openssl speed``), so drift on a shared machine touches
  both sides of a ratio alike. Every run sends from a fresh copy of one seeded home.
* The naive baseline (``plan.naive`` messages, signed 2 KB), to compare with the signed rate.
* PostgreSQL, ``plan.postgres`` recipients, unsigned 2 KB: 1 worker, then 2 workers on the same
  campaign, alternately; each run seeds its own schema (``?schema=bench_dispatch_<random>_<n>``),
  dropped after it.
* Memory: one unsigned 2 KB campaign of ``plan.memory`` recipients on SQLite.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Sample
from bench.dispatch import seed, workload
from bench.dispatch.naive import run_naive
from bench.dispatch.references import SourceRun, signing_reference, smtp_source
from bench.dispatch.send import CLI, SendRun, send
from bench.dispatch.sink import Sink

Log = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How much is sent: recipients per backend, messages of the naive loop, the memory run's
    campaign (None: no memory run), the runs of each, and the two message sizes in bytes."""

    sqlite: int
    postgres: int
    naive: int
    memory: int | None
    runs: int | None  # --runs; None: 1 for runs of >= 100,000 messages, else 3
    small: int = 2048
    big: int = 20480

    def runs_for(self, count: int) -> int:
        return self.runs if self.runs else (1 if count >= 100_000 else 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "sqlite_recipients": self.sqlite,
            "postgres_recipients": self.postgres,
            "naive_messages": self.naive,
            "memory_recipients": self.memory,
            "runs_sqlite": self.runs_for(self.sqlite),
            "runs_postgres": self.runs_for(self.postgres),
            "runs_naive": self.runs_for(self.naive),
            "sizes": [self.small, self.big],
        }


@dataclass
class Series:
    """Repeated sends of one configuration."""

    recipients: int
    runs: list[SendRun] = field(default_factory=list)

    def add(self, run: SendRun, log: Log, label: str) -> None:
        self.runs.append(run)
        short = "" if run.received >= run.sent else f" [red]sink got only {run.received:,}[/]"
        log(
            f"    {label}: sent {run.sent:,} in {run.wall_s:.1f} s = {run.rate:,.0f}/s "
            f"(dispatcher {run.dispatcher_rate:,.0f}/s), peak RSS "
            f"{max(run.hwm_kb) / 1024:,.0f} MB (tree {max(run.tree_peak_kb) / 1024:,.0f} MB), "
            f"load {run.load_before:.1f}{short}"
        )

    def to_json(self) -> dict[str, Any]:
        rate, own = Sample("messages/s"), Sample("messages/s")
        rss = Sample("MB")
        cpu = {k: Sample("CPU s per 1,000 messages") for k in ("sender", "helpers", "sink")}
        for r in self.runs:
            rate.values.append(r.rate)
            own.values.append(r.dispatcher_rate)
            rss.values.append(max(r.hwm_kb) / 1024)
            per = 1000 / max(r.sent, 1)
            cpu["sender"].values.append(r.cpu_main_s * per)
            cpu["helpers"].values.append(r.cpu_helpers_s * per)
            cpu["sink"].values.append(r.cpu_sink_s * per)
        return {
            "recipients": self.recipients,
            "rate": rate.to_json(),
            "dispatcher_rate": own.to_json(),
            "peak_rss_mb": rss.to_json(),
            "cpu_per_1000": {k: v.to_json() for k, v in cpu.items()},
            "runs": [r.to_json() for r in self.runs],
        }


class Measure:
    """Runs the measurements with one sink and the probe's template overhead, collecting the
    references (smtp-source runs by size, RSA sign/s) as it goes."""

    def __init__(self, plan: Plan, work: Path, sink: Sink, overhead: int, log: Log) -> None:
        self.plan, self.work, self.sink, self.log = plan, work, sink, log
        self.texts = {size: workload.template(size, overhead) for size in (plan.small, plan.big)}
        self.openssl = Sample("sign/s per core")
        self.openssl_tool = ""
        self.smtp_source: dict[int, list[SourceRun]] = {}
        self._n = 0

    def run_dir(self, label: str) -> Path:
        """A fresh, numbered directory under the work directory for one run's home and logs."""
        self._n += 1
        return self.work / f"run-{self._n:03d}-{label}"

    def _send_copy(self, template: seed.Seeded, size: int, signed: bool, label: str) -> SendRun:
        """Copy the seeded home, add a DKIM key if ``signed``, create the campaign, send it."""
        where = self.run_dir(label)
        seeded = seed.copy_home(template, where / "home")
        try:
            if signed:
                seed.dkim_keygen(CLI, seeded)
            seed.create_campaign(seeded, "bench", self.texts[size])
            return send(seeded, "bench", self.sink, where / "logs")
        finally:
            shutil.rmtree(where / "home", ignore_errors=True)

    def _reference(self, size: int, count: int) -> None:
        run = smtp_source(self.sink, count, size)
        self.smtp_source.setdefault(size, []).append(run)
        self.log(f"    smtp-source {size} B: {count:,} in {run.seconds:.1f} s = {run.rate:,.0f}/s")

    def _signing(self) -> None:
        ref = signing_reference()
        self.openssl.values.append(ref.per_core)
        self.openssl_tool = ref.tool
        self.log(f"    RSA-2048: {ref.per_core:,.0f} sign/s per core x {ref.cores} cores")

    def seed_sqlite(self, recipients: int) -> seed.Seeded:
        home = self.work / f"seed-sqlite-{recipients}" / "home"
        self.log(f"  seeding {recipients:,} recipients into SQLite ...")
        seeded = seed.seed(home, seed.sqlite_url(home), recipients, self.log)
        self.log(f"  ... {seeded.seconds:.0f} s ({recipients / seeded.seconds:,.0f} grants/s)")
        return seeded

    def sqlite(self) -> dict[str, Any]:
        p = self.plan
        template = self.seed_sqlite(p.sqlite)
        cases = {
            f"unsigned-{p.small}": (p.small, False),
            f"signed-{p.small}": (p.small, True),
            f"unsigned-{p.big}": (p.big, False),
        }
        series = {label: Series(p.sqlite) for label in cases}
        for i in range(p.runs_for(p.sqlite)):
            for label, (size, signed) in cases.items():
                self.log(f"  SQLite run {i + 1}, {label}:")
                if signed:
                    self._signing()
                else:
                    self._reference(size, p.sqlite)
                series[label].add(self._send_copy(template, size, signed, label), self.log, label)
        shutil.rmtree(template.home.parent, ignore_errors=True)
        return {"seed": template.to_json(), **{k: s.to_json() for k, s in series.items()}}

    def naive(self) -> dict[str, Any]:
        rate = Sample("messages/s")
        runs = []
        for i in range(self.plan.runs_for(self.plan.naive)):
            run = run_naive(self.sink, self.texts[self.plan.small], self.plan.naive)
            rate.values.append(run.rate)
            runs.append(run.to_json())
            self.log(
                f"  naive run {i + 1}: {run.messages:,} in {run.seconds:.1f} s = "
                f"{run.rate:,.0f}/s (sink got {run.received:,})"
            )
        return {"messages": self.plan.naive, "rate": rate.to_json(), "runs": runs}

    def postgres(self, url: str) -> dict[str, Any]:
        p = self.plan
        base = url.split("?", 1)[0]
        prefix = f"bench_dispatch_{uuid.uuid4().hex[:10]}"
        series = {1: Series(p.postgres), 2: Series(p.postgres)}
        made: list[str] = []
        try:
            for i in range(p.runs_for(p.postgres)):
                for workers in (1, 2):
                    schema = f"{prefix}_{len(made)}"
                    made.append(schema)
                    where = self.run_dir(f"postgres-{workers}w")
                    seeded = seed.seed(
                        where / "home", f"{base}?schema={schema}", p.postgres, lambda _: None
                    )
                    self.log(
                        f"  PostgreSQL run {i + 1}, {workers} worker(s) "
                        f"(seeded {p.postgres:,} in {seeded.seconds:.0f} s):"
                    )
                    seed.create_campaign(seeded, "bench", self.texts[p.small])
                    run = send(seeded, "bench", self.sink, where / "logs", workers=workers)
                    series[workers].add(run, self.log, f"{workers} worker(s)")
                    seed.drop_schemas(base, [schema])
        finally:
            seed.drop_schemas(base, made)
        one, two = series[1].to_json(), series[2].to_json()
        return {
            "schema_prefix": prefix,
            "workers_1": one,
            "workers_2": two,
            "scaling": two["rate"]["median"] / one["rate"]["median"],
        }

    def memory(self) -> dict[str, Any]:
        count = self.plan.memory
        assert count is not None
        template = self.seed_sqlite(count)
        self.log(f"  memory run: {count:,} recipients, unsigned {self.plan.small} B:")
        series = Series(count)
        try:
            run = self._send_copy(template, self.plan.small, False, "memory")
            series.add(run, self.log, "1M")
        finally:
            shutil.rmtree(template.home.parent, ignore_errors=True)
        return {"seed": template.to_json(), **series.to_json()}

    def references(self) -> dict[str, Any]:
        sources: dict[str, Any] = {}
        for size, runs in self.smtp_source.items():
            rate = Sample("messages/s", [r.rate for r in runs])
            cpu = {
                "sender": Sample(
                    "CPU s per 1,000", [1000 * r.cpu_source_s / r.messages for r in runs]
                ),
                "sink": Sample("CPU s per 1,000", [1000 * r.cpu_sink_s / r.messages for r in runs]),
            }
            sources[str(size)] = {
                **rate.to_json(),
                "cpu_per_1000": {k: v.to_json() for k, v in cpu.items()},
                "runs": [r.to_json() for r in runs],
            }
        return {
            "rsa2048": {"tool": self.openssl_tool, "per_core": self.openssl.to_json()},
            "smtp_source": sources,
        }
