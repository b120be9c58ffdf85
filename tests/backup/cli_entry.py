"""``python -m tests.backup.cli_entry ...``: consentry's command line with the ``backup``
commands, whether or not ``cli/main.py`` registers them yet (subprocess tests run this)."""

from __future__ import annotations

import sys

from consentry.cli import backup_cmds
from consentry.cli.main import cli, main

if "backup" not in cli.commands:
    backup_cmds.register(cli)

if __name__ == "__main__":
    main(sys.argv[1:])
