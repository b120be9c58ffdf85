"""``subject export EMAIL --json``: everything held about one person (an access request).

Registered on the ``subject`` group of ``cli/consent_cmds.py``
(``subject_group.add_command(subject_export)``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from consentry.cli.render import console, emit_json, opened
from consentry.domain.errors import InputError
from consentry.services.subject_export import export_subject
from consentry.settings import Settings


@click.command("export")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON.")
@click.option(
    "--to", "to", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON to this file (mode 0600, never over an existing file).",
)  # fmt: skip
@click.pass_obj
def subject_export(settings: Settings, email: str, as_json: bool, to: Path | None) -> None:
    """Everything held about EMAIL: addresses, every leaf with its evidence and the notice
    texts shown, the current state, and inclusion proofs against the latest checkpoint."""
    with opened(settings) as app:
        record = export_subject(app.context, email)
    if to is not None:
        text = json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        try:
            fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InputError(f"--to {to} exists already") from None
        except OSError as exc:
            raise InputError(f"--to {to}: {exc.strerror}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    if as_json and to is None:
        emit_json(record)
        return
    state = record["state"] or {}
    console.print(
        f"{record['canonical']}: {len(record['leaves'])} leaves, "
        f"{len(record['addresses'])} address(es), {len(record['notices'])} notice(s), "
        f"{len(state.get('consents', {}))} consent record(s)"
        + ("; erased" if record["erased"] else "")
        + (f"; written to {to}" if to is not None else "; --json prints it all"),
        soft_wrap=True,
    )
