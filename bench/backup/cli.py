"""``python -m bench.backup.cli ...``: consentry's command line with the ``backup`` commands
(registered here too, in case ``cli/main.py`` does not register them yet)."""

from __future__ import annotations

import sys

from consentry.cli import backup_cmds
from consentry.cli.main import cli, main

if "backup" not in cli.commands:
    backup_cmds.register(cli)

if __name__ == "__main__":
    main(sys.argv[1:])
