"""Encrypted backups of a consentry store: create, verify, restore (``docs/backups.md``).

A backup is a consistent snapshot (one read transaction) of the ledger leaves and checkpoints,
the side tables and the operational tables, written as a JSON Lines container
(``backup.container``) and encrypted in the age format (``backup.age_*``). It never holds a key.
Nothing here opens a file or a connection at import time.
"""
