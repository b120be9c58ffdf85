"""The evidence reports as self-contained HTML a regulator can read: one file, inline CSS and
SVG, no script, no external resource, printable. Every value from the ledger or a side table is
escaped. :func:`campaign_html` renders a :class:`~consentry.services.audit_campaign.CampaignPack`,
:func:`subject_html` a subject pack (``services.audit_subject``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from consentry.domain.leaves import format_time
from consentry.services.audit_campaign import (
    LIST_CAP,
    SENT_AFTER_OBJECTION_DEFINITION,
    VALIDLY_SENT_DEFINITION,
    CampaignPack,
)
from consentry.services.audit_svg import RED, bar_chart, timeline

CSS: Final = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
  background: #fff; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; } h2 { font-size: 1.3rem; margin: 32px 0 8px;
  border-bottom: 2px solid #1f5fa8; padding-bottom: 4px; }
h3 { font-size: 1.05rem; margin: 20px 0 6px; }
.meta { color: #3d4550; margin: 0 0 16px; }
.headline { display: grid; grid-template-columns: minmax(220px, 1fr) 2fr; gap: 24px;
  border: 2px solid #1f5fa8; border-radius: 6px; padding: 18px 22px; background: #f3f7fc; }
.big { font-size: 3rem; font-weight: 700; line-height: 1.1; color: #123e70; }
.big small { display: block; font-size: 1rem; font-weight: 400; color: #1b1b1b; }
.definition { margin: 0; font-size: .95rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin: 18px 0; }
.figure { border: 1px solid #c9ced6; border-radius: 6px; padding: 10px 14px; }
.figure b { display: block; font-size: 1.5rem; } .figure span { color: #3d4550; font-size: .9rem; }
.bad b { color: #b3261e; } .good b { color: #1d6b34; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 14px; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #c9ced6; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace;
  font-size: .85rem; }
.mono { word-break: break-all; }
pre { background: #f4f5f7; border: 1px solid #c9ced6; padding: 10px; overflow-x: auto;
  white-space: pre-wrap; word-break: break-all; }
.scroll { overflow-x: auto; } .note { color: #3d4550; font-size: .9rem; }
.empty { color: #3d4550; font-style: italic; }
.chart { max-width: 100%; height: auto; } .bars { max-width: 760px; }
.ok { color: #1d6b34; font-weight: 600; } .fail { color: #b3261e; font-weight: 600; }
@media (max-width: 760px) { .headline { grid-template-columns: 1fr; } }
@media print { main { max-width: none; } h2 { break-after: avoid; } }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "<td>\u2013</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        return f'<td class="n">{value:,}</td>'
    text = str(value)
    cls = ' class="mono"' if len(text) >= 32 and " " not in text else ""
    return f"<td{cls}>{escape(text)}</td>"


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{escape(caption)}: none.</p>'
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    return (
        f'<div class="scroll"><table><caption>{escape(caption)}</caption><tr>{head}</tr>'
        f"{body}</table></div>"
    )


def _figure(label: str, value: Any, tone: str = "") -> str:
    shown = f"{value:,}" if isinstance(value, int) else escape(str(value))
    return f'<div class="figure {tone}"><b>{shown}</b><span>{escape(label)}</span></div>'


_ROW_COLUMNS: Final = (
    ("decision", "decision_index"), ("message", "message"), ("allowed", "allowed"),
    ("reason", "reason"), ("basis", "basis"), ("justifying leaf", "justifying_index"),
    ("consent source", "consent_source"), ("outcome", "outcome"), ("problem", "problem"),
)  # fmt: skip


_INDEXES: Final = frozenset({"decision_index", "justifying_index", "handoff_index"})


def _shown(row: Mapping[str, Any], key: str) -> Any:
    """Leaf indexes are names, not quantities: no thousands separators."""
    value = row.get(key)
    return str(value) if key in _INDEXES and value is not None else value


def _rows_table(caption: str, rows: Sequence[Mapping[str, Any]], total: int) -> str:
    headers = [h for h, _ in _ROW_COLUMNS]
    out = table(
        f"{caption} ({total:,})", headers, ([_shown(r, k) for _, k in _ROW_COLUMNS] for r in rows)
    )
    if total > len(rows):
        out += f'<p class="note">{len(rows):,} of them are shown; the CSV has all {total:,}.</p>'
    return out


def _percent(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.2f}%".replace(".00%", "%")


def campaign_html(pack: CampaignPack) -> str:
    cp = pack.checkpoint
    shown = _percent(pack.proportion_validly_sent)
    parts = [
        f"<h1>Campaign evidence pack: {escape(pack.campaign)}</h1>",
        f'<p class="meta">List <b>{escape(pack.list_id)}</b>, {escape(pack.template_class)} mail, '
        f"{escape(pack.jurisdiction.upper())} profile. Generated {format_time(pack.generated_at)} "
        f"from the ledger alone, against the signed checkpoint of <b>{cp['size']:,}</b> leaves "
        f'(root <span class="mono">{escape(cp["root"])}</span>), whose root the leaves read '
        "reproduce.</p>",
        '<section class="headline" aria-label="Validly sent">',
        f'<div class="big">{shown}<small>validly sent: {pack.validly_sent:,} of '
        f"{pack.handed_off:,} handed off</small></div>",
        f'<p class="definition"><b>Definition.</b> {escape(VALIDLY_SENT_DEFINITION)}</p>',
        "</section>",
        '<div class="figures">',
        _figure("recipients", pack.recipients),
        _figure("send decisions", pack.decisions),
        _figure("handed off", pack.handed_off),
        _figure("validly sent", pack.validly_sent, "good"),
        _figure("sent after an objection", pack.sent_after_objection,
                "bad" if pack.sent_after_objection else "good"),
        _figure("allows not justified at decision time", pack.invalid_allows,
                "bad" if pack.invalid_allows else "good"),
        _figure("allowed without a justifying record", pack.allowed_without_justifying_record,
                "bad" if pack.allowed_without_justifying_record else "good"),
        _figure("uncertain handoffs", pack.uncertain),
        "</div>",
        f'<p class="note"><b>Sent after an objection.</b> {escape(SENT_AFTER_OBJECTION_DEFINITION)}'
        f" Near an objection: {pack.near_objection:,}.</p>",
        "<h2>Sends and objections over time</h2>",
        timeline(f"Handoffs and objections over time, campaign {pack.campaign}",
                 pack.sends_per_second, pack.objection_times),
        "<h3>Lawful bases of the allowed recipients</h3>",
        bar_chart("Lawful bases of the allowed recipients", pack.by_basis.most_common()),
        "<h3>Why recipients were denied</h3>",
        bar_chart("Deny reasons", pack.by_deny_reason.most_common(), RED),
        "<h2>Counts</h2>",
        table("Recipients by jurisdiction of their consent record",
              ["jurisdiction", "allowed", "denied"],
              [(k, v.get("allowed", 0), v.get("denied", 0))
               for k, v in sorted(pack.by_jurisdiction.items())]),
        table("Handoffs by outcome", ["outcome", "handoffs"], sorted(pack.outcomes.items())),
        table("Handed-off messages not validly sent, by reason", ["reason", "messages"],
              pack.by_problem.most_common()),
        "<h2>Findings</h2>",
        _rows_table("Allows not justified at decision time, and handoffs without an allow",
                    pack.invalid, pack.invalid_allows + pack.handoff_problems),
        _rows_table("Sent after an objection", pack.after_objection, pack.sent_after_objection),
        _rows_table("Near an objection (for review)", pack.near, pack.near_objection),
        _rows_table("Uncertain handoffs (may have been delivered; never resent)",
                    pack.uncertain_rows, pack.uncertain),
        "<h2>Per recipient</h2>",
        _rows_table("Decisions, their justifying leaves and handoffs", pack.sample, pack.decisions),
        "<h2>The signed checkpoint this pack was computed against</h2>",
        f"<pre>{escape(cp['note'])}</pre>",
        '<p class="note">Check it without trusting the operator: <code>consentry ledger export '
        "ledger.jsonl</code>, then <code>consentry audit replay ledger.jsonl --checkpoints "
        "FILE --key VERIFIER-KEY</code> (or your own code, following docs/ledger-format.md). "
        f"Problem lists above are capped at {LIST_CAP:,} rows; the CSV has every row.</p>",
    ]  # fmt: skip
    return _page(f"Campaign evidence pack: {pack.campaign}", "".join(parts))


def _proof_cell(event: Mapping[str, Any]) -> str:
    proof = event.get("proof")
    if not proof:
        return "not covered by the checkpoint"
    state = "verified" if proof.get("verified") else "DOES NOT VERIFY"
    return f"{state}: {len(proof['path'])} hashes"


def _index(value: int | None) -> str | None:
    return None if value is None else str(value)


def subject_html(pack: Mapping[str, Any]) -> str:
    cp = pack["checkpoint"]
    who = pack.get("address") or pack["canonical"]
    parts = [
        f"<h1>Subject evidence pack: {escape(who)}</h1>",
        f'<p class="meta">Subject reference <span class="mono">{escape(pack["subject"])}</span>'
        f" (HMAC of the canonical address). Generated {escape(pack['generated_at'])}; every "
        f"leaf below is proven included in the signed checkpoint of {cp['size']:,} leaves.</p>",
        '<div class="figures">',
        _figure("consents", len(pack["consents"])),
        _figure("messages decided", len(pack["messages"])),
        _figure("messages handed off", sum(1 for m in pack["messages"] if m.get("delivered"))),
        _figure("objections", len(pack["objections"])),
        "</div>",
        "<h2>Consents, with the notice shown and the evidence</h2>",
    ]
    if not pack["consents"]:
        parts.append('<p class="empty">The ledger holds no consent for this address.</p>')
    for c in pack["consents"]:
        f = c["fields"]
        parts += [
            f"<h3>Leaf {c['index']}: {escape(c['kind'])} at {escape(c['at'])}</h3>",
            table("Record", ["list", "basis", "jurisdiction", "method", "source", "valid until",
                             "proof"],
                  [(f.get("list"), f.get("basis"), f.get("jurisdiction"), f.get("method"),
                    f.get("source"), f.get("valid_until"), _proof_cell(c))]),
        ]  # fmt: skip
        if c.get("notice_text") is not None:
            parts.append(
                f'<p><b>Notice shown</b> (SHA-256 <span class="mono">{escape(f["notice"])}'
                "</span>):</p>"
            )
            parts.append(f"<pre>{escape(c['notice_text'])}</pre>")
        if "evidence" in c:
            shown = c["evidence"] if c["evidence"] is not None else "(erased or missing)"
            parts.append(f"<p><b>Evidence</b></p><pre>{escape(shown)}</pre>")
    parts += [
        "<h2>Messages, each with its decision</h2>",
        table("Messages", ["decision leaf", "at", "campaign", "allowed", "reason", "basis",
                           "justifying leaf", "handoff", "proof"],
              [(str(m["index"]), m["at"], m["campaign"], m["allowed"], m["reason"], m["basis"],
                _index(m["justifying_index"]), m.get("outcome"), _proof_cell(m))
               for m in pack["messages"]]),
        "<h2>Objections</h2>",
        table("Objections", ["leaf", "at", "kind", "scope", "reason", "source", "proof"],
              [(str(o["index"]), o["at"], o["kind"], o["scope"], o["reason"], o["source"],
                _proof_cell(o)) for o in pack["objections"]]),
        "<h2>The signed checkpoint</h2>",
        f"<pre>{escape(cp['note'])}</pre>",
        '<p class="note">Each proof is an RFC 9162 inclusion path from the leaf hash to the root '
        "signed above; the JSON pack holds every hash so anyone can check it.</p>",
    ]  # fmt: skip
    return _page(f"Subject evidence pack: {who}", "".join(parts))
