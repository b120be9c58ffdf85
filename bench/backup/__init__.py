"""``python -m bench.backup``: backup and restore of a large SQLite store (see ``__main__``)."""
