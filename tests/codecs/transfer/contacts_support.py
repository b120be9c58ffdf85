"""What the contact-export codec tests share (Brevo, Campaign Monitor, listmonk, Mautic,
Constant Contact, HubSpot): reading golden files and bytes, the sniff checks against every
provider's golden files, and the Hypothesis strategies and round trip of a writer through a
reader."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import strategies as st

from consentry.codecs.transfer.base import Reader, Writer
from consentry.codecs.transfer.source import Source
from consentry.domain.transfer import (
    SUPPRESSING,
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)
from tests.codecs.transfer.suppression_support import FIXTURES, golden, read  # noqa: F401
from tests.codecs.transfer.suppression_support import _Named as Sniffer
from tests.codecs.transfer.suppression_support import read_bytes as _read_bytes


def read_bytes(reader: Reader, data: bytes, name: str = "file.csv") -> list[Item]:
    return _read_bytes(reader, data, name)


def sniff_bytes(reader: Sniffer, data: bytes, name: str = "file.csv") -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        source = Source(path)
        try:
            return reader.sniff(source)
        finally:
            source.close()


def records(items: Iterable[Item]) -> list[TransferRecord]:
    return [i for i in items if isinstance(i, TransferRecord)]


def rejected(items: Iterable[Item]) -> list[tuple[int, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, RejectedRow)]


def triples(items: Iterable[Item]) -> list[tuple[str, State, Scope]]:
    return [(r.email, r.state, r.scope) for r in records(items)]


def golden_files() -> list[Path]:
    """Every provider's golden files present (documentation files left out)."""
    return sorted(
        p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix.lower() not in (".md", ".txt")
    )


def sniff_path(reader: Sniffer, path: Path) -> int:
    source = Source(path)
    try:
        return reader.sniff(source)
    finally:
        source.close()


def check_sniffing(readers: Sequence[Sniffer], provider: str) -> None:
    """Each golden file of ``provider`` has exactly one sure reader among ``readers``; every
    other provider's golden file has none."""
    for path in golden_files():
        sure = {r.name for r in readers if sniff_path(r, path) >= 60}
        if path.parent.name == provider:
            assert len(sure) == 1, (path.name, sure)
        else:
            assert not sure, (path, sure)


def write(writer: Writer, exported: Iterable[ExportRecord]) -> tuple[bytes, ExportReport]:
    out = io.BytesIO()
    report = writer.write(exported, out)
    return out.getvalue(), report


# --- Hypothesis ---------------------------------------------------------------------------------

_LOCAL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_üéß"
_LABEL = "abcdefghijklmnopqrstuvwxyz0123456789ü"

addresses = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
    st.text(_LOCAL, min_size=1, max_size=20).filter(lambda s: s.strip(".") == s),
    st.lists(st.text(_LABEL, min_size=1, max_size=12), min_size=1, max_size=2),
    st.sampled_from(["example", "org", "com", "co.uk"]),
)
_REASONS = {
    State.UNSUBSCRIBED: "unsubscribe",
    State.COMPLAINED: "complaint",
    State.HARD_BOUNCED: "hard-bounce",
    State.MANUALLY_SUPPRESSED: "manual",
    State.CONSENTED: "consent",
    State.PENDING: "consent",
    State.UNKNOWN: "consent",
}
export_records = st.builds(
    lambda email, state, scope, at: ExportRecord(email, state, scope, at, _REASONS[state]),
    addresses,
    st.sampled_from(list(State)),
    st.one_of(st.none(), st.text("abcdefghij -_", min_size=1, max_size=12)),
    st.one_of(st.none(), st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC))),
)


def suppressions(exported: Iterable[ExportRecord]) -> list[ExportRecord]:
    return [r for r in exported if r.state in SUPPRESSING]
