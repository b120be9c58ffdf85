"""The inbound mail classifier on real samples (tests/fixtures/inbound): the RFC 3464 and RFC 5965
examples, Gmail, Outlook and Postfix DSNs, Yahoo and AOL style abuse reports, unsubscribe mail
from the List-Unsubscribe mailto, replies (where only the person's own lines count, never the
quoted message), auto-replies; and malformed input, which raises InputError and nothing else."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.codecs.inbound_mail import (
    InboundMail,
    ListToken,
    MailKind,
    bounce_kind,
    classify_mail,
)
from consentry.domain.errors import InputError
from consentry.domain.provider_events import EventKind

FIXTURES = Path(__file__).parent.parent / "fixtures" / "inbound"
TOKEN = "kid1." + "FIXTURE0" * 8  # the placeholder token in the fixtures (well formed, not valid)
HARD, SOFT = EventKind.HARD_BOUNCE, EventKind.SOFT_BOUNCE


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def classify(name: str) -> InboundMail:
    return classify_mail(load(name))


def mail(headers: str, body: str = "") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


# --- bounces (RFC 3464) -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("rfc3464-simple.eml", [("louisl@larry.slip.umd.edu", "failed", "4.0.0", SOFT)]),
    ("rfc3464-multi.eml", [
        ("arathib@vnet.ibm.com", "failed", "5.0.0", SOFT),
        ("johnh@hpnjld.njd.hp.com", "delayed", "4.0.0", EventKind.OTHER),
        ("wsnell@sdcc13.ucsd.edu", "failed", "5.0.0", SOFT),
    ]),
    ("rfc3464-gateway.eml", [(None, "failed", "5.0.0", SOFT)]),
    ("rfc3464-delayed.eml", [("thomas@de-montfort.ac.uk", "delayed", "4.0.0", EventKind.OTHER)]),
    ("gmail-dsn-no-such-user.eml", [("gone@example.net", "failed", "5.1.1", HARD)]),
    ("gmail-dsn-dmarc-policy.eml", [("ann@example.org", "failed", "5.7.26", SOFT)]),
    ("outlook-ndr.eml", [
        ("bob@contoso.example", "failed", "5.1.10", HARD),
        ("carol@contoso.example", "failed", "5.2.2", SOFT),
    ]),
    ("postfix-dsn-user-unknown.eml", [("Dave@Example.org", "failed", "5.1.1", HARD)]),
    ("postfix-dsn-delayed.eml", [("slow@example.org", "delayed", "4.4.1", EventKind.OTHER)]),
])  # fmt: skip
def test_delivery_reports_give_each_recipient_its_action_status_and_kind(
    name: str, expected: list[tuple[str | None, str, str, EventKind]]
) -> None:
    found = classify(name)
    assert found.kind is MailKind.DELIVERY_REPORT and found.delivery is not None
    got = [(r.address, r.action, r.status, r.kind) for r in found.delivery.recipients]
    assert got == expected
    assert found.token is None and not found.asks_to_stop  # a report never unsubscribes by words


def test_a_dsn_keeps_the_facts_and_blanks_addresses_in_the_diagnostic() -> None:
    found = classify("gmail-dsn-no-such-user.eml")
    assert found.delivery is not None
    (block,) = found.delivery.recipients
    assert found.delivery.reporting_mta == "dns; googlemail.com"
    assert block.final_recipient == "rfc822; gone@example.net"
    assert "does not exist" in block.diagnostic and "gone@example.net" not in block.diagnostic
    assert found.delivery.original_message_id == "<spring.ann-1@mail.example.com>"
    assert found.delivery.original_token == ListToken("news", TOKEN)
    postfix = classify("postfix-dsn-user-unknown.eml").delivery
    assert postfix is not None and "dave@example.org" not in postfix.recipients[0].diagnostic
    assert postfix.original_token == ListToken("news", TOKEN)  # from text/rfc822-headers


@pytest.mark.parametrize(("action", "status", "kind"), [
    ("failed", "5.1.1", HARD), ("failed", "5.1.10", HARD), ("failed", "5.1.2", HARD),
    ("failed", "5.1.6", HARD), ("failed", "5.2.1", HARD),
    ("failed", "5.1.7", SOFT), ("failed", "5.1.8", SOFT),  # the sender's address, not theirs
    ("failed", "5.2.2", SOFT), ("failed", "5.7.1", SOFT), ("failed", "5.7.26", SOFT),
    ("failed", "5.7.515", SOFT), ("failed", "4.2.2", SOFT), ("failed", "5.0.0", SOFT),
    ("failed", "", SOFT), ("delayed", "4.4.7", EventKind.OTHER),
    ("delivered", "2.0.0", EventKind.DELIVERED), ("relayed", "2.0.0", EventKind.DELIVERED),
    ("expanded", "2.0.0", EventKind.DELIVERED),
])  # fmt: skip
def test_only_permanent_address_failures_are_hard_bounces(
    action: str, status: str, kind: EventKind
) -> None:
    assert bounce_kind(action, status) is kind


def _dsn(blocks: str, per_message: str = "Reporting-MTA: dns; mx.example.net\n\n") -> bytes:
    return mail(
        """
From: MAILER-DAEMON@mx.example.net
To: news@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
""",
        f"--b\nContent-Type: text/plain\n\nSorry.\n\n--b\nContent-Type: message/delivery-status"
        f"\n\n{per_message}{blocks}\n--b--\n",
    )


def test_a_vague_5_0_0_takes_the_enhanced_code_of_the_diagnostic() -> None:
    data = _dsn("Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.0.0\n"
                "Diagnostic-Code: smtp; 550 5.1.1 <x@example.org>... User unknown\n")  # fmt: skip
    found = classify_mail(data)
    assert found.delivery is not None
    block = found.delivery.recipients[0]
    assert (block.status, block.kind) == ("5.1.1", HARD)


def test_rfc_6533_utf8_recipients_and_global_delivery_status_are_read() -> None:
    data = mail(
        """
From: MAILER-DAEMON@mx.example.net
Subject: Undelivered
MIME-Version: 1.0
Content-Type: multipart/report; report-type=global-delivery-status; boundary="b"
""",
        "--b\nContent-Type: message/global-delivery-status\nContent-Transfer-Encoding: base64\n\n"
        "UmVwb3J0aW5nLU1UQTogZG5zOyBteC5leGFtcGxlLm5ldAoKRmluYWwtUmVjaXBpZW50OiB1dGYtODsgal\n"
        "x4ezAwRjZ9cmdAZXhhbXBsZS5vcmcKQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjEuMQo=\n--b--\n",
    )
    found = classify_mail(data)
    assert found.delivery is not None
    (block,) = found.delivery.recipients
    assert (block.address, block.kind) == ("jörg@example.org", HARD)


def test_a_dsn_without_the_per_message_block_is_still_read() -> None:
    found = classify_mail(_dsn("Final-Recipient: rfc822;y@example.org\nAction: failed\n"
                               "Status: 5.2.1\n", per_message=""))  # fmt: skip
    assert found.delivery is not None and found.delivery.recipients[0].kind is HARD


def test_per_message_fields_run_into_the_recipient_block_are_read() -> None:
    blocks = "Final-Recipient: rfc822;z@example.org\nAction: failed\nStatus: 5.1.1\n"
    found = classify_mail(_dsn(blocks, per_message="Reporting-MTA: dns; mx.example.net\n"))
    assert found.delivery is not None and found.delivery.reporting_mta == "dns; mx.example.net"
    assert [r.address for r in found.delivery.recipients] == ["z@example.org"]


@pytest.mark.parametrize(("blocks", "problem"), [
    ("Final-Recipient: rfc822; x@example.org\nStatus: 5.1.1\n", "block 1 has no Action"),
    ("Action: failed\nStatus: 5.1.1\n", "block 1 has no Final-Recipient"),
    ("", "no per-recipient fields"),
])  # fmt: skip
def test_a_broken_delivery_status_part_is_an_input_error_naming_the_field(
    blocks: str, problem: str
) -> None:
    with pytest.raises(InputError, match=problem):
        classify_mail(_dsn(blocks))


def test_a_delivery_report_without_its_status_part_is_an_input_error() -> None:
    data = mail("""
From: MAILER-DAEMON@mx.example.net
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"
""", "--b\nContent-Type: text/plain\n\nSorry.\n--b--\n")  # fmt: skip
    with pytest.raises(InputError, match="no message/delivery-status part"):
        classify_mail(data)


# --- abuse reports (RFC 5965) -------------------------------------------------------------------


def test_the_rfc_5965_simple_report_is_a_complaint_that_names_nobody() -> None:
    found = classify("rfc5965-simple.eml")
    assert found.kind is MailKind.FEEDBACK_REPORT and found.feedback is not None
    report = found.feedback
    assert (report.feedback_type, report.kind, report.user_agent, report.version) == (
        "abuse", EventKind.COMPLAINT, "SomeGenerator/1.0", "1",
    )  # fmt: skip
    assert report.recipients == ()  # "To: <Undisclosed Recipients>" is no address
    assert report.original_token is None


def test_the_rfc_5965_full_report_names_the_recipient_once() -> None:
    report = classify("rfc5965-full.eml").feedback
    assert report is not None
    assert report.recipients == ("user@example.com",)  # Original-Rcpt-To and Removal-Recipient
    assert (report.source_ip, report.reported_domain) == ("192.0.2.1", "example.net")
    assert report.original_message_id == "8787KJKJ3K4J3K4J3K4J3.mail@example.net"


def test_a_yahoo_report_names_the_recipient_and_carries_our_token() -> None:
    found = classify("yahoo-arf.eml")
    assert found.feedback is not None and found.sender == "feedback@arf.mail.yahoo.com"
    assert found.feedback.recipients == ("erin@example.net",)
    assert found.feedback.original_token == ListToken("news", TOKEN)
    assert found.feedback.user_agent == "Yahoo!-Mail-Feedback/2.0"


def test_a_redacted_report_names_nobody_but_the_token_identifies_the_person() -> None:
    report = classify("aol-arf-redacted.eml").feedback
    assert report is not None and report.kind is EventKind.COMPLAINT
    assert report.recipients == ()  # "redacted@example.net" is not taken for an address
    assert report.original_token == ListToken("news", TOKEN)


def _arf(fields: str, original: str, original_type: str = "text/rfc822-headers") -> bytes:
    return mail(
        """
From: fbl@isp.example
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"
""",
        f"--arf\nContent-Type: text/plain\n\nA complaint.\n\n--arf\nContent-Type: "
        f"message/feedback-report\n\n{fields}\n--arf\nContent-Type: {original_type}\n\n"
        f"{original}\n--arf--\n",
    )


@pytest.mark.parametrize(("feedback_type", "kind"), [
    ("abuse", EventKind.COMPLAINT), ("fraud", EventKind.COMPLAINT), ("virus", EventKind.COMPLAINT),
    ("not-spam", EventKind.OTHER), ("auth-failure", EventKind.OTHER), ("other", EventKind.OTHER),
])  # fmt: skip
def test_only_abuse_fraud_and_virus_reports_are_complaints(
    feedback_type: str, kind: EventKind
) -> None:
    data = _arf(f"Feedback-Type: {feedback_type}\nUser-Agent: FBL/1\nVersion: 1\n",
                "From: news@example.com\nTo: pat@example.org\nSubject: x\n")  # fmt: skip
    report = classify_mail(data).feedback
    assert report is not None and report.kind is kind
    assert report.recipients == ("pat@example.org",)  # the original's To, headers only


def test_a_feedback_report_without_feedback_type_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no Feedback-Type"):
        classify_mail(_arf("User-Agent: FBL/1\nVersion: 1\n", "To: pat@example.org\n"))


# --- unsubscribe requests and replies -----------------------------------------------------------


@pytest.mark.parametrize("name", ["unsubscribe-mailto-apple.eml",
                                  "unsubscribe-mailto-outlook-encoded.eml"])  # fmt: skip
def test_mail_from_the_list_unsubscribe_mailto_carries_the_list_and_token(name: str) -> None:
    found = classify(name)
    assert found.kind is MailKind.UNSUBSCRIBE_REQUEST
    assert found.token == ListToken("news", TOKEN)
    assert found.sender in ("ann@example.org", "bjorn@example.org")


@pytest.mark.parametrize(("subject", "body"), [
    ("Re: Fwd: UNSUBSCRIBE news " + TOKEN, ""),
    ("unsubscribe%20news%20" + TOKEN, ""),  # a client that did not decode the mailto
    ("", "unsubscribe news " + TOKEN + "\n\nSent from my phone\n"),
    ("Please", "Hello,\n\n  unsubscribe   news\n" + TOKEN + "\n"),  # wrapped by the client
])  # fmt: skip
def test_the_token_is_found_with_prefixes_encodings_and_in_the_body(
    subject: str, body: str
) -> None:
    data = mail(f"From: ann@example.org\nTo: unsubscribe@example.com\nSubject: {subject}\n", body)
    found = classify_mail(data)
    assert (found.kind, found.token) == (MailKind.UNSUBSCRIBE_REQUEST, ListToken("news", TOKEN))


@pytest.mark.parametrize(("name", "sender"), [
    ("reply-unsubscribe-gmail.eml", "gina@example.org"),
    ("reply-stop-iphone.eml", "ivan@example.org"),
    ("reply-french-html.eml", "lea@example.fr"),
])  # fmt: skip
def test_replies_asking_to_stop_in_their_own_lines_are_unsubscribe_replies(
    name: str, sender: str
) -> None:
    found = classify(name)
    assert (found.kind, found.sender, found.asks_to_stop) == (
        MailKind.UNSUBSCRIBE_REPLY,
        sender,
        True,
    )
    assert found.token is None  # the token quoted below the reply is not read


@pytest.mark.parametrize("name", ["reply-quoted-only-gmail.eml", "reply-quoted-only-outlook.eml"])
def test_unsubscribe_and_stop_in_quoted_text_do_not_count(name: str) -> None:
    found = classify(name)
    assert (found.kind, found.asks_to_stop, found.token) == (MailKind.OTHER, False, None)


@pytest.mark.parametrize("text", [
    "Unsubscribe", "unsubscribe me please", "STOP", "Stop.", "stop sending me these emails please",
    "Please remove me from your list", "opt-out", "I'd like to opt out.", "Take me off this list",
    "I no longer wish to receive these.", "Please stop emailing me",
    "Je souhaite me désabonner", "Merci de me désinscrire", "Bitte abmelden.",
    "Bitte meine Adresse austragen", "Por favor, darme de baja", "Graag uitschrijven",
    "Per favore disiscrivimi",
])  # fmt: skip
def test_words_asking_to_stop_count_in_the_first_lines(text: str) -> None:
    data = mail("From: pat@example.org\nTo: help@example.com\nSubject: Re: The spring news\n",
                f"Hi,\n\n{text}\n\nPat\n")  # fmt: skip
    assert classify_mail(data).kind is MailKind.UNSUBSCRIBE_REPLY


@pytest.mark.parametrize("text", [
    "Don't stop believing, great issue!", "I can't stop smiling at the photos",
    "Please don't unsubscribe me, I only changed address",
    "When will you stop selling the blue one?",
    "Thanks for the news", "Where is the bus stop for the open day?",
])  # fmt: skip
def test_other_uses_of_the_words_do_not(text: str) -> None:
    data = mail("From: pat@example.org\nTo: help@example.com\nSubject: Re: The spring news\n",
                f"{text}\n")  # fmt: skip
    assert classify_mail(data).kind is MailKind.OTHER


def test_words_far_below_the_start_do_not_count() -> None:
    lines = "\n".join(f"Line {n} of a long letter." for n in range(10))
    data = mail("From: pat@example.org\nSubject: Question\n", f"{lines}\nunsubscribe\n")
    assert classify_mail(data).kind is MailKind.OTHER


@pytest.mark.parametrize("subject", ["unsubscribe", "Re: STOP", "AW: Abmelden", "TR: désabonner"])
def test_the_subject_alone_may_ask(subject: str) -> None:
    data = mail(f"From: pat@example.org\nSubject: {subject}\n", "")
    assert classify_mail(data).kind is MailKind.UNSUBSCRIBE_REPLY


def test_a_campaign_subject_with_stop_in_it_is_not_a_request() -> None:
    data = mail("From: pat@example.org\nSubject: Re: Stop! Our spring sale starts now\n",
                "Is the sale on in the Leeds shop too?\n")  # fmt: skip
    assert classify_mail(data).kind is MailKind.OTHER


# --- auto-replies -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["autoreply-outlook-oof.eml", "autoreply-gmail-vacation.eml"])
def test_auto_replies_are_never_unsubscribe_requests(name: str) -> None:
    found = classify(name)
    assert found.kind is MailKind.AUTO_REPLY and found.auto_reply
    assert found.asks_to_stop  # their text says so, and still they never unsubscribe


@pytest.mark.parametrize("header", [
    "Auto-Submitted: auto-replied", "Auto-Submitted: auto-generated; owner-email=x@example.org",
    "X-Autoreply: yes", "X-Autorespond: Vacation", "Precedence: bulk", "Precedence: auto_reply",
    "Precedence: junk",
])  # fmt: skip
def test_auto_reply_headers_win_over_a_token_in_the_subject(header: str) -> None:
    data = mail(f"From: ann@example.org\nSubject: unsubscribe news {TOKEN}\n{header}\n", "")
    assert classify_mail(data).kind is MailKind.AUTO_REPLY


@pytest.mark.parametrize("subject", [
    "Out of Office: The spring news", "Automatic reply: The spring news",
    "Autoreply: unsubscribe", "Abwesenheitsnotiz: The spring news",
    "Réponse automatique : stop", "Respuesta automática: The spring news",
])  # fmt: skip
def test_out_of_office_subjects_are_auto_replies(subject: str) -> None:
    assert classify_mail(mail(f"From: pat@example.org\nSubject: {subject}\n", "STOP\n")).auto_reply


def test_auto_submitted_no_is_a_person() -> None:
    data = mail("From: pat@example.org\nSubject: STOP\nAuto-Submitted: no\n", "")
    assert classify_mail(data).kind is MailKind.UNSUBSCRIBE_REPLY


def test_a_plain_text_bounce_from_the_mailer_daemon_is_automatic() -> None:
    data = mail("From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n",
                "Sorry, I couldn't deliver. Stop.\n")  # fmt: skip
    assert classify_mail(data).kind is MailKind.AUTO_REPLY


# --- the sender ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("from_field", "sender"), [
    ("=?utf-8?q?Doe=2C_John?= <john@example.org>", "john@example.org"),
    ('"Doe, John" <john@example.org>', "john@example.org"),
    ("John Doe <John.Doe@Example.ORG>", "John.Doe@Example.ORG"),
    ("Jörg <jörg@bücher.example>", "jörg@bücher.example"),  # SMTPUTF8: raw UTF-8
    ("a@example.org, b@example.org", None),  # several authors: nobody to attribute it to
    ("undisclosed-recipients:;", None),
])  # fmt: skip
def test_the_sender_is_the_single_from_address(from_field: str, sender: str | None) -> None:
    found = classify_mail(mail(f"From: {from_field}\nSubject: unsubscribe\n", ""))
    assert found.sender == sender


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "empty"), (b"   \r\n\r\n", "empty"), (b"\x00\xff\xfe garbage", "header field"),
    (b"just some words\r\nand more\r\n", "header field"),
])  # fmt: skip
def test_malformed_input_is_an_input_error(data: bytes, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        classify_mail(data)


def test_text_instead_of_bytes_is_an_input_error() -> None:
    with pytest.raises(InputError, match="must be bytes"):
        classify_mail("From: a@example.org\n\nhi")  # type: ignore[arg-type]


_SAMPLES = sorted(p.name for p in FIXTURES.glob("*.eml"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(_SAMPLES),
    cut=st.integers(min_value=0, max_value=6000),
    flips=st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 255)), max_size=8),
)
def test_damaged_samples_never_raise_anything_but_input_error(
    name: str, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(load(name)[:cut] if cut else load(name))
    for at, value in flips:
        if data:
            data[at % len(data)] = value
    with contextlib.suppress(InputError):  # anything else fails the test
        classify_mail(bytes(data))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_input_error(data: bytes) -> None:
    with contextlib.suppress(InputError):  # anything else fails the test
        classify_mail(data)


@pytest.mark.parametrize("html", [
    '<div dir="ltr">See you Friday!</div><div class="gmail_quote"><div>On Wed, Oct 1, 2026 at '
    '7:00 PM News wrote:</div><blockquote class="gmail_quote">STOP<br>Unsubscribe</blockquote>'
    "</div>",
    "<p>See you Friday!</p><blockquote type=cite><p>unsubscribe</p></blockquote>",
    '<p>See you Friday!</p><div id="divRplyFwdMsg"><b>From:</b> News</div><p>Unsubscribe</p>',
    "<html><head><style>.stop{}</style><title>unsubscribe</title></head><body>Hello</body></html>",
])  # fmt: skip
def test_html_only_replies_ignore_quotes_styles_and_outlook_headers(html: str) -> None:
    data = mail("From: pat@example.org\nSubject: Re: The spring news\nMIME-Version: 1.0\n"
                "Content-Type: text/html; charset=utf-8\n", html)  # fmt: skip
    assert classify_mail(data).kind is MailKind.OTHER


def test_an_html_only_reply_asking_to_stop_counts() -> None:
    data = mail("From: pat@example.org\nSubject: Re: The spring news\nMIME-Version: 1.0\n"
                "Content-Type: text/html; charset=utf-8\n",
                "<div>Please unsubscribe me</div><blockquote>Hello</blockquote>")  # fmt: skip
    assert classify_mail(data).kind is MailKind.UNSUBSCRIBE_REPLY


def test_a_forwarded_message_attached_is_not_the_senders_text() -> None:
    data = mail(
        "From: pat@example.org\nSubject: Fwd: The spring news\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m"\n',
        "--m\nContent-Type: text/plain\n\nHave a look at this.\n\n--m\nContent-Type: "
        "message/rfc822\n\nFrom: news@example.com\nSubject: unsubscribe\n\nSTOP\n--m--\n",
    )
    assert classify_mail(data).kind is MailKind.OTHER


def test_feedback_types_are_read_case_insensitively_and_junk_is_not_echoed() -> None:
    original = "To: pat@example.org\n"
    upper = classify_mail(_arf("Feedback-Type: ABUSE\nVersion: 1\n", original)).feedback
    assert upper is not None and (upper.feedback_type, upper.kind) == ("abuse", EventKind.COMPLAINT)
    junk = classify_mail(_arf("Feedback-Type: x\x1b[31m <b>\nVersion: 1\n", original)).feedback
    assert junk is not None and (junk.feedback_type, junk.kind) == ("unrecognised", EventKind.OTHER)
