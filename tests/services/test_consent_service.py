"""The consent use cases against a MemoryStore and real key files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consentry.domain.errors import ClockRegressed, KeyMaterialError, SetupError
from consentry.domain.profiles import Jurisdiction, OrganisationType, configure_organisation
from consentry.keys.ring import FileKeyRing
from consentry.services import consent, gate, ledger
from consentry.services.context import Context
from consentry.store.memory import MemoryStore
from tests.conftest import FixedClock


@pytest.fixture
def ctx(tmp_path: Path, clock: FixedClock) -> Context:
    keys = FileKeyRing.create(tmp_path / "home", "consentry.local/test")
    context = Context(store=MemoryStore(), keys=keys, clock=clock)
    org = configure_organisation("Example Ltd", OrganisationType.COMMERCIAL, Jurisdiction.UK)
    consent.configure(context, org, "test")
    consent.create_list(context, "news", "News", "test")
    return context


def _grant(ctx: Context, email: str, **over: object) -> consent.Recorded:
    notice = consent.publish_notice(ctx, "news", "Email me the news.", "test").notice
    fields: dict[str, object] = dict(
        email=email, list_id="news", basis="consent", notice=notice, method="web-form",
        source="first-party", evidence={"ip": "203.0.113.1"}, actor="test",
    )  # fmt: skip
    fields.update(over)
    return consent.grant_consent(ctx, consent.Grant(**fields))  # type: ignore[arg-type]


def test_a_grant_is_refused_when_the_clock_went_back_but_an_objection_is_kept(
    ctx: Context, clock: FixedClock
) -> None:
    _grant(ctx, "a@example.org")
    clock.advance(seconds=-30)
    size = ctx.store.size()
    with pytest.raises(ClockRegressed, match="before the ledger's last leaf"):
        _grant(ctx, "b@example.org")
    assert ctx.store.size() == size
    consent.withdraw_consent(ctx, "a@example.org", None, "web", "one-click", "first-party", "t")
    assert ctx.store.size() == size + 1
    decision = gate.check_send(ctx, "a@example.org", "news")
    assert (decision.allowed, decision.reason) == (False, "clock-regressed")


def test_publishing_the_same_text_twice_is_one_notice(ctx: Context) -> None:
    first = consent.publish_notice(ctx, "news", "Version one.", "t")
    again = consent.publish_notice(ctx, "news", "Version one.", "t")
    second = consent.publish_notice(ctx, "news", "Version two.", "t")
    assert again.notice == first.notice and again.leaf is None
    assert (first.version, second.version) == (1, 2)
    assert ctx.store.notice_text(second.notice).text == "Version two."


def test_evidence_hashes_cannot_be_guessed_from_the_evidence(ctx: Context) -> None:
    a = _grant(ctx, "a@example.org")
    b = _grant(ctx, "b@example.org")
    ev = [ctx.store.subject_state(r.subject).consents["news"].evidence for r in (a, b)]
    assert ev[0] != ev[1]
    blob = ctx.store.evidence(a.subject, ev[0]).blob
    assert b"203.0.113.1" in blob and b"nonce" in blob


def test_erasure_keeps_the_suppression_and_a_new_double_opt_in_lifts_it(
    ctx: Context, clock: FixedClock
) -> None:
    first = _grant(ctx, "Erin@Example.org", confirmed=True)
    clock.advance(days=1)
    consent.erase_subject(ctx, "erin@example.org", "dpo", "DSAR-7")
    assert ctx.store.address(first.subject) is None
    assert gate.check_send(ctx, "ERIN@example.org", "news").reason == "suppressed-erasure"
    clock.advance(days=1)
    _grant(ctx, "erin@example.org")  # an unconfirmed grant does not lift it
    assert gate.check_send(ctx, "erin@example.org", "news").reason == "suppressed-erasure"
    consent.confirm_consent(ctx, "erin@example.org", "news", {"link": "clicked"}, "web")
    decision = gate.check_send(ctx, "erin@example.org", "news")
    assert decision.allowed and decision.reason == "consent-given"
    assert ledger.verify_ledger(ctx).ok


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    FileKeyRing.create(tmp_path, "consentry.local/x")
    path = tmp_path / "keys" / "subject-hmac.key"
    os.chmod(path, 0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600"):
        FileKeyRing(tmp_path)


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    ring = FileKeyRing.create(tmp_path, "consentry.local/x")
    with pytest.raises(SetupError, match="never overwrites"):
        FileKeyRing.create(tmp_path, "consentry.local/x")
    assert FileKeyRing(tmp_path).subject_key() == ring.subject_key()


def test_missing_keys_say_run_init(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="consentry init"):
        FileKeyRing(tmp_path / "nowhere")


def test_a_checkpoint_of_another_log_is_refused_even_under_our_key(tmp_path: Path) -> None:
    from consentry.domain.checkpoint import Checkpoint
    from consentry.domain.errors import ConsentryError
    from consentry.keys.notes import sign_checkpoint

    ring = FileKeyRing.create(tmp_path, "consentry.local/ours")
    size, root = ring.verify_checkpoint(ring.sign_checkpoint(3, b"\x01" * 32))
    assert (size, root) == (3, b"\x01" * 32)
    foreign = sign_checkpoint(
        Checkpoint("consentry.local/other", 3, b"\x01" * 32), ring.checkpoint_origin(),
        ring._signing_key,
    )  # fmt: skip
    with pytest.raises(ConsentryError, match=r"origin|other"):
        ring.verify_checkpoint(foreign)
