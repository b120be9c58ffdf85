"""``ledger``: verify, checkpoint, prove, export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from consentry.cli.render import console, emit_json, opened
from consentry.domain.errors import InputError, VerificationFailed
from consentry.services import audit_projections, audit_witness, ledger
from consentry.settings import Settings
from consentry.witness.read import read_witnessed


@click.group("ledger")
def ledger_group() -> None:
    """The tamper-evident consent ledger."""


@ledger_group.command("verify")
@click.option("--projections", is_flag=True, help="Also rebuild the projections and compare.")
@click.option(
    "--workers", type=click.IntRange(min=1), help="Processes that read and hash leaves "
    "[default: 2 on a ledger of 200,000 leaves or more, else 1].",
)  # fmt: skip
@click.option(
    "--witness", "witness_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
    help="A witness file or directory of exported checkpoints: the ledger must be consistent "
    "with every one (a database restored to an earlier state is not).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify_cmd(
    settings: Settings, projections: bool, workers: int | None, witness_paths: tuple[Path, ...],
    as_json: bool,
) -> None:  # fmt: skip
    """Recompute every hash, the tree and every signed checkpoint. Exit 40 and the first bad
    index when anything was changed, removed, reordered or inserted."""
    with opened(settings) as app:
        if workers is None:
            workers = 2 if app.context.store.size() >= 200_000 else 1
        report = ledger.verify_ledger(app.context, workers)
        if projections and report.ok:
            report.problems.extend(audit_projections.compare_projections(app.context))
        if witness_paths:
            notes = [n for p in witness_paths for n in read_witnessed(p).notes]
            report.problems.extend(audit_witness.check_witnessed(app.context, notes).problems)
    if as_json:
        emit_json(report.to_json())
    elif report.ok:
        console.print(
            f"[green]ledger verifies[/]: {report.size} leaves, root {report.root.hex()}, "
            f"{report.checkpoints_checked} signed checkpoints checked"
        )
    else:
        for problem in report.problems:
            console.print(f"[red]FAIL[/] {problem}")
    if not report.ok:
        where = report.first_bad_index
        raise VerificationFailed(f"the ledger does not verify (first bad index: {where})", where)


@ledger_group.command("checkpoint")
@click.pass_obj
def checkpoint_cmd(settings: Settings) -> None:
    """Sign a checkpoint of the current tree and print it (C2SP signed note)."""
    with opened(settings) as app:
        note = ledger.issue_checkpoint(app.context)
    click.echo(note, nl=False)


@ledger_group.command("prove")
@click.argument("index", type=int)
@click.option("--size", type=int, help="Tree size to prove against (default: current).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def prove_cmd(settings: Settings, index: int, size: int | None, as_json: bool) -> None:
    """Inclusion proof of leaf INDEX (RFC 9162 §2.1.3)."""
    with opened(settings) as app:
        proof = ledger.prove_inclusion(app.context, index, size)
    if as_json:
        emit_json(proof)
    else:
        console.print(f"leaf {index} in tree of {proof['tree_size']}, root {proof['root_hash']}")
        for h in proof["proof"]:
            console.print(f"  {h}")


@ledger_group.command("consistency")
@click.argument("old_size", type=int)
@click.option("--new-size", type=int, help="Default: current size.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consistency_cmd(settings: Settings, old_size: int, new_size: int | None, as_json: bool) -> None:
    """Consistency proof from OLD_SIZE to the current tree (RFC 9162 §2.1.4)."""
    with opened(settings) as app:
        proof = ledger.prove_consistency(app.context, old_size, new_size)
    if as_json:
        emit_json(proof)
    else:
        console.print(f"{proof['old_size']} → {proof['new_size']}: {proof['new_root']}")
        for h in proof["proof"]:
            console.print(f"  {h}")


@ledger_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_obj
def export_cmd(settings: Settings, file: str) -> None:
    """Write the ledger as JSON Lines: each line exactly the bytes hashed as that leaf."""
    count = 0
    with opened(settings) as app:
        try:
            out = sys.stdout.buffer if file == "-" else open(file, "wb")  # noqa: SIM115
            try:
                for line in ledger.export_lines(app.context):
                    out.write(line)
                    count += 1
            finally:
                if out is not sys.stdout.buffer:
                    out.close()
        except OSError as exc:
            raise InputError(f"{file}: cannot write the export: {exc.strerror}") from exc
    if file != "-":
        console.print(f"exported {count} leaves to {file}")


def register(cli: click.Group) -> None:
    cli.add_command(ledger_group)
