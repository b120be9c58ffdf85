"""The figures of each backend over its rounds (medians and ranges), the verdicts against the
targets of issue 4, the checks (every POST a durable withdrawal, no errors), and the tables.

Targets: one-click POSTs/s >= 0.5 x the same server's static ``GET /healthz`` rate in the same
run (ratio of the medians), and the POSTs' p99 latency < 50 ms (median over rounds).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import Sample

RATIO_TARGET = 0.5
P99_TARGET_MS = 50.0


def summarise_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and ranges over the rounds: rates, latencies, ratios, server CPU per request."""
    out: dict[str, Sample] = {
        "static_rate": Sample("requests/s"),
        "post_rate": Sample("requests/s"),
        "ratio": Sample("POST rate / static rate, per round"),
        "static_p99_ms": Sample("ms"),
        "post_p99_ms": Sample("ms"),
        "static_p50_ms": Sample("ms"),
        "post_p50_ms": Sample("ms"),
        "static_cpu_ms": Sample("server CPU ms per request"),
        "post_cpu_ms": Sample("server CPU ms per request"),
    }
    for r in rounds:
        static, post = r["static"], r["post"]
        out["static_rate"].values.append(static["rate"])
        out["post_rate"].values.append(post["rate"])
        out["ratio"].values.append(post["rate"] / static["rate"])
        for name, run in (("static", static), ("post", post)):
            out[f"{name}_p99_ms"].values.append(run["latency_ms"]["p99"])
            out[f"{name}_p50_ms"].values.append(run["latency_ms"]["p50"])
            if run["server_cpu_ms_per_request"] is not None:
                out[f"{name}_cpu_ms"].values.append(run["server_cpu_ms_per_request"])
    return {k: v.to_json() for k, v in out.items()}


def checks(rounds: list[dict[str, Any]], withdrawals: int, before: int) -> dict[str, Any]:
    """Every measured POST answered 200 wrote one withdrawal leaf, and nothing else went wrong."""
    posts_200 = sum(r["post"]["n200"] for r in rounds)
    runs = [r[k] for r in rounds for k in ("static", "post")]
    found = {
        "post_200_answers": posts_200,
        "withdrawal_leaves": withdrawals - before,
        "leaves_equal_200s": withdrawals - before == posts_200,
        "leaves_added_equal_200s_each_round": all(
            r["leaves_added"] == r["post"]["n200"] for r in rounds
        ),
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(run["socket_errors"] for run in runs),
        "unanswered": sum(run["issued"] - run["answered"] for run in runs),
        "rounds_out_of_paths": sum(1 for r in rounds if "paths" in r["post"]["stopped_by"]),
    }
    found["ok"] = (
        found["leaves_equal_200s"]
        and found["leaves_added_equal_200s_each_round"]
        and found["non_2xx"] == 0
        and found["socket_errors"] == 0
        and found["unanswered"] == 0
    )
    return found


def verdicts(fig: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, backend in fig["backends"].items():
        if "summary" not in backend:
            continue
        s = backend["summary"]
        ratio = s["post_rate"]["median"] / s["static_rate"]["median"]
        p99 = s["post_p99_ms"]["median"]
        out.append(
            {
                "backend": name,
                "ratio": ratio,
                "ratio_met": ratio >= RATIO_TARGET,
                "p99_ms": p99,
                "p99_met": p99 < P99_TARGET_MS,
                "checks_ok": backend["checks"]["ok"],
            }
        )
    return out


def _range(s: dict[str, Any], fmt: str = ",.0f") -> str:
    return f"{s['median']:{fmt}}\n({s['min']:{fmt}}-{s['max']:{fmt}})"


def _met(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]MISSED[/]"


def table(fig: dict[str, Any]) -> Table:
    plan = fig["meta"]["plan"]
    t = Table(
        title=f"one-click POST vs static GET /healthz, same server, same run: wrk -t1 "
        f"-c{plan['connections']}, {plan['rounds']} rounds of {plan['window_s']:g} s each; "
        "median (min-max)",
        show_lines=True,
    )
    for col in (
        "backend",
        "static GET/s",
        "one-click POST/s",
        "ratio of medians\n(per-round range)",
        ">= 0.5",
        "POST p99 ms\n(static p99)",
        "< 50 ms",
        "POST p50 ms",
        "server CPU ms/request\nstatic / POST",
    ):
        t.add_column(col, justify="left" if col == "backend" else "right")
    verdict = {v["backend"]: v for v in fig["verdicts"]}
    for name, backend in fig["backends"].items():
        if "summary" not in backend:
            t.add_row(name, backend.get("skipped", "?"), "", "", "", "", "", "", "")
            continue
        s, v = backend["summary"], verdict[name]
        t.add_row(
            name,
            _range(s["static_rate"]),
            _range(s["post_rate"]),
            f"{v['ratio']:.2f}\n({s['ratio']['min']:.2f}-{s['ratio']['max']:.2f})",
            _met(v["ratio_met"]),
            _range(s["post_p99_ms"], ".1f") + f"\n(static {s['static_p99_ms']['median']:.1f})",
            _met(v["p99_met"]),
            _range(s["post_p50_ms"], ".1f"),
            f"{s['static_cpu_ms']['median']:.2f} / {s['post_cpu_ms']['median']:.2f}",
        )
    return t


def checks_table(fig: dict[str, Any]) -> Table:
    t = Table(title="checks after the runs: every POST answered 200 is one durable withdrawal")
    for col in (
        "backend",
        "POSTs answered 200",
        "withdrawal leaves",
        "equal (and per round)",
        "non-2xx",
        "socket errors",
        "unanswered",
        "rounds out of tokens",
    ):
        t.add_column(col, justify="left" if col == "backend" else "right")
    for name, backend in fig["backends"].items():
        c = backend.get("checks")
        if c is None:
            continue
        same = c["leaves_equal_200s"] and c["leaves_added_equal_200s_each_round"]
        t.add_row(
            name,
            f"{c['post_200_answers']:,}",
            f"{c['withdrawal_leaves']:,}",
            "[green]yes[/]" if same else "[red]NO[/]",
            str(c["non_2xx"]),
            str(c["socket_errors"]),
            str(c["unanswered"]),
            str(c["rounds_out_of_paths"]),
        )
    return t


def render(console: Console, fig: dict[str, Any]) -> None:
    meta = fig["meta"]
    m = meta["machine"]
    console.print(
        f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_mb']:,} MB; "
        f"{m['platform']}; Python {m['python']}, SQLite {m['sqlite']}"
    )
    src = meta["source"]
    console.print(
        f"code: commit {src.get('commit', '?')[:12]}, {len(src.get('uncommitted', []))} "
        f"uncommitted files in src, src sha256 {src.get('src_sha256', '?')[:12]}"
    )
    console.print(f"durability: {meta['durability']}")
    console.print(table(fig))
    console.print(checks_table(fig))
    for name, backend in fig["backends"].items():
        prof = backend.get("profile")
        if not prof or "threads" not in prof:
            continue
        run = prof["run"]
        console.print(
            f"profile {name} ({prof['tool']}): {run['answered']:,} POSTs at {run['rate']:,.0f}/s "
            f"(untimed), {prof['samples']:,} busy samples, {prof['file']}"
        )
        for thread in prof["threads"]:
            busy = thread.get("busy")
            wall = f", busy {100 * busy:.0f}% of the run's wall time" if busy is not None else ""
            console.print(
                f"  {thread['thread']}: {100 * thread['share']:.1f}% of busy samples{wall}"
            )
            for label, key in (
                ("own time by package", "packages"),
                ("own time by function", "own"),
                ("inclusive, consentry", "inclusive_consentry"),
            ):
                shown = ", ".join(f"{h['name']} {100 * h['share']:.1f}%" for h in thread[key][:8])
                console.print(f"    {label}: {shown}")
