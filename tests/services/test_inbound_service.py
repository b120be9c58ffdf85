"""handle_inbound on the memory and SQLite stores: DSN hard bounces and ARF complaints suppress
globally (R21), unsubscribe mail with a valid token withdraws the token's subject from its list,
a forged token falls back to the sender, replies asking to stop withdraw the sender from every
list, and auto-replies, quoted text, soft bounces and reports naming nobody record nothing.
Repeats write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from email.header import Header
from pathlib import Path
from typing import Any

import pytest

from consentry.codecs.inbound_mail import MailKind
from consentry.domain.errors import InputError
from consentry.domain.leaves import decode_leaf
from consentry.domain.state import GLOBAL_SCOPE
from consentry.domain.tokens import make_unsubscribe_token
from consentry.services import gate
from consentry.services.consent import subject_for
from consentry.services.context import Context
from consentry.services.inbound import InboundResult, handle_inbound
from tests.conftest import FixedClock, make_store
from tests.support.audience import grant_all, organised

FIXTURES = Path(__file__).parent.parent / "fixtures" / "inbound"
PLACEHOLDER = b"kid1." + b"FIXTURE0" * 8
PEOPLE = [
    "ann@example.org", "gone@example.net", "bob@contoso.example", "carol@contoso.example",
    "dave@example.org", "erin@example.net", "frank@example.org", "gina@example.org",
    "ivan@example.org", "judy@example.org", "hank@example.org", "olga@example.org",
]  # fmt: skip


@pytest.fixture(params=["memory", "sqlite"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Context]:
    store = make_store(request.param, tmp_path, request)
    clock.step = None
    context = organised(store, tmp_path / "home", clock)
    grant_all(context, PEOPLE)
    yield context
    store.close()


def token_for(ctx: Context, email: str, list_id: str = "news") -> str:
    kid, key = ctx.keys.token_key()
    return make_unsubscribe_token(kid, key, subject_for(ctx, email)[1], list_id)


def sample(name: str, ctx: Context | None = None, person: str | None = None) -> bytes:
    """A fixture, with the placeholder token replaced by a real one for ``person``."""
    data = (FIXTURES / name).read_bytes()
    if ctx is not None and person is not None:
        data = data.replace(PLACEHOLDER, token_for(ctx, person).encode())
    return data


def handle(ctx: Context, data: bytes, sender: str = "") -> InboundResult:
    return handle_inbound(ctx, data, sender, ["unsubscribe@example.com"])


def reason(ctx: Context, email: str) -> str:
    return gate.check_send(ctx, email, "news").reason


def leaves(ctx: Context, kind: str) -> list[Any]:
    return [x for s in ctx.store.iter_leaves() if (x := decode_leaf(s.raw)).kind == kind]


def evidence(ctx: Context, leaf: Any) -> bytes:
    blob = ctx.store.evidence(leaf.fields["subject"], leaf.fields["evidence"])
    assert blob is not None
    return blob.blob


# --- bounces ------------------------------------------------------------------------------------


def test_a_hard_bounce_suppresses_the_address_globally_once(ctx: Context) -> None:
    data = sample("gmail-dsn-no-such-user.eml")
    result = handle(ctx, data)
    assert result.kind is MailKind.DELIVERY_REPORT and result.recorded == 1
    assert reason(ctx, "gone@example.net") == "suppressed-hard-bounce"
    assert reason(ctx, "ann@example.org") == "consent-given"
    (leaf,) = leaves(ctx, "suppressed")
    assert (leaf.fields["reason"], leaf.fields["scope"]) == ("hard-bounce", GLOBAL_SCOPE)
    assert b"5.1.1" in evidence(ctx, leaf) and b"gone@example.net" not in evidence(ctx, leaf)
    size = ctx.store.size()
    again = handle(ctx, data)  # the sender retried (no 250 reached it): nothing new
    assert (again.recorded, again.counts["duplicate"], ctx.store.size()) == (0, 1, size)


def test_an_outlook_report_suppresses_the_unknown_address_and_not_the_full_mailbox(
    ctx: Context,
) -> None:
    result = handle(ctx, sample("outlook-ndr.eml"))
    assert (result.counts["recorded"], result.counts["ignored"]) == (1, 1)
    assert reason(ctx, "bob@contoso.example") == "suppressed-hard-bounce"
    assert reason(ctx, "carol@contoso.example") == "consent-given"


def test_the_original_recipient_is_suppressed_in_canonical_form(ctx: Context) -> None:
    handle(ctx, sample("postfix-dsn-user-unknown.eml"))
    assert reason(ctx, "dave@example.org") == "suppressed-hard-bounce"


@pytest.mark.parametrize("name", [
    "gmail-dsn-dmarc-policy.eml", "postfix-dsn-delayed.eml", "rfc3464-simple.eml",
    "rfc3464-multi.eml", "rfc3464-gateway.eml", "rfc3464-delayed.eml",
])  # fmt: skip
def test_soft_bounces_delays_and_policy_refusals_record_nothing(ctx: Context, name: str) -> None:
    size = ctx.store.size()
    result = handle(ctx, sample(name))
    assert result.recorded == 0 and result.counts["ignored"] >= 1
    assert ctx.store.size() == size
    assert reason(ctx, "ann@example.org") == "consent-given"


def test_a_bounce_naming_no_address_falls_back_to_the_token_of_the_original(ctx: Context) -> None:
    token = token_for(ctx, "frank@example.org")
    data = (
        "From: postmaster@gw.example.net\nSubject: Undeliverable\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: x400; GW\n\n"
        "Final-Recipient: x400; c=gb;o=example;s=frank\nAction: failed\nStatus: 5.1.1\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\n"
        f"List-Unsubscribe: <https://consent.example.com/u/news/{token}>\n\n--b--\n"
    ).encode()
    assert handle(ctx, data).recorded == 1
    assert reason(ctx, "frank@example.org") == "suppressed-hard-bounce"


# --- complaints ---------------------------------------------------------------------------------


def test_a_yahoo_complaint_suppresses_globally_by_address_and_token(ctx: Context) -> None:
    result = handle(ctx, sample("yahoo-arf.eml", ctx, "erin@example.net"))
    assert result.kind is MailKind.FEEDBACK_REPORT
    assert (result.counts["recorded"], result.counts["duplicate"]) == (1, 1)  # one person
    assert reason(ctx, "erin@example.net") == "suppressed-complaint"
    (leaf,) = leaves(ctx, "suppressed")
    assert (leaf.fields["reason"], leaf.fields["scope"]) == ("complaint", GLOBAL_SCOPE)
    assert b"abuse" in evidence(ctx, leaf) and b"sha256" in evidence(ctx, leaf)


def test_a_redacted_complaint_is_recorded_through_the_token(ctx: Context) -> None:
    result = handle(ctx, sample("aol-arf-redacted.eml", ctx, "frank@example.org"))
    assert result.recorded == 1
    assert reason(ctx, "frank@example.org") == "suppressed-complaint"


def test_a_complaint_with_a_forged_token_and_no_address_records_nothing(ctx: Context) -> None:
    result = handle(ctx, sample("aol-arf-redacted.eml"))  # the placeholder does not verify
    assert result.events == () and "names no recipient" in result.note
    assert leaves(ctx, "suppressed") == []


def test_the_rfc_5965_reports_record_what_they_can(ctx: Context) -> None:
    assert handle(ctx, sample("rfc5965-simple.eml")).events == ()  # nobody named
    full = handle(ctx, sample("rfc5965-full.eml"))
    assert full.recorded == 1
    assert gate.check_send(ctx, "user@example.com", "news").reason == "suppressed-complaint"


def test_a_not_spam_report_records_nothing(ctx: Context) -> None:
    data = sample("yahoo-arf.eml", ctx, "erin@example.net").replace(
        b"Feedback-Type: abuse", b"Feedback-Type: not-spam"
    )
    assert handle(ctx, data).counts["ignored"] == 2
    assert reason(ctx, "erin@example.net") == "consent-given"


# --- unsubscribe requests and replies -----------------------------------------------------------


def test_a_mailto_unsubscribe_with_a_valid_token_withdraws_from_its_list(ctx: Context) -> None:
    data = sample("unsubscribe-mailto-apple.eml", ctx, "ann@example.org")
    result = handle(ctx, data, "ann@example.org")
    assert result.kind is MailKind.UNSUBSCRIBE_REQUEST and result.recorded == 1
    assert reason(ctx, "ann@example.org") == "suppressed-withdrawal"
    (leaf,) = leaves(ctx, "consent-withdrawn")
    assert (leaf.fields["list"], leaf.fields["method"]) == ("news", "mailto")
    assert handle(ctx, data, "ann@example.org").counts["duplicate"] == 1


def test_the_token_names_the_person_even_from_another_address(ctx: Context) -> None:
    encoded = Header(f"unsubscribe news {token_for(ctx, 'ivan@example.org')}", "utf-8").encode()
    head, _, rest = sample("unsubscribe-mailto-outlook-encoded.eml").partition(b"Subject: ")
    rest = rest.partition(b"\nThread-Topic")[2]  # the fixture's subject, folded encoded words
    data = head + b"Subject: " + encoded.encode() + b"\nThread-Topic" + rest
    assert encoded.count("=?utf-8?") > 1
    assert handle(ctx, data, "bjorn@example.org").recorded == 1  # forwarded to another mailbox
    assert reason(ctx, "ivan@example.org") == "suppressed-withdrawal"


def test_a_forged_token_falls_back_to_the_sender_for_the_named_list(ctx: Context) -> None:
    forged = token_for(ctx, "gina@example.org")[:-2] + "AA"
    data = (f"From: Ann <ann@example.org>\nSubject: unsubscribe news {forged}\n\n").encode()
    result = handle(ctx, data, "ann@example.org")
    assert result.recorded == 1 and "does not verify" in result.note
    assert reason(ctx, "ann@example.org") == "suppressed-withdrawal"
    assert reason(ctx, "gina@example.org") == "consent-given"
    (leaf,) = leaves(ctx, "consent-withdrawn")
    assert (leaf.fields["list"], leaf.fields["method"]) == ("news", "mailto-sender")


def test_a_token_for_another_list_does_not_verify(ctx: Context) -> None:
    token = token_for(ctx, "gina@example.org", "events")
    data = f"From: ann@example.org\nSubject: unsubscribe news {token}\n\n".encode()
    handle(ctx, data, "ann@example.org")
    assert reason(ctx, "gina@example.org") == "consent-given"  # the sender was unsubscribed instead
    assert reason(ctx, "ann@example.org") == "suppressed-withdrawal"


@pytest.mark.parametrize(("name", "person"), [
    ("reply-unsubscribe-gmail.eml", "gina@example.org"),
    ("reply-stop-iphone.eml", "ivan@example.org"),
])  # fmt: skip
def test_a_reply_asking_to_stop_withdraws_the_sender_from_every_list(
    ctx: Context, name: str, person: str
) -> None:
    result = handle(ctx, sample(name), person)
    assert result.kind is MailKind.UNSUBSCRIBE_REPLY and result.recorded == 1
    assert reason(ctx, person) == "suppressed-withdrawal"
    (leaf,) = leaves(ctx, "consent-withdrawn")
    assert leaf.fields["method"] == "reply"


@pytest.mark.parametrize(("name", "person"), [
    ("reply-quoted-only-gmail.eml", "judy@example.org"),
    ("reply-quoted-only-outlook.eml", "karl@example.org"),
    ("autoreply-outlook-oof.eml", "hank@example.org"),
    ("autoreply-gmail-vacation.eml", "olga@example.org"),
])  # fmt: skip
def test_quoted_words_and_auto_replies_never_unsubscribe(
    ctx: Context, name: str, person: str
) -> None:
    size = ctx.store.size()
    result = handle(ctx, sample(name, ctx, person), person)
    assert result.events == () and ctx.store.size() == size
    assert leaves(ctx, "consent-withdrawn") == []


def test_mail_from_the_null_sender_never_unsubscribes(ctx: Context) -> None:
    data = sample("unsubscribe-mailto-apple.eml", ctx, "ann@example.org")
    result = handle(ctx, data, "")
    assert result.events == () and "null sender" in result.note
    assert reason(ctx, "ann@example.org") == "consent-given"


def test_unreadable_mail_is_an_input_error_and_writes_nothing(ctx: Context) -> None:
    size = ctx.store.size()
    with pytest.raises(InputError):
        handle(ctx, b"\x00\x01 not mail at all")
    assert ctx.store.size() == size


def test_the_result_reads_without_personal_data(ctx: Context) -> None:
    result = handle(ctx, sample("gmail-dsn-no-such-user.eml"))
    assert str(result) == "delivery-report: delivery report: 1 recipient(s), 1 hard bounce(s) " \
                          "(recorded 1)"  # fmt: skip
    assert "@" not in str(result)
