"""Witnesses (R6): places outside the operator's database that keep every signed checkpoint.

``file`` (an append-only file), ``directory`` (one file per checkpoint) and ``http`` (a POST to
an endpoint) implement the :class:`~consentry.services.witness_port.Witness` port;
``publisher.WitnessPublisher`` feeds them from a background thread; ``config`` reads
``CONSENTRY_WITNESSES``; ``read`` loads what a file or directory witness kept, for checking.
"""
