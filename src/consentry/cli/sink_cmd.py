"""``consentry sink``: a local SMTP sink to send campaigns to while trying consentry out."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from consentry.bootstrap import serve_sink


@click.command("sink")
@click.option("--listen", default="127.0.0.1:2525", show_default=True, help="HOST:PORT")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep each message as a .eml file here.")  # fmt: skip
def sink_cmd(listen: str, maildir: Path | None) -> None:
    """Accept every message on HOST:PORT and keep it (never use it as a real mail server)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not host:
        raise click.BadParameter(f"{listen!r} is not HOST:PORT", param_hint="--listen")
    with contextlib.suppress(KeyboardInterrupt):
        serve_sink(host, int(port), maildir)


def register(cli: click.Group) -> None:
    cli.add_command(sink_cmd)
