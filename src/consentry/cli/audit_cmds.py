"""``audit``: evidence packs (campaign, subject), offline replay of an export, provider event
reconciliation, and the witnessed-checkpoint check. docs/audit.md tells the story."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from consentry.cli import audit_check_cmds
from consentry.cli.render import console, emit_json, opened
from consentry.domain.errors import InputError, VerificationFailed
from consentry.services.audit_campaign import (
    CSV_HEADER,
    VALIDLY_SENT_DEFINITION,
    campaign_pack,
    row_values,
)
from consentry.services.audit_html import campaign_html, subject_html
from consentry.services.audit_rows import Row
from consentry.services.audit_subject import subject_pack, subject_packs
from consentry.settings import Settings


@click.group("audit")
def audit_group() -> None:
    """Evidence for a regulator, and checks anyone can run."""


def write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from exc


def _open_out(path: Path) -> TextIO:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from exc


def _percent(value: float | None) -> str:
    return "n/a (nothing handed off)" if value is None else f"{value * 100:.2f}%"


@audit_group.command("campaign")
@click.argument("name")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report for a regulator (self-contained HTML) here.",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one row per decision (and per handoff naming none) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the pack as JSON.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 40 when anything was sent unjustified or after an objection.",
)
@click.pass_obj
def campaign_cmd(
    settings: Settings, name: str, html_path: Path | None, csv_path: Path | None,
    as_json: bool, strict: bool,
) -> None:  # fmt: skip
    """The campaign evidence pack, re-derived from the ledger alone."""
    out = _open_out(csv_path) if csv_path else None
    try:
        with opened(settings, lean=True) as app:  # a big scan: no memory map
            pack = campaign_pack(app.context, name, csv_sink(out) if out else None)
    finally:
        if out is not None:
            out.close()
    if html_path is not None:
        write_text(html_path, campaign_html(pack))
    if as_json:
        emit_json(pack.to_json())
    else:
        _print_campaign(pack, html_path, csv_path)
    if strict and (pack.sent_after_objection or pack.invalid_allows or pack.handoff_problems):
        raise VerificationFailed(
            f"campaign {name!r}: {pack.invalid_allows} unjustified allows, "
            f"{pack.sent_after_objection} sent after an objection, "
            f"{pack.handoff_problems} handoffs without an allow"
        )


def csv_sink(out: TextIO) -> Callable[[Row], None]:
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)

    def sink(row: Row) -> None:
        values = row_values(row)
        writer.writerow(["" if values[k] is None else values[k] for k in CSV_HEADER])

    return sink


def _print_campaign(pack: Any, html_path: Path | None, csv_path: Path | None) -> None:
    cp = pack.checkpoint
    console.print(f"[bold]campaign {pack.campaign}[/] against the signed checkpoint of "
                  f"{cp['size']:,} leaves (root {cp['root']})")  # fmt: skip
    console.print(f"  validly sent: [bold]{_percent(pack.proportion_validly_sent)}[/] "
                  f"({pack.validly_sent:,} of {pack.handed_off:,} handed off)")  # fmt: skip
    console.print(f"  definition: {VALIDLY_SENT_DEFINITION}", soft_wrap=True, markup=False)
    for label, value in (
        ("recipients", pack.recipients), ("decisions", pack.decisions),
        ("sent after an objection", pack.sent_after_objection),
        ("near an objection", pack.near_objection), ("uncertain handoffs", pack.uncertain),
        ("allows not justified", pack.invalid_allows),
        ("allowed without a justifying record", pack.allowed_without_justifying_record),
    ):  # fmt: skip
        console.print(f"  {label}: {value:,}")
    for title, counts in (("by basis", pack.by_basis), ("by deny reason", pack.by_deny_reason)):
        shown = ", ".join(f"{k} {v:,}" for k, v in counts.most_common()) or "none"
        console.print(f"  {title}: {shown}", markup=False)
    for path in (html_path, csv_path):
        if path is not None:
            console.print(f"  wrote {path}", markup=False)


def _addresses(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the list of addresses: {exc}") from exc
    return [
        (n, line.strip())
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _file_name(n: int, address: str) -> str:
    return f"{n:05d}-{re.sub(r'[^A-Za-z0-9@._-]+', '_', address)[:80]}.html"


@audit_group.command("subject")
@click.argument("email", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Batch mode: one address per line (blank lines and # comments skipped).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path),
    help="Write the HTML pack here (batch mode: a directory, one file per address).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the pack (batch: all packs) as JSON.")
@click.pass_obj
def subject_cmd(
    settings: Settings, email: str | None, from_file: Path | None, html_path: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """The subject evidence pack: consents with their notices and evidence, messages with their
    decisions, objections, each with an inclusion proof against the latest checkpoint."""
    if (email is None) == (from_file is None):
        raise click.UsageError("give either EMAIL or --from-file FILE")
    if email is not None:
        with opened(settings) as app:
            pack = subject_pack(app.context, email)
        if html_path is not None:
            write_text(html_path, subject_html(pack))
        if as_json:
            emit_json(pack)
        else:
            _print_subject(pack, html_path)
        return
    assert from_file is not None
    packs: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    with opened(settings) as app:
        for n, address, found, problem in subject_packs(app.context, _addresses(from_file)):
            if found is None:
                rejected.append({"line": n, "address": address, "problem": problem})
                continue
            if html_path is not None:
                write_text(html_path / _file_name(n, address), subject_html(found))
            packs.append(found if as_json else _summary(n, found))
    if as_json:
        emit_json({"packs": packs, "rejected": rejected})
    else:
        for item in packs:
            console.print(f"  line {item['line']}: {item['who']}: {item['consents']} consents, "
                          f"{item['messages']} messages, {item['objections']} objections",
                          markup=False)  # fmt: skip
        if html_path is not None:
            console.print(f"wrote {len(packs)} packs to {html_path}", markup=False)
    if rejected:
        lines = "; ".join(f"line {r['line']} ({r['address']}): {r['problem']}" for r in rejected)
        raise InputError(f"{len(rejected)} address(es) could not be read: {lines}")


def _summary(n: int, pack: dict[str, Any]) -> dict[str, Any]:
    return {
        "line": n, "who": pack.get("address") or pack["canonical"],
        "consents": len(pack["consents"]), "messages": len(pack["messages"]),
        "objections": len(pack["objections"]),
    }  # fmt: skip


def _print_subject(pack: dict[str, Any], html_path: Path | None) -> None:
    who = pack.get("address") or pack["canonical"]
    console.print(f"[bold]{who}[/] (subject {pack['subject']}), proofs against the checkpoint "
                  f"of {pack['checkpoint']['size']:,} leaves")  # fmt: skip
    for c in pack["consents"]:
        f = c["fields"]
        console.print(
            f"  consent leaf {c['index']} {c['kind']} {c['at']}: list {f['list']}, "
            f"basis {f.get('basis', '-')}, source {f.get('source', '-')}",
            markup=False,
        )
    for m in pack["messages"]:
        console.print(f"  message leaf {m['index']} {m['at']}: {m['campaign']} "
                      f"{'ALLOW' if m['allowed'] else 'DENY'} {m['reason']} -> {m['outcome']}",
                      markup=False)  # fmt: skip
    for o in pack["objections"]:
        console.print(f"  objection leaf {o['index']} {o['at']}: {o['kind']} {o['reason']} "
                      f"scope {o['scope']}", markup=False)  # fmt: skip
    if html_path is not None:
        console.print(f"  wrote {html_path}", markup=False)


def register(cli: click.Group) -> None:
    audit_check_cmds.register_checks(audit_group)
    cli.add_command(audit_group)
