"""``backup``: create, verify and restore encrypted backups (``docs/backups.md``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from consentry.backup.age_keys import (
    DEFAULT_WORK_FACTOR,
    Opening,
    Sealing,
    new_identity,
    read_identity_file,
    read_passphrase_file,
)
from consentry.backup.create import CreateReport, KeyFacts, create_backup, key_facts
from consentry.backup.read import verify_backup
from consentry.backup.report import VerifyReport
from consentry.backup.restore import RestoreReport, restore_backup
from consentry.backup.schedule import Schedule, parse_every
from consentry.backup.trust import Trust, export_checkpoint, read_exported
from consentry.bootstrap import open_store
from consentry.cli.render import console, emit_json, err_console
from consentry.domain.errors import ConsentryError, InputError, SetupError, VerificationFailed
from consentry.keys.notes import verify_checkpoint_note
from consentry.keys.ring import RING, FileKeyRing
from consentry.ports import KeyRing
from consentry.settings import Settings

# --- wiring shared with the demo ----------------------------------------------------------------


def local_ring(home: Path) -> FileKeyRing | None:
    """The key ring in ``home``, or None when there is none (a broken one raises)."""
    if not (home / "keys" / RING).exists():
        return None
    return FileKeyRing(home)


def ring_facts(home: Path) -> KeyFacts:
    ring = local_ring(home)
    if ring is None:
        raise SetupError(f"no key ring in {home}: run 'consentry init' (or set CONSENTRY_HOME)")
    return key_facts(ring.checkpoint_origin(), ring.verifier_key(), ring.subject_key())


def verify_note(note: str, keys: Sequence[str], origin: str) -> tuple[int, bytes]:
    checkpoint = verify_checkpoint_note(note, list(keys), origin=origin or None)
    return checkpoint.size, checkpoint.root


def make_trust(
    home: Path, checkpoint: Path | None = None, verifier_keys: Sequence[str] = (),
    allow_rollback: bool = False,
) -> tuple[Trust, FileKeyRing | None, KeyFacts | None]:  # fmt: skip
    """What to hold a backup against here: the key ring in ``home`` (if any), the trusted
    verifier keys and the exported checkpoint."""
    ring = local_ring(home)
    facts = None
    if ring is not None:
        facts = key_facts(ring.checkpoint_origin(), ring.verifier_key(), ring.subject_key())
    trust = Trust(
        verify_note,
        local_verifier_key=ring.verifier_key() if ring else None,
        local_subject_key_id=facts.subject_key_id if facts else None,
        extra_verifier_keys=tuple(verifier_keys),
        exported=read_exported(home, checkpoint),
        allow_rollback=allow_rollback,
    )
    return trust, ring, facts


class TrustedKeys:
    """The KeyRing port for ``verify_ledger`` where there is no key ring: checkpoints verify
    with the keys the backup was checked with; nothing can be signed."""

    def __init__(self, trust: Trust) -> None:
        self._trust = trust

    def verify_checkpoint(self, note: str) -> tuple[int, bytes]:
        return self._trust.check_note(note)

    def _none(self, *_args: Any) -> Any:
        raise SetupError("no key ring here: only checkpoint verification is possible")

    subject_key = checkpoint_origin = verifier_key = sign_checkpoint = token_key = _none


def opening(identity: Path | None, passphrase_file: Path | None) -> Opening:
    if (identity is None) == (passphrase_file is None):
        raise InputError("give --identity FILE or --passphrase-file FILE (one of them)")
    if identity is not None:
        return Opening(identities=tuple(read_identity_file(identity)))
    assert passphrase_file is not None
    return Opening(passphrase=read_passphrase_file(passphrase_file))


#: Made by ``consentry init``: the recipients backups go to when no other is given.
RECIPIENTS_FILE = "backup-recipients.txt"
IDENTITY_FILE = "backup-identity.txt"


def default_recipients(home: Path) -> tuple[str, ...]:
    """The recipients in ``HOME/keys/backup-recipients.txt`` (one ``age1...`` per line)."""
    path = home / "keys" / RECIPIENTS_FILE
    if not path.is_file():
        return ()
    lines = path.read_text("utf-8").splitlines()
    return tuple(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))


def sealing(recipients: Sequence[str], passphrase_file: Path | None, work_factor: int) -> Sealing:
    if not recipients and passphrase_file is None:
        raise InputError(
            "give --recipient AGE_PUBLIC_KEY (one or more) or --passphrase-file FILE (or run "
            f"'consentry init', which makes keys/{RECIPIENTS_FILE})"
        )
    if passphrase_file is not None:
        if recipients:
            raise InputError("give --recipient or --passphrase-file, not both")
        return Sealing(passphrase=read_passphrase_file(passphrase_file), work_factor=work_factor)
    return Sealing(recipients=tuple(recipients))


def back_up(settings: Settings, target: Path, seal: Sealing) -> CreateReport:
    """One backup of the configured store, held against the exported checkpoint, which it then
    moves on to the snapshot's newest checkpoint."""
    ring = local_ring(settings.home)
    facts = ring_facts(settings.home)
    exported = read_exported(settings.home, None)
    warnings: list[str] = []
    point = None
    if exported is not None and ring is not None:
        points = []
        for note in exported.notes:
            try:
                points.append(ring.verify_checkpoint(note))
            except ConsentryError as exc:
                warnings.append(f"the exported checkpoint {exported.source} does not verify: {exc}")
        point = max(points) if points else None
    report = create_backup(
        settings.database_url, target, seal, facts, datetime.now(UTC), exported=point
    )
    report.warnings[:0] = warnings
    latest = report.survey.latest
    if latest is not None and not report.warnings:
        try:
            export_checkpoint(settings.home, latest["note"])
        except OSError as exc:
            report.warnings.append(f"could not export the latest checkpoint: {exc}")
    return report


def restore_file(
    file: Path, target: str, opened: Opening, checkpoint: Path | None, home: Path,
    verifier_keys: Sequence[str] = (), allow_rollback: bool = False,
) -> RestoreReport:  # fmt: skip
    """Restore ``file`` into the empty store at ``target``, held against the key ring and the
    exported checkpoint of ``home``."""
    trust, ring, facts = make_trust(home, checkpoint, verifier_keys, allow_rollback)
    keys: KeyRing = ring if ring is not None else TrustedKeys(trust)
    lean = partial(open_store, target, True)  # a bounded page cache, no memory map
    return restore_backup(
        file, opened, target, trust, lean, keys,
        subject_key=ring.subject_key() if ring else None,
        auth_key=facts.auth_key if facts else None,
        reader=lean,
    )  # fmt: skip


def _warn(lines: Sequence[str]) -> None:
    for line in lines:
        err_console.print(f"[yellow]warning:[/] {line}", soft_wrap=True)


def _summary(report: CreateReport) -> str:
    found = report.survey
    return (
        f"backup written: {report.file} ({report.bytes:,} bytes; {found.size:,} leaves, root "
        f"{found.root.hex()[:16]}…, {found.checkpoints:,} checkpoints) in {report.seconds:.1f}s"
    )


# --- commands -----------------------------------------------------------------------------------

_identity = click.option(
    "--identity", type=click.Path(dir_okay=False, path_type=Path),
    help="age identity file (AGE-SECRET-KEY-1...).",
)  # fmt: skip
_passphrase = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help="File whose first line is the passphrase.",
)  # fmt: skip
_checkpoint = click.option(
    "--checkpoint", type=click.Path(dir_okay=False, path_type=Path),
    help="An exported checkpoint to hold the backup against [default: HOME/checkpoints/"
    "latest.note].",
)  # fmt: skip
_verifier = click.option(
    "--verifier-key", multiple=True,
    help="Trust checkpoints signed with this verifier key (e.g. the published key from before "
    "a rotation) [default: the key ring's].",
)  # fmt: skip


@click.group("backup")
def backup_group() -> None:
    """Encrypted backups (age): create, verify, restore."""


@backup_group.command("create")
@click.option(
    "--to", "to", required=True, type=click.Path(path_type=Path),
    help="The backup file to write (with --every: the directory).",
)  # fmt: skip
@click.option("--recipient", multiple=True, help="age X25519 recipient (age1...); repeatable.")
@_passphrase
@click.option("--every", help="Run in the foreground on a schedule: 30s, 15m, 1h, 1d.")
@click.option("--keep", type=click.IntRange(min=1), default=48, show_default=True,
              help="With --every: the scheduled backups to keep.")  # fmt: skip
@click.option("--runs", type=click.IntRange(min=1), hidden=True)
@click.option("--scrypt-work-factor", type=int, default=DEFAULT_WORK_FACTOR, hidden=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def create_cmd(
    settings: Settings, to: Path, recipient: tuple[str, ...], passphrase_file: Path | None,
    every: str | None, keep: int, runs: int | None, scrypt_work_factor: int, as_json: bool,
) -> None:  # fmt: skip
    """Back up the ledger, its checkpoints, the side and operational tables and the settings
    (never a key) into an age-encrypted file: to --recipient, or a passphrase, or else the
    recipients 'consentry init' wrote in HOME/keys/backup-recipients.txt."""
    if not recipient and passphrase_file is None:
        recipient = default_recipients(settings.home)
    seal = sealing(recipient, passphrase_file, scrypt_work_factor)
    if every is None:
        report = back_up(settings, to, seal)
        _warn(report.warnings)
        if as_json:
            emit_json(report.to_json())
        else:
            console.print(_summary(report), soft_wrap=True)
        return

    def make(target: Path) -> str:
        report = back_up(settings, target, seal)
        _warn(report.warnings)
        return _summary(report)

    schedule = Schedule(to, parse_every(every), keep, runs)
    failures = schedule.run(make, lambda line: console.print(line, soft_wrap=True))
    if failures:
        raise SystemExit(1)


@backup_group.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_identity
@_passphrase
@_checkpoint
@_verifier
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def verify_cmd(
    settings: Settings, file: Path, identity: Path | None, passphrase_file: Path | None,
    checkpoint: Path | None, verifier_key: tuple[str, ...], as_json: bool,
) -> None:  # fmt: skip
    """Decrypt FILE and check everything in it without restoring: every section's hash, the
    Merkle root against the signed checkpoints, the exported checkpoint."""
    opened = opening(identity, passphrase_file)
    trust, _ring, facts = make_trust(settings.home, checkpoint, verifier_key)
    report = verify_backup(file, opened, trust, facts.auth_key if facts else None)
    _warn(report.warnings)
    if as_json:
        emit_json(report.to_json())
        return
    _print_verified(report)


def _print_verified(report: VerifyReport) -> None:
    rows = sum(d.rows for name, d in report.sections.items() if name != "ledger")
    console.print(
        f"[green]backup verifies[/]: {report.file}, made {report.manifest['created_at']} from "
        f"{report.manifest['source']['dialect']}; {report.size:,} leaves, root "
        f"{report.root.hex()}, {report.checkpoints:,} signed checkpoints checked, "
        f"{len(report.sections)} sections ({rows:,} other rows) match their SHA-256"
        + ("; authenticated with this key ring" if report.authenticated else ""),
        soft_wrap=True,
    )


@backup_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--database",
    "target",
    required=True,
    help="The empty store to restore into: sqlite:///PATH or postgresql://...",
)
@_identity
@_passphrase
@_checkpoint
@_verifier
@click.option(
    "--allow-rollback",
    is_flag=True,
    help="Restore a backup older than the exported checkpoint all the same.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def restore_cmd(
    settings: Settings, file: Path, target: str, identity: Path | None,
    passphrase_file: Path | None, checkpoint: Path | None, verifier_key: tuple[str, ...],
    allow_rollback: bool, as_json: bool,
) -> None:  # fmt: skip
    """Restore FILE into an empty store (SQLite or PostgreSQL, either way), then verify the
    ledger and read every table back against the backup."""
    opened = opening(identity, passphrase_file)
    result = restore_file(
        file, target, opened, checkpoint, settings.home, verifier_key, allow_rollback
    )
    _warn(result.backup.warnings)
    if as_json:
        emit_json(result.to_json())
    elif not result.problems:
        backup = result.backup
        console.print(
            f"[green]restored[/] {backup.size:,} leaves (root {backup.root.hex()[:16]}…) into "
            f"{result.target}; the ledger verifies ({backup.checkpoints:,} "
            "checkpoints), every table reads back as in the backup, the projections rebuilt "
            f"from the leaves match, {result.addresses_checked:,} addresses match their "
            f"subject refs ({result.seconds:.1f}s)",
            soft_wrap=True,
        )
    for problem in result.problems:
        err_console.print(f"[red]FAIL[/] {problem}", soft_wrap=True)
    if result.problems:
        raise VerificationFailed(
            f"the restored store {result.target} does not match the backup; do not use it"
        )


@backup_group.command("keygen")
@click.option(
    "--to", "to", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new identity (mode 0600; never over an existing file).",
)  # fmt: skip
def keygen_cmd(to: Path) -> None:
    """Make an age X25519 identity for backups and print its recipient (age1...). Keep the
    identity off the server that makes the backups; give it only the recipient."""
    secret, recipient = new_identity()
    try:
        fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{to} exists already; consentry never overwrites a key") from None
    except OSError as exc:
        raise InputError(f"cannot write {to}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# consentry backup identity\n# public key: {recipient}\n{secret}\n")
    err_console.print(f"identity written to {to}; its recipient:")
    click.echo(recipient)


def register(cli: click.Group) -> None:
    cli.add_command(backup_group)
