"""What a provider codec is: a reader (sniff + read) and, where the provider can import
something, a writer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from consentry.codecs.transfer.source import Source
from consentry.domain.transfer import ExportRecord, ExportReport, Item


class Reader(Protocol):
    #: The ``--format`` name, e.g. ``mailchimp``, ``sendgrid-unsubscribes``.
    name: str
    #: The provider (``import:<provider>`` is the source of its consents).
    provider: str
    description: str

    def sniff(self, source: Source) -> int:
        """How sure (0-100) that ``source`` is this format, from names and first bytes only."""
        ...

    def read(self, source: Source) -> Iterator[Item]:
        """Every record and rejected row, streamed, in file order."""
        ...


class Writer(Protocol):
    name: str
    provider: str
    description: str
    #: The file name suffix it writes (``.csv``, ``.json``, ``.jsonl``).
    suffix: str

    def write(self, records: Iterable[ExportRecord], out: BinaryIO) -> ExportReport:
        """Write what the provider can import; widen what it cannot represent (most
        restrictive equivalent) and count every widening in the report."""
        ...
