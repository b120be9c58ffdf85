"""``python -m bench.dispatch``: the campaign dispatch benchmark (issue 3).

It drives the product as a user does (``consentry campaign send`` in a subprocess, against
Postfix's ``smtp-sink`` on loopback) and sets each figure against a reference measured in the
same run: ``smtp-source`` into the same sink, raw RSA-2048 signing, and the naive
smtplib + dkimpy loop. Modules: ``sink`` (the server), ``seed`` (stores through the services),
``workload`` (addresses, templates), ``probe`` (message sizes), ``send`` (one measured CLI
send), ``references``, ``naive``, ``measure`` (the runs), ``report`` (verdicts and tables).
"""
