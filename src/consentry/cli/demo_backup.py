"""The demo's last step: a backup, its verification and a restore into a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

from consentry.backup.age_keys import Opening, Sealing, new_identity
from consentry.backup.read import verify_backup
from consentry.cli.backup_cmds import back_up, make_trust, restore_file
from consentry.settings import Settings


def demo_backup(settings: Settings, directory: Path) -> list[str]:
    """Back up the demo's store to a fresh age identity, verify the file, restore it into a new
    SQLite store and check it there; returns the lines to print."""
    secret, recipient = new_identity()
    identity = directory / "backup-identity.txt"
    fd = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# consentry demo backup identity; recipient: {recipient}\n{secret}\n")
    backups = directory / "backups"
    backups.mkdir(exist_ok=True)
    target = backups / "demo.age"
    target.unlink(missing_ok=True)
    made = back_up(settings, target, Sealing(recipients=(recipient,)))
    opening = Opening(identities=(secret,))
    trust, _ring, facts = make_trust(settings.home)
    verified = verify_backup(target, opening, trust, facts.auth_key if facts else None)
    restored_path = directory / "restored.sqlite"
    for suffix in ("", "-wal", "-shm", ".migrate-lock"):
        Path(f"{restored_path}{suffix}").unlink(missing_ok=True)
    restored = restore_file(target, f"sqlite:///{restored_path}", opening, None, settings.home)
    found = made.survey
    lines = [
        f"backup: {target} ({made.bytes:,} bytes, age-encrypted to {recipient[:20]}…; "
        f"{found.size} leaves, root {found.root.hex()[:16]}…; no key inside)",
        f"verified: {len(verified.sections)} sections match their SHA-256, "
        f"{verified.checkpoints} signed checkpoints match the leaves"
        + (", authenticated with the key ring" if verified.authenticated else ""),
    ]
    if restored.problems:
        lines += [f"restore FAILED: {p}" for p in restored.problems]
    else:
        lines.append(
            f"restored into {restored.target}: the ledger verifies, every table reads back as "
            f"in the backup, {restored.addresses_checked} addresses match their subject refs"
        )
    lines.append(f"the identity that opens it is {identity}: keep such a key off the server")
    return lines
