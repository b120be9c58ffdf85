"""``consentry <noun> <verb>``: the command line. Thin: parse, call a service, render.

Exit codes: 0 success; 2 usage; 5 ``check`` denied; the rest are the error classes' codes in
``consentry.domain.errors`` (``docs/exit-codes.md``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from consentry.cli import (
    audit_cmds,
    backup_cmds,
    campaign_cmds,
    consent_cmds,
    dkim_cmds,
    inbound_cmd,
    ledger_cmds,
    serve_cmd,
    setup_cmds,
    signup_cmds,
    sink_cmd,
    token_cmds,
    transfer_cmds,
)
from consentry.cli.render import fail
from consentry.domain.errors import ConsentryError
from consentry.settings import load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home", envvar="CONSENTRY_HOME", help="Key directory [CONSENTRY_HOME; ./.consentry]."
)
@click.option(
    "--database",
    envvar="CONSENTRY_DATABASE_URL",
    help="sqlite:///PATH, postgresql://... or memory: "
    "[CONSENTRY_DATABASE_URL; default a SQLite file in HOME].",
)
@click.version_option(package_name="consentry")
@click.pass_context
def cli(ctx: click.Context, home: str | None, database: str | None) -> None:
    """consentry: marketing email that can prove, message by message, that it was lawful."""
    ctx.obj = load_settings(os.environ, home=home, database=database)


setup_cmds.register(cli)
consent_cmds.register(cli)
ledger_cmds.register(cli)
campaign_cmds.register(cli)
dkim_cmds.register(cli)
sink_cmd.register(cli)
serve_cmd.register(cli)
signup_cmds.register(cli)
inbound_cmd.register(cli)
backup_cmds.register(cli)
audit_cmds.register(cli)
token_cmds.register(cli)
transfer_cmds.register(cli)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="consentry", standalone_mode=False)
    except ConsentryError as exc:
        fail(str(exc), exc.exit_code)
    except click.exceptions.Abort:
        fail("aborted", 1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
