"""The verdicts (each ratio against its target) and the tables, drawn from the JSON figures.

Every rate is a median over runs with its range. "whole command" is messages over the wall time
around the ``campaign send`` subprocess(es); "dispatcher" is the dispatcher's own
``rate_per_second`` from its JSON summary (from its start, after the interpreter and the store
are up). Ratios are of the medians.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _rate(s: dict[str, Any], unit: str = "/s") -> str:
    return f"{s['median']:,.0f}{unit}\n({s['min']:,.0f}-{s['max']:,.0f})"


def _row(
    name: str,
    ours: dict[str, Any],
    own: dict[str, Any] | None,
    ref_label: str,
    ref: float,
    ref_text: str,
    target: float,
) -> dict[str, Any]:
    ratio = ours["median"] / ref if ref else float("nan")
    return {
        "measurement": name,
        "ours": ours,
        "dispatcher": own,
        "reference": ref_label,
        "reference_value": ref,
        "reference_text": ref_text,
        "ratio": ratio,
        "ratio_dispatcher": own["median"] / ref if own and ref else None,
        "target": target,
        "met": ratio >= target,
        "kind": "ratio",
    }


def verdicts(fig: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 3 with the figures it is judged on (absent parts are skipped)."""
    out: list[dict[str, Any]] = []
    refs, sq = fig["references"], fig.get("sqlite", {})
    small, big = fig["meta"]["plan"]["sizes"]
    for size in (small, big):
        series, src = sq.get(f"unsigned-{size}"), refs["smtp_source"].get(str(size))
        if series and src:
            out.append(
                _row(
                    f"unsigned {size // 1024} KB, {series['recipients']:,} recipients",
                    series["rate"],
                    series["dispatcher_rate"],
                    f"smtp-source -s 10, {size} B",
                    src["median"],
                    _rate(src),
                    1.0,
                )
            )
    signed = sq.get(f"signed-{small}")
    rsa = refs["rsa2048"]["per_core"]
    if signed and rsa["runs"]:
        cores = fig["meta"]["machine"]["cores"]
        ref = rsa["median"] * cores
        out.append(
            _row(
                f"RSA-signed {small // 1024} KB, {signed['recipients']:,} recipients",
                signed["rate"],
                signed["dispatcher_rate"],
                "RSA-2048 sign/s x cores",
                ref,
                f"{rsa['median']:,.0f} x {cores}\n= {ref:,.0f}/s",
                0.6,
            )
        )
    naive = fig.get("naive")
    if signed and naive:
        out.append(
            _row(
                f"RSA-signed {small // 1024} KB vs what a user would write",
                signed["rate"],
                signed["dispatcher_rate"],
                f"smtplib + EmailMessage + dkimpy, {naive['messages']:,} messages",
                naive["rate"]["median"],
                _rate(naive["rate"]),
                30.0,
            )
        )
    pg = fig.get("postgres", {})
    if "scaling" in pg:
        row = _row(
            f"PostgreSQL, 2 workers vs 1, {pg['workers_1']['recipients']:,} recipients",
            pg["workers_2"]["rate"],
            pg["workers_2"]["dispatcher_rate"],
            "the same with 1 worker",
            pg["workers_1"]["rate"]["median"],
            _rate(pg["workers_1"]["rate"]),
            0.0,
        )
        row.update(kind="scaling", target=None, met=None)
        out.append(row)
    mem = fig.get("memory", {})
    if "peak_rss_mb" in mem:
        peak = mem["peak_rss_mb"]["median"]
        tree = max(max(r["tree_peak_rss_kb"]) for r in mem["runs"]) / 1024
        split = mem["runs"][0].get("rss_peaks_kb", [{}])[0]
        out.append(
            {
                "measurement": f"peak memory, {mem['recipients']:,} recipients",
                "kind": "memory",
                "peak_rss_mb": peak,
                "tree_peak_mb": tree,
                "target": 500.0,
                "met": peak < 500.0,
                "rate": mem["rate"],
                "dispatcher": mem["dispatcher_rate"],
                "anon_peak_mb": split.get("anon", 0) / 1024,
                "file_peak_mb": split.get("file", 0) / 1024,
            }
        )
    return out


def _verdict(v: dict[str, Any]) -> str:
    if v["met"] is None:
        return ""
    return "[green]met[/]" if v["met"] else "[red]MISSED[/]"


def verdict_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        title="consentry campaign dispatch: median (min-max); ratios of the medians",
        show_lines=True,
    )
    for col in (
        "measurement",
        "ours: whole command\n(dispatcher's own)",
        "reference, same run",
        "ratio\n(dispatcher's)",
        "target",
        "result",
    ):
        table.add_column(col, justify="left" if col[0] in "mr" and col != "result" else "right")
    for v in rows:
        if v["kind"] == "memory":
            table.add_row(
                v["measurement"],
                f"peak RSS (VmHWM) of the sending\nprocess {v['peak_rss_mb']:,.0f} MB "
                f"(its tree: {v['tree_peak_mb']:,.0f} MB)\npeaks: heap (RssAnon) "
                f"{v['anon_peak_mb']:,.0f} MB,\nmapped files (RssFile) {v['file_peak_mb']:,.0f} MB"
                f"\nat {v['rate']['median']:,.0f}/s",
                "—",
                "—",
                "< 500 MB",
                _verdict(v),
            )
            continue
        own = v["dispatcher"]
        ratio = f"{v['ratio']:.2f}" + (f"\n({v['ratio_dispatcher']:.2f})" if own else "")
        table.add_row(
            v["measurement"],
            _rate(v["ours"]) + (f"\n({own['median']:,.0f}/s)" if own else ""),
            f"{v['reference']}\n{v['reference_text']}",
            ratio,
            "scaling" if v["target"] is None else f">= {v['target']:g}",
            _verdict(v),
        )
    return table


def runs_table(fig: dict[str, Any]) -> Table:
    table = Table(title="every configuration sent through 'consentry campaign send'")
    for col in (
        "configuration",
        "recipients",
        "runs",
        "whole command",
        "dispatcher",
        "peak RSS MB",
        "CPU s per 1,000 messages\nsender + pool + sink",
        "sink received / sent",
    ):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    rows: list[tuple[str, dict[str, Any]]] = [
        (f"SQLite {k}", v) for k, v in fig.get("sqlite", {}).items() if k != "seed"
    ]
    pg = fig.get("postgres", {})
    rows += [
        (f"PostgreSQL {k.replace('_', ' ')}", pg[k]) for k in ("workers_1", "workers_2") if k in pg
    ]
    if "runs" in fig.get("memory", {}):
        rows.append(("SQLite memory run, unsigned", fig["memory"]))
    for name, s in rows:
        got = sum(r["received_by_sink"] for r in s["runs"])
        sent = sum(r["sent"] for r in s["runs"])
        table.add_row(
            name,
            f"{s['recipients']:,}",
            str(len(s["runs"])),
            _rate(s["rate"]),
            _rate(s["dispatcher_rate"]),
            f"{s['peak_rss_mb']['median']:,.0f}",
            _cpu(s["cpu_per_1000"]),
            f"{got:,} / {sent:,}",
        )
    for size, src in fig["references"]["smtp_source"].items():
        got = sum(r["received"] for r in src["runs"])
        sent = sum(r["messages"] for r in src["runs"])
        table.add_row(
            f"reference: smtp-source {size} B",
            f"{src['runs'][0]['messages']:,}",
            str(len(src["runs"])),
            _rate(src),
            "—",
            "—",
            _cpu(src["cpu_per_1000"]),
            f"{got:,} / {sent:,}",
        )
    return table


def _cpu(cpu: dict[str, Any]) -> str:
    """Median CPU seconds per 1,000 messages: the sender, its helpers (if any), the sink."""
    parts = [f"{cpu['sender']['median']:.2f}"]
    if "helpers" in cpu:
        parts.append(f"{cpu['helpers']['median']:.2f}")
    parts.append(f"{cpu['sink']['median']:.2f}")
    return " + ".join(parts)


def render(console: Console, fig: dict[str, Any]) -> None:
    meta = fig["meta"]
    m = meta["machine"]
    console.print(
        f"machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_mb']:,} MB; "
        f"{m['platform']}; Python {m['python']}, SQLite {m['sqlite']}"
    )
    src = meta["source"]
    dirty = len(src.get("uncommitted", []))
    console.print(
        f"code: commit {src.get('commit', '?')[:12]}, {dirty} uncommitted files in "
        f"src, src sha256 {src.get('src_sha256', '?')[:12]}"
    )
    console.print(f"durability: {meta['durability']}")
    console.print(f"message sizes on the wire (median, probe): {fig['probe']['median_wire_bytes']}")
    if fig["references"]["rsa2048"]["tool"]:
        console.print(f"RSA reference: {fig['references']['rsa2048']['tool']}")
    console.print(verdict_table(fig["verdicts"]))
    console.print(runs_table(fig))
    for label, prof in fig.get("profiles", {}).items():
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in prof.get("process_share", {}).items())
        console.print(
            f"profile {label} ({prof['tool']}): {prof['messages']:,} messages in "
            f"{prof['wall_s']:.1f} s, {prof['file']}; {shares}; top by own time:"
        )
        for h in prof["own"][:12]:
            console.print(f"  {100 * h['share']:5.1f}%  {h['function']}")
