"""The measured runs.

* campaign pack: ``services.audit_campaign.campaign_pack`` on the built campaign (the whole
  product path: stream the ledger to the latest checkpoint, recompute its root, replay every
  decision), against a plain SQL count of the same decision rows: ``count(*)`` of the
  ``send-decided`` rows whose leaf names the campaign, read through the (kind, seq) index.
* subject pack: ``services.audit_subject.subject_pack`` for sampled recipients (history, notice
  texts, evidence, an inclusion proof per leaf against the latest checkpoint), against the plain
  SQL read of the subject's leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.audit.build import CAMPAIGN
from bench.common import Sample, timed
from consentry.services.audit_campaign import campaign_pack
from consentry.services.audit_subject import subject_pack
from consentry.services.context import Context

Log = Callable[[str], None]
MARKER = f'"campaign":"{CAMPAIGN}"'.encode()


def sql_count(backend: str, conn: Any) -> int:
    """The decision rows of the campaign, counted by the database alone."""
    if backend == "SQLite":
        sql = "SELECT count(*) FROM ledger_leaves WHERE kind = ? AND instr(leaf, ?) > 0"
        row = conn.fetch_all(sql, ("send-decided", MARKER))[0]
    else:
        sql = "SELECT count(*) FROM ledger_leaves WHERE kind = %s AND position(%s in leaf) > 0"
        row = conn.fetch_all(sql, ("send-decided", MARKER))[0]
    return int(row[0])


def campaign(ctx: Context, backend: str, conn: Any, runs: int, log: Log) -> dict[str, Any]:
    pack_s, count_s = Sample("s"), Sample("s")
    figures: dict[str, Any] = {}
    for run in range(runs):
        started = time.perf_counter()
        pack = campaign_pack(ctx, CAMPAIGN)
        pack_s.values.append(time.perf_counter() - started)
        started = time.perf_counter()
        counted = sql_count(backend, conn)
        count_s.values.append(time.perf_counter() - started)
        figures = {
            "recipients": pack.recipients, "decisions": pack.decisions,
            "handed_off": pack.handed_off, "validly_sent": pack.validly_sent,
            "proportion_validly_sent": pack.proportion_validly_sent,
            "sent_after_objection": pack.sent_after_objection, "uncertain": pack.uncertain,
            "sql_count": counted, "leaves": pack.checkpoint["size"],
        }  # fmt: skip
        if counted != pack.decisions:
            raise AssertionError(f"SQL counts {counted} decisions, the pack {pack.decisions}")
        log(f"  run {run + 1}: pack {pack_s.values[-1]:.2f} s, "
            f"SQL count {count_s.values[-1]:.3f} s")  # fmt: skip
    return {
        "pack_seconds": pack_s.to_json(),
        "sql_count_seconds": count_s.to_json(),
        "ratio": pack_s.median / count_s.median,
        "per_recipient_us": pack_s.median / max(1, figures["recipients"]) * 1e6,
        **figures,
    }


def subjects(ctx: Context, conn: Any, emails: list[str], log: Log) -> dict[str, Any]:
    from consentry.services.consent import subject_for

    pack_s, read_s = Sample("s"), Sample("s")
    sql = (
        "SELECT seq, leaf, leaf_hash FROM ledger_leaves WHERE subject_id = "
        "(SELECT id FROM subjects WHERE subject = %s) ORDER BY seq"
    )
    events = 0
    for email in emails:
        started = time.perf_counter()
        pack = subject_pack(ctx, email)
        pack_s.values.append(time.perf_counter() - started)
        events = max(events, len(pack["events"]))
        subject = subject_for(ctx, email)[1]
        read_s.values.append(timed(lambda s=subject: conn.fetch_all(sql, (s,))))
    log(f"  subject packs: median {pack_s.median:.3f} s, max {pack_s.high:.3f} s")
    return {
        "packs": len(emails),
        "pack_seconds": pack_s.to_json(),
        "sql_read_seconds": read_s.to_json(),
        "ratio": pack_s.median / read_s.median,
        "events_per_pack": events,
    }
