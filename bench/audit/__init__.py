"""``python -m bench.audit``: the audit benchmark (issue 6).

Figures, each against a reference measured in the same run: the campaign evidence pack of a
1,000,000-recipient campaign (seconds, as a ratio to a plain SQL count over the same decision
rows), and the subject evidence pack on a large PostgreSQL ledger (seconds per pack, against the
plain SQL read of that subject's leaves). Modules: ``build`` (synthetic ledgers written with
``Store.append`` batches), ``measure`` (the runs), ``__main__`` (flags, report, JSON).
"""
