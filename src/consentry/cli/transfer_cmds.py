"""``transfer import | export | reconcile | cutover | formats``: moving between email providers
without losing an unsubscribe (issue 5; docs/transfer.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from consentry.cli.render import console, emit_json, opened
from consentry.codecs.transfer.registry import readers, writers
from consentry.domain.transfer import RejectedRow
from consentry.services.transfer_export import export_file
from consentry.services.transfer_import import import_file
from consentry.services.transfer_reconcile import LEDGER, cutover, reconcile
from consentry.settings import Settings

BIG_FILE = 5 * 1024 * 1024


@click.group("transfer")
def transfer_group() -> None:
    """Import, export and reconcile providers' suppression and consent files."""


@transfer_group.command("formats")
@click.option("--json", "as_json", is_flag=True)
def formats_cmd(as_json: bool) -> None:
    """List the formats consentry reads and writes."""
    rows = [{"format": r.name, "provider": r.provider, "reads": True, "writes": False,
             "description": r.description} for r in readers()]  # fmt: skip
    for w in writers():
        known = next((r for r in rows if r["format"] == w.name), None)
        if known is not None:
            known["writes"] = True
        else:
            rows.append({"format": w.name, "provider": w.provider, "reads": False,
                         "writes": True, "description": w.description})  # fmt: skip
    rows.sort(key=lambda r: (str(r["provider"]), str(r["format"])))
    if as_json:
        emit_json(rows)
        return
    table = Table("format", "provider", "import", "export", "what it is")
    for r in rows:
        table.add_row(str(r["format"]), str(r["provider"]), "yes" if r["reads"] else "",
                      "yes" if r["writes"] else "", str(r["description"]))  # fmt: skip
    console.print(table)


@transfer_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "format_name", help="The file's format (default: from its content).")
@click.option("--list", "list_id", help="The list that list-scoped rows (and consents) go to.")
@click.option("--notice", help="Hash of a published notice: the wording people saw there.")
@click.option("--dry-run", is_flag=True, help="Report what would be imported; write nothing.")
@click.option(
    "--quarantine", type=click.Path(dir_okay=False, path_type=Path),
    help="Where rejected rows go (JSON Lines) [HOME/quarantine/<import>.jsonl].",
)  # fmt: skip
@click.option("--actor", default="cli", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_cmd(
    settings: Settings, file: Path, format_name: str | None, list_id: str | None,
    notice: str | None, dry_run: bool, quarantine: Path | None, actor: str, as_json: bool,
) -> None:  # fmt: skip
    """Import a provider's export: suppressions first, never lifting one."""
    held: list[RejectedRow] = []
    big = file.is_file() and file.stat().st_size > BIG_FILE and not as_json
    with (
        opened(settings, lean=True) as app,
        _bar(f"importing {file.name}", hidden=not big) as advance,
    ):
        report = import_file(
            app.context, file, format_name=format_name, list_id=list_id, notice=notice,
            dry_run=dry_run, actor=actor, on_reject=held.append, on_progress=advance,
        )  # fmt: skip
    where = None
    if held:
        where = quarantine or settings.home / "quarantine" / f"{report.import_id}.jsonl"
        where.parent.mkdir(parents=True, exist_ok=True)
        with where.open("w", encoding="utf-8") as out:
            for row in held:
                out.write(json.dumps({"file": row.file, "line": row.line, "reason": row.reason,
                                      "raw": row.raw}, ensure_ascii=False) + "\n")  # fmt: skip
    summary = {**report.to_json(), "quarantine": str(where) if where else None}
    if as_json:
        emit_json(summary)
        return
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{file.name} ({report.format}): read {report.read} = applied {report.applied} + "
        f"duplicate {report.duplicate} + rejected {report.rejected}; {verb} "
        + ", ".join(f"{n} {s}" for s, n in sorted(report.by_state.items()))
    )
    for what, n in sorted(report.widened.items()):
        console.print(f"  widened: {n} x {what}")
    if report.evidence_less:
        console.print(f"  {report.evidence_less} consents without opt-in evidence: recorded as "
                      "such; the policy will not send marketing to them")  # fmt: skip
    if where:
        console.print(f"  rejected rows with file, line and reason: {where}")
    if report.leaf_index is not None:
        console.print(f"  import-recorded leaf {report.leaf_index}, root {report.root[:16]}…")


@transfer_group.command("export")
@click.option("--format", "format_name", required=True, help="See 'consentry transfer formats'.")
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--list", "list_id", help="Only this list's consents and the suppressions for it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def export_cmd(
    settings: Settings, format_name: str, target: Path, list_id: str | None, as_json: bool
) -> None:
    """Export suppressions (first) and consents in a format the target provider imports."""
    with opened(settings) as app:
        summary = export_file(app.context, format_name, target, list_id)
    if as_json:
        emit_json(summary.to_json())
        return
    console.print(f"wrote {summary.report.written} records to {target} ({summary.format}): "
                  f"{summary.suppressions} suppressions, {summary.consents} consents")  # fmt: skip
    for what, n in sorted(summary.report.widened.items()):
        console.print(f"  widened: {n} x {what}")
    for what, n in sorted(summary.report.dropped.items()):
        console.print(f"  not representable, left out: {n} x {what}")
    for what, n in sorted(summary.not_exported.items()):
        console.print(f"  not exported: {n} x {what}")


@transfer_group.command("reconcile")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new")
@click.option("--old-format")
@click.option("--new-format")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def reconcile_cmd(
    settings: Settings, old: Path, new: str, old_format: str | None, new_format: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Every address suppressed in OLD must be suppressed in NEW (a file, or 'consentry' for
    what consentry enforces). Exits 1 when any is missing."""
    target: Path | str = new if new == LEDGER else Path(new)
    if new == LEDGER:
        with opened(settings) as app:
            result = reconcile(app.context, old, target, old_format, new_format)
    else:
        result = reconcile(None, old, target, old_format, new_format)
    data: dict[str, Any] = result.to_json()
    if as_json:
        emit_json(data)
    else:
        states = ", ".join(f"{n} {s}" for s, n in sorted(result.missing_by_state.items()))
        console.print(
            f"{old.name}: {result.old_suppressed} suppressed; missing in {new}: "
            f"{data['missing_count']}" + (f" ({states})" if states else "")
        )
        for address in result.missing[:20]:
            console.print(f"  missing: {address}", markup=False)
    if data["missing_count"]:
        raise SystemExit(1)


@transfer_group.command("cutover")
@click.argument("old_export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "from_provider", required=True, help="The provider you are leaving.")
@click.option("--to", "to_provider", required=True, help="The provider (CONSENTRY_PROVIDER).")
@click.option("--format", "format_name")
@click.option("--actor", default="cli", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def cutover_cmd(
    settings: Settings, old_export: Path, from_provider: str, to_provider: str,
    format_name: str | None, actor: str, as_json: bool,
) -> None:  # fmt: skip
    """Record the move: refused unless OLD_EXPORT (the old provider's full suppression export)
    was imported and every suppression in it is in force in consentry."""
    with opened(settings) as app:
        done = cutover(app.context, old_export, from_provider.lower(), to_provider.lower(),
                       actor, format_name)  # fmt: skip
    if as_json:
        emit_json(done)
        return
    console.print(f"cutover {done['from']} -> {done['to']} recorded (leaf {done['leaf_index']}): "
                  f"{done['suppressions']} suppressions reconciled, none missing")  # fmt: skip


class _bar:
    """A progress bar over records read (both passes), shown for big files only."""

    def __init__(self, label: str, hidden: bool) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed:,} records"), console=console,
                                 disable=hidden, transient=True)  # fmt: skip
        self.label = label

    def __enter__(self) -> Any:
        self.progress.start()
        task = self.progress.add_task(self.label, total=None)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def register(cli: click.Group) -> None:
    cli.add_command(transfer_group)
