"""consentry's benchmarks: they print figures and never assert timings (DESIGN.md, Tests).

``python -m bench.ledger`` measures the ledger's append, verify and bulk-decision paths against
plain SQL and plain hashing, on SQLite and PostgreSQL.
"""
