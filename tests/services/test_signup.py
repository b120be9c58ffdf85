"""Signup with double opt-in (R13, R37): the request is recorded with its notice and evidence and
its confirmation goes out through the dispatcher; the confirmation link confirms on POST only,
expires, cannot be forged; repeats reveal and write nothing; the receipt carries proofs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consentry.domain.errors import CampaignStateError, InputError, InvalidAddress, NotFound
from consentry.domain.leaves import decode_leaf
from consentry.domain.merkle_proofs import verify_inclusion
from consentry.mail.outbox import Outbox
from consentry.services import consent, signup
from consentry.services.campaigns import prepare_send
from consentry.services.context import Context
from consentry.services.dispatch import DispatchOptions, send_confirmations
from consentry.services.gate import check_send
from tests.conftest import FixedClock
from tests.support.audience import LIST, grant_all, notice, organised

BASE = "https://consent.example.com"
EVIDENCE = {"ip": "198.51.100.7", "user_agent": "Firefox", "source_page": "https://ex.com/join"}


@pytest.fixture
def ctx(store: object, tmp_path: Path, clock: FixedClock) -> Context:
    c = organised(store, tmp_path / "home", clock)  # type: ignore[arg-type]
    notice(c)
    signup.enable_signup(c, LIST, "news@example.com", "test", reply_to="help@example.com")
    return c


def _form_notice(ctx: Context) -> str:
    return signup.signup_form(ctx, LIST).notice


def _send(ctx: Context) -> list[bytes]:
    outbox = Outbox()
    campaign = signup.confirmation_campaign_id(LIST)
    send_confirmations(ctx, campaign, outbox, BASE, options=DispatchOptions(batch=50))
    return [env.data for env in outbox.delivered]


def _confirm_path(message: bytes) -> str:
    text = message.decode().replace("=\r\n", "")
    match = re.search(r"https://consent\.example\.com(/c/[a-z0-9._-]+/[A-Za-z0-9_.-]+)", text)
    assert match, "no confirmation link in the message"
    return match.group(1)


def _token(message: bytes) -> str:
    return _confirm_path(message).rsplit("/", 1)[1]


def test_enabling_signup_needs_a_published_notice(
    store: object, tmp_path: Path, clock: FixedClock
) -> None:
    c = organised(store, tmp_path / "h2", clock)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no published notice"):
        signup.enable_signup(c, LIST, "news@example.com", "test")
    with pytest.raises(NotFound):
        signup.signup_form(c, LIST)


def test_the_form_shows_the_latest_notice(ctx: Context) -> None:
    consent.publish_notice(ctx, LIST, "Version two of the wording.", "test")
    form = signup.signup_form(ctx, LIST)
    assert (form.version, form.text) == (2, "Version two of the wording.")


def test_a_signup_records_the_request_with_notice_and_evidence_and_queues_one_message(
    ctx: Context,
) -> None:
    start = ctx.store.size()
    assert signup.sign_up(ctx, LIST, "Ann@Example.org", _form_notice(ctx), EVIDENCE) == "requested"
    (leaf,) = [decode_leaf(s.raw) for s in ctx.store.iter_leaves(start)]
    assert leaf.kind == "consent-requested"
    assert (leaf.fields["method"], leaf.fields["source"], leaf.fields["form_version"]) == (
        "double-opt-in", "first-party", "notice-v1",
    )  # fmt: skip
    assert leaf.fields["notice"] == _form_notice(ctx)
    blob = ctx.store.evidence(str(leaf.fields["subject"]), str(leaf.fields["evidence"]))
    assert blob is not None and b"https://ex.com/join" in blob.blob and b"Firefox" in blob.blob
    campaign = signup.confirmation_campaign_id(LIST)
    assert ctx.store.message_counts(campaign) == {"queued": 1}
    assert not check_send(ctx, "ann@example.org", LIST).allowed  # requested is not consent


def test_the_confirmation_goes_through_the_dispatcher_with_its_decision(ctx: Context) -> None:
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    requested = ctx.store.size() - 1
    (message,) = _send(ctx)
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in message
    assert b"Subject: Please confirm: Monthly news from Example Ltd" in message
    leaves = [decode_leaf(s.raw) for s in ctx.store.iter_leaves(requested)]
    decided = [leaf for leaf in leaves if leaf.kind == "send-decided"]
    assert len(decided) == 1
    fields = decided[0].fields
    assert (fields["allowed"], fields["reason"], fields["template_class"]) == (
        True, "service-message", "service",
    )  # fmt: skip
    assert fields["justifying_index"] == requested  # the consent-requested leaf
    assert leaves[-1].kind == "send-handed-off"
    assert ctx.store.campaign_state(signup.confirmation_campaign_id(LIST)) == "sending"


def test_confirming_on_post_only_then_marketing_is_allowed(ctx: Context, clock: FixedClock) -> None:
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    token = _token(_send(ctx)[0])
    size = ctx.store.size()
    assert signup.confirmation_status(ctx, LIST, token).status == "pending"
    assert ctx.store.size() == size  # a GET writes nothing
    clock.advance(hours=2)
    done = signup.confirm_signup(ctx, LIST, token, {"ip": "198.51.100.9", "user_agent": "Mobile"})
    assert done.status == "confirmed"
    leaf = decode_leaf(ctx.store.leaf(ctx.store.size() - 1).raw)
    assert (leaf.kind, leaf.fields["method"], leaf.fields["actor"]) == (
        "consent-confirmed", "double-opt-in", "subject",
    )  # fmt: skip
    assert check_send(ctx, "ann@example.org", LIST).allowed
    size = ctx.store.size()
    assert signup.confirm_signup(ctx, LIST, token, {"ip": "x"}).status == "confirmed"
    assert ctx.store.size() == size  # idempotent


def test_a_repeat_signup_reveals_nothing_and_sends_nothing_new(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, ["sub@example.org"])
    size = ctx.store.size()
    assert signup.sign_up(ctx, LIST, "sub@example.org", _form_notice(ctx), EVIDENCE) == "subscribed"
    assert ctx.store.size() == size
    assert signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE) == "requested"
    _send(ctx)
    size = ctx.store.size()
    assert signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE) == "pending"
    assert ctx.store.size() == size and _send(ctx) == []
    clock.advance(minutes=11)
    assert signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE) == "requested"
    (again,) = _send(ctx)
    assert b"Message-ID" in again


def test_resent_confirmations_have_new_message_ids(ctx: Context, clock: FixedClock) -> None:
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    first = _send(ctx)[0]
    clock.advance(minutes=11)
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    second = _send(ctx)[0]

    def mid(m: bytes) -> bytes:
        return re.search(rb"Message-ID: (<[^>]+>)", m).group(1)  # type: ignore[union-attr]

    assert mid(first) != mid(second)


def test_links_expire_and_forged_links_are_not_found(ctx: Context, clock: FixedClock) -> None:
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    token = _token(_send(ctx)[0])
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:20], "t9." + token[3:]):
        with pytest.raises(NotFound):
            signup.confirmation_status(ctx, LIST, bad)
    with pytest.raises(NotFound):
        signup.confirm_signup(ctx, "other-list", token, {})
    clock.advance(days=signup.CONFIRM_VALID_DAYS + 1)
    size = ctx.store.size()
    assert signup.confirm_signup(ctx, LIST, token, {"ip": "x"}).status == "expired"
    assert ctx.store.size() == size


def test_an_unsubscribed_person_can_come_back_by_double_opt_in(
    ctx: Context, clock: FixedClock
) -> None:
    grant_all(ctx, ["bob@example.org"])
    consent.withdraw_consent(ctx, "bob@example.org", LIST, "web", "one-click", "t", "bob")
    assert not check_send(ctx, "bob@example.org", LIST).allowed
    clock.advance(days=1)
    assert signup.sign_up(ctx, LIST, "bob@example.org", _form_notice(ctx), EVIDENCE) == "requested"
    token = _token(_send(ctx)[0])
    assert signup.confirm_signup(ctx, LIST, token, {"ip": "x"}).status == "confirmed"
    assert check_send(ctx, "bob@example.org", LIST).allowed


def test_bad_input_is_refused_by_name(ctx: Context) -> None:
    with pytest.raises(InvalidAddress):
        signup.sign_up(ctx, LIST, "not an address", _form_notice(ctx), EVIDENCE)
    with pytest.raises(InputError, match="notice"):
        signup.sign_up(ctx, LIST, "ann@example.org", "0" * 64, EVIDENCE)
    with pytest.raises(NotFound):
        signup.sign_up(ctx, "nolist", "ann@example.org", _form_notice(ctx), EVIDENCE)


def test_the_confirmation_campaign_is_never_sent_to_its_whole_list(ctx: Context) -> None:
    grant_all(ctx, ["sub@example.org"])
    with pytest.raises(CampaignStateError, match="confirmation campaign"):
        prepare_send(ctx, signup.confirmation_campaign_id(LIST), 10_000)


def test_the_receipt_carries_the_record_notice_and_inclusion_proofs(ctx: Context) -> None:
    signup.sign_up(ctx, LIST, "ann@example.org", _form_notice(ctx), EVIDENCE)
    token = _token(_send(ctx)[0])
    signup.confirm_signup(ctx, LIST, token, {"ip": "x"})
    receipt = signup.consent_receipt(ctx, LIST, token)
    state = ctx.store.subject_state(consent.subject_for(ctx, "ann@example.org")[1])
    assert state is not None
    assert receipt["consentReceiptID"] == state.consents[LIST].record
    assert receipt["piiPrincipalId"] == "ann@example.org"
    assert receipt["piiControllers"][0]["piiController"] == "Example Ltd"
    assert receipt["notice"]["text"] == "Email me the monthly news."
    assert [leaf["kind"] for leaf in receipt["proof"]["leaves"]] == [
        "consent-requested", "consent-confirmed",
    ]  # fmt: skip
    assert receipt["proof"]["checkpoint"].startswith("consentry.local/test\n")
    for proof in receipt["proof"]["inclusion"]:
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]), proof["leaf_index"], proof["tree_size"],
            [bytes.fromhex(h) for h in proof["proof"]], bytes.fromhex(proof["root_hash"]),
        )  # fmt: skip
