"""Charts for the evidence reports, as inline SVG text: no script, no external resource, readable
printed in black and white (every bar carries its number) and by a screen reader (each chart has
a title and a description listing its values).

Two shapes: :func:`bar_chart` (labelled horizontal bars) and :func:`timeline` (sends and
objections per time bucket, two aligned strips sharing one time axis).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Final

BLUE: Final = "#1f5fa8"
RED: Final = "#b3261e"
INK: Final = "#1b1b1b"
GRID: Final = "#c9ced6"
#: Bucket widths in seconds, smallest first: the timeline picks the first giving <= 48 buckets.
STEPS: Final = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS: Final = 48
MIN_BUCKETS: Final = 12


def _num(n: float) -> str:
    return f"{n:,.0f}"


def bar_chart(title: str, items: Sequence[tuple[str, int]], colour: str = BLUE) -> str:
    """Horizontal bars, one per (label, count), largest first as given."""
    if not items:
        return f'<p class="empty">{escape(title)}: none.</p>'
    label_w, bar_w, row_h = 230, 380, 26
    height = row_h * len(items) + 8
    top = max(count for _, count in items) or 1
    desc = "; ".join(f"{label}: {_num(count)}" for label, count in items)
    key = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    parts = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {label_w + bar_w + 90} {height}" '
        f'width="100%" aria-labelledby="t-{key} d-{key}">',
        f'<title id="t-{key}">{escape(title)}</title>',
        f'<desc id="d-{key}">{escape(desc)}</desc>',
    ]
    for i, (label, count) in enumerate(items):
        y = 4 + i * row_h
        width = max(1.0, bar_w * count / top) if count else 0.0
        shown = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" fill="{INK}" '
            f'font-size="14">{escape(shown)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 17}" fill="{INK}" '
            f'font-size="14">{_num(count)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _step(span: int) -> int:
    for step in STEPS:
        if span / step <= MAX_BUCKETS:
            return step
    return STEPS[-1]


def _width(step: int) -> str:
    for size, unit in ((604800, "week"), (86400, "day"), (3600, "h"), (60, "min")):
        if step >= size and step % size == 0:
            return f"{step // size} {unit}" if unit not in ("week", "day") or step > size else unit
    return f"{step} s"


def _label(epoch: int, step: int) -> str:
    at = datetime.fromtimestamp(epoch, UTC)
    if step >= 86400:
        return at.strftime("%d %b")
    if step >= 60:
        return at.strftime("%H:%M")
    return at.strftime("%H:%M:%S")


def timeline(title: str, sends: Counter[int], objections: Iterable[int]) -> str:
    """Handoffs (top strip) and objections (bottom strip) per bucket of UTC time."""
    objected = Counter(objections)
    times = list(sends) + list(objected)
    if not times:
        return f'<p class="empty">{escape(title)}: nothing was handed off.</p>'
    first, last = min(times), max(times)
    step = _step(last - first + 1)
    start = first - first % step
    count = max((last - start) // step + 1, MIN_BUCKETS)  # a short run still looks like time
    send_b, obj_b = [0] * count, [0] * count
    for t, n in sends.items():
        send_b[(t - start) // step] += n
    for t, n in objected.items():
        obj_b[(t - start) // step] += n
    left, width, strip, gap = 70, 720, 130, 34
    bw = width / count
    height = 2 * strip + gap + 44
    desc = (
        f"{_num(sum(send_b))} handoffs and {_num(sum(obj_b))} objections from "
        f"{_label(start, 60)} UTC, in buckets of {_width(step)}"
    )
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {left + width + 20} {height}" '
        f'width="100%" aria-labelledby="tl-t tl-d">',
        f'<title id="tl-t">{escape(title)}</title><desc id="tl-d">{escape(desc)}</desc>',
    ]
    for row, (values, colour, name) in enumerate(
        ((send_b, BLUE, "handed off"), (obj_b, RED, "objections"))
    ):
        base = 10 + row * (strip + gap) + strip
        top = max(values) or 1
        parts.append(
            f'<line x1="{left}" y1="{base}" x2="{left + width}" y2="{base}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{base - strip + 14}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{_num(top)}</text>'
            f'<text x="{left - 6}" y="{base}" text-anchor="end" font-size="13" '
            f'fill="{INK}">0</text>'
            f'<text x="{left + 4}" y="{base - strip + 14}" font-size="14" fill="{INK}" '
            f'font-weight="bold">{name} per {_width(step)}</text>'
        )
        for i, v in enumerate(values):
            if v:
                h = max(1.0, (strip - 20) * v / top)
                parts.append(
                    f'<rect x="{left + i * bw + 0.5:.1f}" y="{base - h:.1f}" '
                    f'width="{max(bw - 1, 0.8):.1f}" height="{h:.1f}" fill="{colour}">'
                    f"<title>{_label(start + i * step, step)}: {_num(v)} {name}</title></rect>"
                )
    axis = height - 10
    for i in range(0, count, max(1, count // 6)):
        parts.append(
            f'<text x="{left + i * bw:.1f}" y="{axis}" font-size="13" fill="{INK}">'
            f"{_label(start + i * step, step)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
