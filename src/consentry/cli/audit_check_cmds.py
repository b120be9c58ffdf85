"""``audit replay | reconcile-events | witness-check | witness-publish``: the checks anyone can run
against the ledger (an export offline, a provider's events, what the witnesses kept), and the
export of checkpoints to the witnesses. Registered on the ``audit`` group by ``audit_cmds``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from consentry.cli.render import console, emit_json, opened
from consentry.domain.errors import InputError, VerificationFailed
from consentry.keys.notes import verify_checkpoint_note
from consentry.services import ledger
from consentry.services.audit_checkpoints import split_notes
from consentry.services.audit_delivered import PROVIDERS
from consentry.services.audit_reconcile import reconcile_events
from consentry.services.audit_replay import replay_export
from consentry.services.audit_witness import check_witnessed
from consentry.settings import Settings
from consentry.witness.config import ENV, load_witnesses
from consentry.witness.read import read_witnessed


def _read_bytes_lines(path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            yield from f
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc


def _note_verifier(keys: list[str]) -> Any:
    def verify(note: str) -> tuple[str, int, bytes]:
        checkpoint = verify_checkpoint_note(note, keys)
        return checkpoint.origin, checkpoint.size, checkpoint.root

    return verify


@click.command("replay")
@click.argument("export", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--checkpoints",
    "checkpoints",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Trusted signed checkpoints (as a witness keeps them).",
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    help="Verifier key (name+id+base64); default: the key lines of the file.",
)
@click.option("--json", "as_json", is_flag=True)
def replay_cmd(export: Path, checkpoints: Path, keys: tuple[str, ...], as_json: bool) -> None:
    """Verify a ledger export offline and replay every send decision (R7). No database is
    opened. Exit 40 when anything is invalid."""
    try:
        found = split_notes(checkpoints.read_text(encoding="utf-8"), str(checkpoints))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{checkpoints}: cannot read the checkpoints: {exc}") from exc
    trusted_keys = list(keys) or found.keys
    if not trusted_keys:
        raise InputError(
            "no verifier key: give --key (printed by 'consentry init') or put it in the file"
        )
    if not found.notes:
        raise InputError(f"{checkpoints}: no signed checkpoint in it")
    report = replay_export(
        lambda: _read_bytes_lines(export), found.notes, _note_verifier(trusted_keys)
    )
    if as_json:
        emit_json(report.to_json())
    else:
        _print_replay(report, keys_from_file=not keys)
    if not report.ok:
        raise VerificationFailed(
            f"{export}: {len(report.problems)} integrity problems, {len(report.invalid)} invalid "
            f"send decisions, {len(report.after_objection)} sends after an objection, "
            f"{len(report.handoff_problems)} handoffs without an allow"
        )


def _print_replay(report: Any, keys_from_file: bool) -> None:
    if keys_from_file:
        console.print("[yellow]verifier key taken from the checkpoint file: trust it only as "
                      "far as you trust that file[/]")  # fmt: skip
    console.print(f"{report.leaves:,} leaves, root {report.root}")
    for cp in report.checkpoints:
        console.print(f"  checkpoint {cp.get('size', '?')}: {cp['status']}", markup=False)
    for problem in report.problems:
        console.print(f"[red]FAIL[/] {problem}")
    console.print(f"{report.decisions:,} send decisions, {report.allowed:,} allowed, "
                  f"{report.handed_off:,} handed off")  # fmt: skip
    console.print(f"invalid send decisions: [bold]{len(report.invalid)}[/]")
    for row in report.invalid:
        console.print(f"  leaf {row['decision_index']} {row['campaign']} {row['message']}: "
                      f"{row['problem']}", markup=False)  # fmt: skip
    console.print(f"sent after an objection: [bold]{len(report.after_objection)}[/]")
    for row in report.after_objection + report.handoff_problems:
        console.print(f"  handoff leaf {row['handoff_index']} {row['message']}: {row['problem']}",
                      markup=False)  # fmt: skip


@click.command("reconcile-events")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--provider", type=click.Choice(PROVIDERS), required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def reconcile_cmd(settings: Settings, file: Path, provider: str, as_json: bool) -> None:
    """Match a provider's event export (one webhook payload per line) against the ledger: every
    delivered message needs an allow decision; every objection needs its leaf. Exit 40 if not."""
    with opened(settings, lean=True) as app:  # a big scan: no memory map
        report = reconcile_events(app.context, provider, _read_bytes_lines(file))
    if as_json:
        emit_json(report.to_json())
    else:
        console.print(f"{provider}: {report.lines:,} lines, {report.delivered:,} delivered, "
                      f"{report.matched_by_message_id:,} matched by Message-ID, "
                      f"{report.matched_by_recipient:,} by recipient")  # fmt: skip
        for item in report.unmatched:
            console.print(
                f"[red]UNMATCHED[/] line {item['line']}: {item['recipient']} "
                f"{item['message_id'] or ''} ({item['reason']})",
                soft_wrap=True,
            )
        for item in report.objections_missing:
            console.print(
                f"[red]MISSING[/] line {item['line']}: {item['kind']} of "
                f"{item['recipient']} has no leaf in the ledger",
                soft_wrap=True,
            )
        for problem in report.problems:
            console.print(f"[yellow]SKIPPED[/] {problem}", soft_wrap=True, markup=False)
    if not report.ok:
        raise VerificationFailed(
            f"{len(report.unmatched)} delivered messages without an allow decision, "
            f"{len(report.objections_missing)} objections missing from the ledger, "
            f"{len(report.problems)} unreadable lines"
        )


@click.command("witness-check")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def witness_check_cmd(settings: Settings, path: Path, as_json: bool) -> None:
    """Verify the ledger and check it against the checkpoints a file or directory witness kept:
    a database restored to an earlier state is a consistency failure (exit 40)."""
    witnessed = read_witnessed(path)
    with opened(settings) as app:
        verified = ledger.verify_ledger(app.context)
        check = check_witnessed(app.context, witnessed.notes)
    problems = verified.problems + check.problems
    if as_json:
        emit_json({**check.to_json(), "ok": not problems, "problems": problems,
                   "ledger": verified.to_json()})  # fmt: skip
    else:
        console.print(f"{len(witnessed.notes):,} witnessed checkpoints, ledger of "
                      f"{check.ledger_size:,} leaves")  # fmt: skip
        for problem in problems:
            console.print(f"[red]FAIL[/] {problem}", soft_wrap=True)
        if not problems:
            console.print("[green]consistent with every witnessed checkpoint[/]")
    if problems:
        raise VerificationFailed(f"consistency failure against the witnesses in {path}")


@click.command("witness-publish")
@click.pass_obj
def witness_publish_cmd(settings: Settings) -> None:
    """Publish the latest signed checkpoint to every witness in CONSENTRY_WITNESSES now."""
    witnesses = load_witnesses(os.environ)
    if not witnesses:
        raise InputError(f"{ENV} names no witness (file:PATH, dir:PATH or https://...)")
    with opened(settings) as app:
        note = ledger.issue_checkpoint(app.context)
    for witness in witnesses:
        witness.publish([note])
        console.print(f"published to {witness.name}", markup=False)


def register_checks(group: click.Group) -> None:
    for command in (replay_cmd, reconcile_cmd, witness_check_cmd, witness_publish_cmd):
        group.add_command(command)
