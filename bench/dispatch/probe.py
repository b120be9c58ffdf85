"""The probe: a few real messages to a dumping sink, to size the templates and check the path.

A small store (20 recipients) sends three campaigns through the CLI to a second ``smtp-sink``
that writes every message to a file: a 2 KB one with the first-guess template, from whose real
size consentry's overhead (headers, footer, quoted-printable around the merge fields) is
measured; a 20 KB one with the corrected template; then, after ``dkim keygen``, a signed 2 KB
one. The sizes reported are the messages as they crossed the wire (CRLF line ends, without what
the sink prepends: its ``X-*`` envelope lines and its ``Received`` header).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dispatch import seed, workload
from bench.dispatch.send import CLI, send
from bench.dispatch.sink import Sink

RECIPIENTS = 20
_SINK_HEADERS = (
    b"X-Client-Addr:",
    b"X-Client-Proto:",
    b"X-Helo-Args:",
    b"X-Mail-Args:",
    b"X-Rcpt-Args:",
    b"Received:",
)


def wire_size(dump: bytes) -> tuple[int, bool]:
    """(bytes on the wire, DKIM-signed?) of one smtp-sink dump file."""
    lines = dump.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith(_SINK_HEADERS):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1  # the sink's Received header folds over several lines
    message = lines[i:]
    if message and message[-1] == b"":
        message = message[:-1]
    signed = any(line.startswith(b"DKIM-Signature:") for line in message)
    return sum(len(line) + 2 for line in message), signed


@dataclass(frozen=True)
class Probe:
    overhead: int  # bytes consentry adds around the template's filler
    sizes: dict[str, float]  # label -> median wire size
    signed: dict[str, bool]

    def to_json(self) -> dict[str, Any]:
        return {
            "overhead": self.overhead,
            "median_wire_bytes": self.sizes,
            "dkim_signed": self.signed,
        }


def _measure(seeded: seed.Seeded, name: str, text: str, work: Path) -> tuple[float, bool]:
    dumps = work / f"dump-{name}"
    seed.create_campaign(seeded, name, text)
    with Sink(work, dumps) as sink:
        run = send(seeded, name, sink, work / f"logs-{name}")
    files = sorted(dumps.iterdir())
    if run.sent != RECIPIENTS or len(files) != RECIPIENTS:
        raise RuntimeError(f"probe {name}: sent {run.sent}, sink got {len(files)} messages")
    measured = [wire_size(f.read_bytes()) for f in files]
    return statistics.median(m[0] for m in measured), all(m[1] for m in measured)


def probe(work: Path, small: int, big: int) -> Probe:
    """Measure consentry's overhead and the real sizes of ``small`` and ``big`` messages."""
    home = work / "home"
    seeded = seed.seed(home, seed.sqlite_url(home), RECIPIENTS, lambda _: None)
    guess = workload.DEFAULT_OVERHEAD
    first, _ = _measure(seeded, "probe-small", workload.template(small, guess), work)
    overhead = round(guess + first - small)
    sizes, signed = {}, {}
    for label, size in ((f"{small}", small), (f"{big}", big)):
        name = f"probe-{size}"
        sizes[label], signed[label] = _measure(
            seeded, name, workload.template(size, overhead), work
        )
    seed.dkim_keygen(CLI, seeded)
    label = f"{small} signed"
    sizes[label], signed[label] = _measure(
        seeded, "probe-signed", workload.template(small, overhead), work
    )
    return Probe(overhead, sizes, signed)
