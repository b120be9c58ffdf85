"""What the backup tests share: a populated store, its whole state for comparison, keys, and a
CLI entry point that has the ``backup`` commands whether or not ``cli/main.py`` registers them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FixedClock
from tests.support.audience import LIST, campaign_spec, grant_all, organised

from consentry.backup.age_keys import Opening, Sealing, new_identity
from consentry.backup.create import CreateReport, KeyFacts, create_backup, key_facts
from consentry.backup.trust import Trust, read_exported
from consentry.cli.backup_cmds import verify_note
from consentry.domain.merkle import root as merkle_root
from consentry.keys.ring import FileKeyRing
from consentry.ports import Store
from consentry.services import api_tokens, campaigns, consent, subjects
from consentry.services.context import Context

ORIGIN = "consentry.local/test"
PEOPLE = [f"p{i}@example.org" for i in range(30)] + ["Zoë.Ünïcode@bücher.example"]


def pyrage_module() -> Any:
    """pyrage, for modules that use it directly: skipped without it here, failed in CI."""
    try:
        import pyrage
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pyrage is not installed; CI must run the backup tests", pytrace=False)
        pytest.skip("pyrage is not installed (the backup dependency)", allow_module_level=True)
    return pyrage


def require_pyrage() -> None:
    """pyrage is a dependency of backups: skip without it here, fail in CI."""
    try:
        import pyrage  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pyrage is not installed; CI must run the backup tests")
        pytest.skip("pyrage is not installed (the backup dependency)")


def ticking_clock() -> FixedClock:
    clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    clock.step = timedelta(milliseconds=1)
    return clock


def populate(store: Store, home: Path) -> Context:
    """Every kind of row a backup holds: consents with evidence and notices, a confirmation, a
    withdrawal, a suppression, an erasure, a campaign with an approval and a queue, the kill
    switch, an API token."""
    ctx = organised(store, home, ticking_clock())
    grant_all(ctx, PEOPLE)
    consent.confirm_consent(ctx, PEOPLE[0], LIST, {"ip": "203.0.113.9"}, "test")
    consent.withdraw_consent(ctx, PEOPLE[1], None, "web", "one-click", "first-party", "test")
    consent.suppress(ctx, PEOPLE[2], "complaint", None, "first-party", "test")
    consent.erase_subject(ctx, PEOPLE[3], "test", "DSAR-1")
    campaigns.create_campaign(ctx, campaign_spec(), "test")  # type: ignore[arg-type]
    campaigns.approve_campaign(ctx, "spring", "alice")
    store.enqueue_campaign("spring", LIST)
    campaigns.halt_dispatch(ctx, "ops", "backup drill")
    api_tokens.create_token(ctx, "ci", "read")
    return ctx


def more_leaves(ctx: Context, count: int, start: int = 100) -> None:
    grant_all(ctx, [f"late{start + i}@example.org" for i in range(count)])


def state_of(store: Store, home: Path) -> dict[str, Any]:
    """Everything a restore must reproduce, read through the Store port (the key ring in
    ``home`` names the people)."""
    size = store.size()
    projection = store.projection()
    ctx = Context(store=store, keys=FileKeyRing(home), clock=ticking_clock())
    people = {}
    for email in PEOPLE:
        history = subjects.subject_history(ctx, email)
        people[email] = {k: history[k] for k in ("address", "subject", "state", "events")}
    return {
        "size": size,
        "root": merkle_root(store.tree(), size),
        "checkpoints": [(c.size, c.root, c.note, c.created_at) for c in store.checkpoints()],
        "leaves": [(leaf.index, leaf.raw, leaf.hash) for leaf in store.iter_leaves()],
        "consents": projection.consents,
        "suppressions": {
            k: sorted(v, key=lambda s: s.leaf.index) for k, v in projection.suppressions.items()
        },
        "erased": projection.erased,
        "lists": projection.lists,
        "notices": projection.notices,
        "organisation": projection.organisation,
        "people": people,
        "campaigns": store.campaigns(),
        "approvals": store.approvals("spring") if store.campaign("spring") else [],
        "messages": store.message_counts("spring") if store.campaign("spring") else {},
        "halted": store.control("halted"),
        "tokens": store.api_tokens(),
    }


@dataclass
class Keys:
    """An age identity for the tests, and the key ring's facts."""

    secret: str
    recipient: str
    home: Path

    @property
    def sealing(self) -> Sealing:
        return Sealing(recipients=(self.recipient,))

    @property
    def opening(self) -> Opening:
        return Opening(identities=(self.secret,))

    @property
    def facts(self) -> KeyFacts:
        ring = FileKeyRing(self.home)
        return key_facts(ring.checkpoint_origin(), ring.verifier_key(), ring.subject_key())

    def trust(self, checkpoint: Path | None = None, allow_rollback: bool = False) -> Trust:
        ring = FileKeyRing(self.home)
        return Trust(
            verify_note,
            local_verifier_key=ring.verifier_key(),
            local_subject_key_id=self.facts.subject_key_id,
            exported=read_exported(self.home, checkpoint),
            allow_rollback=allow_rollback,
        )

    def ring(self) -> FileKeyRing:
        return FileKeyRing(self.home)


def make_keys(home: Path) -> Keys:
    secret, recipient = new_identity()
    return Keys(secret, recipient, home)


def backup(url: str, target: Path, keys: Keys, sealing: Sealing | None = None) -> CreateReport:
    return create_backup(url, target, sealing or keys.sealing, keys.facts, datetime.now(UTC))


def identity_file(tmp: Path, keys: Keys) -> Path:
    path = tmp / "identity.txt"
    path.write_text(f"# test identity\n{keys.secret}\n")
    path.chmod(0o600)
    return path
