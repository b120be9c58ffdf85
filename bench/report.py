"""The tables, drawn from the JSON figures (so a saved ``ledger.json`` can be drawn again)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

#: Targets stated in the issue: (measurement, minimum ratio).
TARGETS: dict[str, float] = {"append-1000": 0.3, "verify": 0.3, "audience": 1.0}


def _rate(s: dict[str, Any], unit: str) -> str:
    return f"{s['median']:,.0f} {unit}\n({s['min']:,.0f}-{s['max']:,.0f})"


def _secs(s: dict[str, Any]) -> str:
    return f"{s['median']:.3f} s\n({s['min']:.3f}-{s['max']:.3f})"


def _verdict(ratio: float, target: float | None) -> tuple[str, str]:
    if target is None:
        return "—", ""
    ok = ratio >= target
    return f">= {target:g}", "[green]met[/]" if ok else "[red]MISSED[/]"


def _runs(s: dict[str, Any]) -> str:
    return f"{len(s['runs'])} runs"


def backend_table(name: str, fig: dict[str, Any]) -> Table:
    table = Table(
        title=f"{name}: median (min-max) of n runs; ratios of the medians", show_lines=True
    )
    for col in ("measurement", "ours", "reference", "ratio", "target", "result"):
        table.add_column(col, justify="left" if col in ("measurement", "reference") else "right")
    for a in fig.get("append", []):
        target, verdict = _verdict(a["ratio_ours_over_plain"], TARGETS.get(f"append-{a['batch']}"))
        table.add_row(
            f"append, batch {a['batch']:,}\n{a['leaves_per_run']:,} leaves/run, {_runs(a['ours'])}",
            _rate(a["ours"], "leaves/s"),
            "plain INSERT, same rows\n" + _rate(a["plain"], "leaves/s"),
            f"{a['ratio_ours_over_plain']:.3f}\nours/plain",
            target,
            verdict,
        )
    for v in fig.get("verify", []):
        workers = v.get("workers", 1)
        info = workers > 1
        target, verdict = _verdict(v["ratio_raw_over_ours"], None if info else TARGETS["verify"])
        ok = v["verify_report"].get("ok")
        table.add_row(
            f"verify_ledger{f' (workers={workers}, extra)' if info else ''}\n"
            f"{v['leaves']:,} leaves, {v['leaf_bytes'] / 1e6:,.0f} MB, {_runs(v['ours'])}"
            + ("" if ok else "\n[red]REPORT NOT OK[/]"),
            _secs(v["ours"]),
            "hashlib sha256 per leaf\n" + _secs(v["raw_sha256"]),
            f"{v['ratio_raw_over_ours']:.3f}\nraw/ours",
            target,
            verdict,
        )
    u = fig.get("audience")
    if u:
        target, verdict = _verdict(u["ratio_ours_over_plain"], TARGETS["audience"])
        table.add_row(
            f"decide_audience\n{u['subjects']:,} subjects, {_runs(u['ours'])}",
            _rate(u["ours"], "decisions/s"),
            "audience LEFT JOIN proj_consent\n" + _rate(u["plain_join"], "rows/s"),
            f"{u['ratio_ours_over_plain']:.3f}\nours/join",
            target,
            verdict,
        )
        by_list = u.get("decide_list")
        if by_list:
            table.add_row(
                f"decide_list (extra)\n{by_list['decisions']:,} on the list, "
                + _runs(by_list["ours"]),
                _rate(by_list["ours"], "decisions/s"),
                "the join above",
                f"{by_list['ratio_over_plain_join']:.3f}\nours/join",
                "—",
                "",
            )
    return table


def _notes(name: str, fig: dict[str, Any]) -> list[str]:
    lines = [f"{name} settings: " + ", ".join(f"{k}={v}" for k, v in fig["durability"].items())]
    for what, key in (("verify store", "verify_store"), ("whole store", "seed")):
        seed = fig.get(key)
        if seed and seed.get("leaves"):
            lines.append(
                f"{name} {what}: {seed['leaves']:,} leaves appended with append_sealed in "
                f"{seed['batches']} batches of <= 10,000 (+3 set-up leaves): "
                f"{seed['append_s']:.1f} s in append_sealed "
                f"({seed['append_leaves_per_s']:,.0f} leaves/s), {seed['build_s']:.1f} s "
                "building the batches"
            )
    u = fig.get("audience")
    if u:
        reasons = ", ".join(f"{k} {v:,}" for k, v in u["decision_reasons"].items())
        lines.append(f"{name} decisions: {reasons}")
    return lines


def _hot_table(title: str, spots: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("function", "where", "calls", "own", "own %", "cum %"):
        table.add_column(col, justify="left" if col in ("function", "where") else "right")
    for h in spots:
        table.add_row(
            h["function"], h["where"], f"{h['calls']:,}", f"{h['own_s']:.2f} s",
            f"{100 * h['own_share']:.1f}", f"{100 * h['cum_share']:.1f}",
        )  # fmt: skip
    return table


def _profiles(console: Console, profiles: dict[str, Any]) -> None:
    for label, prof in profiles.items():
        head = f"profile {label}: {prof['total_s']:.2f} s under cProfile"
        console.print(_hot_table(f"{head}, top by own time", prof["all"][:8]))
        console.print(_hot_table(f"{head}, src/consentry only", prof["ours"][:10]))
        console.print(f"stats: {prof['file']}")


def render(console: Console, figures: dict[str, Any]) -> None:
    source = figures["meta"].get("source", {})
    dirty = ", ".join(source.get("uncommitted", [])) or "none"
    console.print(
        f"measured: commit {source.get('commit', '?')[:12]}; uncommitted in src: {dirty}; "
        f"src sha256 {source.get('src_sha256', '?')[:12]}"
    )
    for name, fig in figures["backends"].items():
        if "skipped" in fig:
            console.print(f"[yellow]{name}: skipped: {fig['skipped']}[/]")
            continue
        console.print(backend_table(name, fig))
        for line in _notes(name, fig):
            console.print(line)
        if fig.get("profiles"):
            _profiles(console, fig["profiles"])
