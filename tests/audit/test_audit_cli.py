"""``consentry audit ...`` end to end on a SQLite consentry: the fixed interface of the campaign
and subject packs, batch mode, reconciliation and publishing to the witnesses."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentry.cli.demo_audit import demo_audit
from consentry.services.context import Context
from consentry.settings import Settings
from consentry.store.sqlite import SQLiteStore
from consentry.witness.read import read_witnessed
from tests.audit.support import CAMPAIGN, Population, build, organised_ctx
from tests.cli.conftest import Runner
from tests.conftest import FixedClock


@pytest.fixture
def seeded(home: Path, tmp_path: Path, clock: FixedClock) -> Iterator[Population]:
    """The seed case in the database the CLI opens (CONSENTRY_HOME's SQLite file)."""
    home.mkdir(parents=True, exist_ok=True)
    ctx: Context = organised_ctx(SQLiteStore(home / "consentry.sqlite"), tmp_path, clock)
    try:
        yield build(ctx, clock, small=True)
    finally:
        ctx.store.close()


def test_campaign_json_has_the_fixed_keys_and_the_checkpoint(
    seeded: Population, run: Runner, tmp_path: Path
) -> None:
    html, table = tmp_path / "out" / "report.html", tmp_path / "out" / "rows.csv"
    result = run("audit", "campaign", CAMPAIGN, "--json", "--html", str(html), "--csv", str(table))
    assert result.code == 0, result.err
    pack = result.json()
    for key in ("recipients", "handed_off", "validly_sent", "proportion_validly_sent",
                "sent_after_objection"):  # fmt: skip
        assert key in pack
    assert pack["proportion_validly_sent"] == 1.0 and pack["sent_after_objection"] == 0
    assert pack["checkpoint"]["note"].startswith("consentry.local/test\n")
    assert "validly sent" in pack["definition"]
    assert "<svg" in html.read_text(encoding="utf-8")
    rows = list(csv.DictReader(table.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == pack["decisions"]


def test_campaign_text_prints_the_proportion_beside_its_definition(
    seeded: Population, run: Runner
) -> None:
    result = run("audit", "campaign", "winter-news", "--strict")
    assert result.code == 40  # the old provider's sends include unjustified ones
    assert "validly sent:" in result.out and "definition: A message counts" in result.out
    unknown = run("audit", "campaign", "nope")
    assert unknown.code == 46 and "no campaign named 'nope'" in unknown.err


def test_subject_pack_and_batch_mode(seeded: Population, run: Runner, tmp_path: Path) -> None:
    one = run("audit", "subject", "bob@example.org", "--json")
    assert one.code == 0 and one.json()["address"] == "bob@example.org"
    addresses = tmp_path / "complainants.txt"
    addresses.write_text(
        "# complainants\nbob@example.org\n\nnot an address\n" + seeded.imported[0] + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "packs"
    batch = run("audit", "subject", "--from-file", str(addresses), "--html", str(out), "--json")
    assert batch.code == 3 and "line 4 (not an address)" in batch.err
    body = json.loads(batch.out)
    assert [p["address"] for p in body["packs"]] == ["bob@example.org", seeded.imported[0]]
    assert [r["line"] for r in body["rejected"]] == [4]
    assert sorted(p.name for p in out.iterdir()) == [
        "00002-bob@example.org.html", f"00005-{seeded.imported[0]}.html",
    ]  # fmt: skip
    assert run("audit", "subject").code == 2  # neither an address nor a file


def test_reconcile_events_exits_40_on_an_unmatched_delivery(
    seeded: Population, run: Runner, tmp_path: Path
) -> None:
    export = tmp_path / "events.jsonl"
    event = {"email": seeded.withdrew[0], "timestamp": 1772373600, "event": "delivered",
             "smtp-id": "<rogue.1@example.com>", "sg_event_id": "e1"}  # fmt: skip
    export.write_text(json.dumps([event]) + "\n", encoding="utf-8")
    result = run("audit", "reconcile-events", str(export), "--provider", "sendgrid", "--json")
    assert result.code == 40
    assert result.json()["unmatched"][0]["reason"] == "no-allow-decision-for-message-id"


def test_witness_publish_sends_the_latest_checkpoint_to_every_witness(
    seeded: Population, run: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "w.txt"
    monkeypatch.setenv("CONSENTRY_WITNESSES", f"file:{target},dir:{tmp_path / 'wd'}")
    result = run("audit", "witness-publish")
    assert result.code == 0 and f"published to file:{target}" in result.out
    assert len(read_witnessed(target).notes) == 1
    assert len(read_witnessed(tmp_path / "wd").notes) == 1
    assert run("audit", "witness-check", str(target)).code == 0
    monkeypatch.setenv("CONSENTRY_WITNESSES", "")
    assert run("audit", "witness-publish").code == 3


def test_demo_audit_writes_the_campaign_report_and_bobs_pack(
    seeded: Population, home: Path, tmp_path: Path
) -> None:
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'consentry.sqlite'}")
    lines = demo_audit(settings, tmp_path / "demo")
    audit = tmp_path / "demo" / "audit"
    assert sorted(p.name for p in audit.iterdir()) == [
        "bob@example.org.html", "bob@example.org.json", "spring-news.csv", "spring-news.html",
        "spring-news.json",
    ]  # fmt: skip
    assert str(audit / "spring-news.html") in lines[0]
    assert "validly sent 100%" in lines[1] and str(audit / "bob@example.org.html") in lines[2]
