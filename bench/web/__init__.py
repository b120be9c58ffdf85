"""``python -m bench.web``: the web side's benchmark (issue 4).

It drives the real ``consentry serve`` (uvicorn on a free loopback port) with ``wrk`` and sets
the one-click unsubscribe POST rate and p99 latency against a static endpoint of the same server
(``GET /healthz``) in the same run. Modules: ``prepare`` (seeded home, token paths, ledger
counts), ``server`` (the process), ``wrk`` and ``one_click.lua`` (one measured run), ``report``
(medians, verdicts, checks, tables), ``profile`` and ``sampler`` (where the server's time goes).
"""
