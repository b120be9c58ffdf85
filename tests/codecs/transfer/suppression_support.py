"""What the suppression-list codec tests share: reading a golden file, the sniff checks against
every provider's golden files, and the Hypothesis round trip of a writer through a reader."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from hypothesis import strategies as st

from consentry.codecs.transfer import registry
from consentry.codecs.transfer.base import Reader, Writer
from consentry.codecs.transfer.source import Source
from consentry.domain.transfer import (
    ExportRecord,
    ExportReport,
    Item,
    RejectedRow,
    Scope,
    State,
    TransferRecord,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "transfer"


class _Named(Protocol):
    name: str

    def sniff(self, source: Source) -> int: ...


def golden(provider: str, name: str) -> Path:
    return FIXTURES / provider / name


def read(reader: Reader, path: Path) -> list[Item]:
    source = Source(path)
    try:
        return list(reader.read(source))
    finally:
        source.close()


def read_bytes(reader: Reader, data: bytes, name: str = "file") -> list[Item]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return read(reader, path)


def records(items: Iterable[Item]) -> list[TransferRecord]:
    return [i for i in items if isinstance(i, TransferRecord)]


def rejected(items: Iterable[Item]) -> list[tuple[int, str]]:
    return [(i.line, i.reason) for i in items if isinstance(i, RejectedRow)]


def golden_files(provider: str | None = None) -> list[Path]:
    """Every golden file of every provider (or of one), documentation files left out."""
    root = FIXTURES if provider is None else FIXTURES / provider
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in (".md", ".txt")
    )


def sniffs(readers: Sequence[_Named], path: Path) -> dict[str, int]:
    source = Source(path)
    try:
        return {r.name: r.sniff(source) for r in readers}
    finally:
        source.close()


def sure_of(path: Path) -> set[str]:
    """The registered formats that are sure (>= 60) of a file."""
    return {name for name, score in sniffs(registry.readers(), path).items() if score >= 60}


def others_golden(provider: str) -> list[Path]:
    return [p for p in golden_files() if p.relative_to(FIXTURES).parts[0] != provider]


# ---------------------------------------------------------------------------- round trips

LISTS = ("news", "offers", "Weekly News")
_local = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True)
_domain = st.sampled_from(
    ["example.org", "Example.COM", "bücher.example", "xn--bcher-kva.example", "mail.example.net"]
)
emails = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
export_records = st.builds(
    ExportRecord,
    email=emails,
    state=st.sampled_from(list(State)),
    scope=st.none() | st.sampled_from(LISTS),
    at=st.none()
    | st.datetimes(
        min_value=datetime(2005, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    reason=st.sampled_from(["unsubscribe", "complaint", "hard-bounce", "manual", "consent"]),
    evidence=st.sampled_from([{}, {"smtp_status": "5.1.1", "diagnostic": "550 5.1.1 unknown"}]),
)

Triple = tuple[str, State, Scope]


def round_trip(
    writer: Writer, reader: Reader, batch: list[ExportRecord], name: str
) -> tuple[set[Triple], ExportReport, list[Item]]:
    """Write ``batch``, read it back: the (email, state, scope) set, the report, every item."""
    out = io.BytesIO()
    report = writer.write(iter(batch), out)
    items = read_bytes(reader, out.getvalue(), name)
    return {(r.email, r.state, r.scope) for r in records(items)}, report, items


def expected(
    batch: Iterable[ExportRecord], widen: Callable[[ExportRecord], Triple | None]
) -> set[Triple]:
    return {t for t in (widen(r) for r in batch) if t is not None}
