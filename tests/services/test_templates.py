"""Campaign templates: merge-field checks, sentinels and slots, the footer (R29), the subject
(R27), the R16 promotional lint, and compiled content rendered into lint-clean messages (R17)."""

from __future__ import annotations

import dataclasses
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentry.domain.errors import HeaderInjection, SenderIdentityMissing, TemplateError
from consentry.domain.message import (
    CampaignHeaders,
    Recipient,
    Slot,
    SplicedMessage,
    format_date,
    lint_headers,
)
from consentry.domain.profiles import Jurisdiction, TemplateClass
from consentry.domain.sender import ADVERTISEMENT, SenderIdentity
from consentry.services.templates import (
    CompiledContent,
    _sentinels,
    _split,
    compile_content,
    promotional_markers,
)

IDENTITY = SenderIdentity(
    name="Example Ltd",
    from_address="news@example.com",
    postal_address="1 High Street\nLondon",
    contact="+44 20 7946 0000",
    opt_out_email="optout@example.com",
)
E, U = Slot("email"), Slot("unsubscribe_url")
DATE = format_date(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


def compile_(
    subject: str = "News from {{ sender.name }}",
    text: str = "Hello {{ email }}\n",
    html: str | None = None,
    **over: Any,
) -> CompiledContent:
    kwargs: dict[str, Any] = {
        "identity": IDENTITY,
        "jurisdiction": Jurisdiction.UK,
        "template_class": TemplateClass.MARKETING,
        "campaign_name": "March",
        "list_id": "news",
        "list_purpose": "Monthly news",
    }
    return compile_content(subject, text, html, **(kwargs | over))


def strings(parts: tuple[str | Slot, ...] | None) -> str:
    assert parts is not None
    return "".join(p if isinstance(p, str) else f"[{p.name}]" for p in parts)


# --- rendering and slots ----------------------------------------------------------------------


def test_compiles_subject_text_and_html() -> None:
    content = compile_(
        text="Hi {{ email }}, {{ campaign.name }} for {{ list.purpose }} ({{ list.id }})\n",
        html="<html><body><p>Hi {{ email }} {{ sender.from_address }}</p></body></html>",
    )
    assert content.subject == "News from Example Ltd"
    assert content.text[:2] == ("Hi ", E)
    text = strings(content.text)
    assert text.startswith("Hi [email], March for Monthly news (news)\n\n----\nSent by")
    assert "Sent by Example Ltd\n1 High Street\nLondon\n" in text
    assert "Unsubscribe: [unsubscribe_url]\n" in text
    assert "Or email optout@example.com" in text
    page = strings(content.html)
    assert page.startswith("<html><body><p>Hi [email] news@example.com</p>\n<div")
    assert page.endswith("</div>\n</body></html>")
    assert '<a href="[unsubscribe_url]">Unsubscribe</a>' in page
    assert content.promotional == ()


def test_html_without_body_tag_gets_the_footer_appended() -> None:
    page = strings(compile_(html="<p>{{ email }}</p>").html)
    assert page.startswith("<p>[email]</p>\n<div")
    assert page.endswith("</div>\n")


def test_footer_goes_before_html_end_tag_without_body() -> None:
    page = strings(compile_(html="<html><p>x</p></html>\n").html)
    assert page.startswith("<html><p>x</p>\n<div")
    assert page.endswith("</div>\n</html>\n")


def test_footer_goes_before_the_last_body_end_tag_in_any_case() -> None:
    page = strings(compile_(html="<BODY>x</Body ><!-- </body> --></BODY>").html)
    assert page.startswith("<BODY>x</Body ><!-- </body> -->\n<div")
    assert page.endswith("</div>\n</BODY>")


def test_recipient_fields_in_loops_and_conditions_become_slots() -> None:
    content = compile_(
        text="{% for i in [1, 2] %}{{ email }};{% endfor %}"
        "{% if campaign.name %}{{ unsubscribe_url }}{% endif %}"
        "{% with x = 1 %}{{ email }}{% endwith %}\n"
    )
    assert content.text[:6] == (E, ";", E, ";", U, E)


def test_autoescape_is_on_for_html_only() -> None:
    content = compile_(
        subject="{{ campaign.name }}",
        text="{{ campaign.name }} {{ email }}\n",
        html="<p>{{ campaign.name }}</p>",
        campaign_name="<b>Tom & Jerry</b>",
    )
    assert content.subject == "<b>Tom & Jerry</b>"
    assert content.text[0] == "<b>Tom & Jerry</b> "
    assert strings(content.html).startswith("<p>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</p>")


def test_missing_optional_sender_values_render_empty() -> None:
    identity = dataclasses.replace(IDENTITY, contact=None)
    content = compile_(text="[{{ sender.contact }}]\n", identity=identity)
    assert content.text[0].startswith("[]\n")  # type: ignore[union-attr]


def test_us_marketing_footer_marks_an_advertisement() -> None:
    content = compile_(jurisdiction=Jurisdiction.US, html="<p>x</p>")
    assert ADVERTISEMENT in strings(content.text)
    assert ADVERTISEMENT in strings(content.html)
    service = compile_(jurisdiction=Jurisdiction.US, template_class=TemplateClass.SERVICE)
    assert ADVERTISEMENT not in strings(service.text)


def test_sender_identity_is_checked() -> None:
    with pytest.raises(SenderIdentityMissing, match="opt_out_email"):
        compile_(identity=dataclasses.replace(IDENTITY, opt_out_email=None))


# --- field checks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "source", "match"),
    [
        ("text", "{{ first_name }} {{ email }}", "text template names unknown field.* first_name"),
        (
            "html",
            "{{ password }}{{ token }}",
            "html template names unknown field.* password, token",
        ),
        ("subject", "{{ nope }}", "subject template names unknown field.* nope"),
        ("text", "{{ range(3) }}", "unknown field.* range"),
        ("text", "{{ lipsum() }}", "unknown field.* lipsum"),
    ],
)
def test_unknown_fields_are_refused(which: str, source: str, match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        compile_(**{which: source})


def test_recipient_fields_in_the_subject_are_refused() -> None:
    with pytest.raises(TemplateError, match=r"subject may use campaign fields only.*email"):
        compile_(subject="Hi {{ email }}")


@pytest.mark.parametrize(
    ("which", "source", "line"),
    [
        ("text", "ok\nok\n{{ email ", 3),
        ("html", "<p>\n{% if %}</p>", 2),
        ("subject", "{% for %}", 1),
        ("text", "a\n{% endif %}", 2),
    ],
)
def test_syntax_errors_name_template_and_line(which: str, source: str, line: int) -> None:
    with pytest.raises(TemplateError, match=f"{which} template: syntax error on line {line}"):
        compile_(**{which: source})


@pytest.mark.parametrize(
    "source",
    [
        "{{ email|upper }}",
        "{{ email[:3] }}",
        "{{ email ~ '!' }}",
        "{% if email %}x{% endif %}",
        "{% for c in email %}{{ c }}{% endfor %}",
        "{% filter upper %}{{ email }}{% endfilter %}",
        "{% macro m() %}{{ email }}{% endmacro %}{{ m() }}",
        "{% set x %}{{ email }}{% endset %}{{ x }}",
        "{{ email.split('@') }}",
    ],
)
def test_recipient_fields_may_only_be_output_as_they_are(source: str) -> None:
    with pytest.raises(TemplateError, match="only be output as it is"):
        compile_(text=source)


def test_undefined_attributes_and_sandbox_escapes_fail_at_compile_time() -> None:
    with pytest.raises(TemplateError, match="text template"):
        compile_(text="{{ sender.secret }}")
    with pytest.raises(TemplateError, match="text template"):
        compile_(text="{{ sender.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="html template"):
        compile_(html="{% include 'x.html' %}")
    with pytest.raises(TemplateError, match="text template failed to render"):
        compile_(text="{{ 1 / 0 }}")


def test_a_transformed_sentinel_is_caught() -> None:
    """The safety net behind the AST check: a sentinel that comes out altered is refused."""
    sentinels = _sentinels(["x"])
    assert _split(f"a{sentinels['email']}b", sentinels, "text") == ["a", E, "b"]
    with pytest.raises(TemplateError, match="changes a recipient field"):
        _split(f"a{sentinels['email'].upper()}b", sentinels, "text")
    with pytest.raises(TemplateError, match="only be output as it is"):
        compile_(text="{% macro m() %}{{ unsubscribe_url }}{% endmacro %}{{ m()|upper }}")


def test_sentinels_avoid_the_content() -> None:
    first = _sentinels(["hello"])
    clash = _sentinels(["hello", first["email"].upper()])
    assert set(first) == {"email", "unsubscribe_url", "confirm_url"}
    assert all(s.isalnum() and s.isascii() for s in first.values())
    assert clash["email"] != first["email"]
    corpus = f"hello {first['email']} {first['unsubscribe_url']}"
    avoided = _sentinels([corpus])
    assert avoided["email"].lower() not in corpus.lower()
    assert avoided["unsubscribe_url"].lower() not in corpus.lower()


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=40), purpose=st.text(max_size=40))
def test_campaign_values_are_never_read_as_jinja_or_slots(name: str, purpose: str) -> None:
    content = compile_(
        text="{{ campaign.name }}|{{ email }}|{{ list.purpose }}\n",
        campaign_name=name,
        list_purpose=purpose,
        identity=dataclasses.replace(IDENTITY, name="Example {{ 1 }} {% raw %}"),
    )
    assert content.text[:2] == (f"{name}|", E)
    assert strings(content.text).startswith(f"{name}|[email]|{purpose}\n")
    assert "Sent by Example {{ 1 }} {% raw %}\n" in strings(content.text)
    assert [p for p in content.text if isinstance(p, Slot)] == [E, U]


# --- the subject (R27) ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x\r\nBcc: eve@evil.example", "x\n", "\0", "=?UTF-8?Q?=0A?="])
def test_subject_from_campaign_values_is_checked(name: str) -> None:
    with pytest.raises(HeaderInjection, match="subject"):
        compile_(subject="{{ campaign.name }}", campaign_name=name)


def test_subject_source_with_trailing_newline_is_refused() -> None:
    with pytest.raises(HeaderInjection, match="subject"):
        compile_(subject="News\n")


# --- R16 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Our SALE starts now", ["sale"]),
        ("Get 20% off today", ["% off"]),
        ("20 %  OFF", ["% off"]),
        ("A discounted price and an offer", ["discount", "offer"]),
        ("Buy  now! Shop now!", ["buy now", "shop now"]),
        ("For a limited-time only, free shipping", ["limited time", "free shipping"]),
        ("Use coupon or promo code X", ["coupon", "promo code"]),
        ("Upgrade to Pro", ["upgrade"]),
        ("Your password was reset", []),
        ("Contact our sales team; your plan was upgraded", []),
        ("wholesale offerings salesman", []),
    ],
)
def test_promotional_markers(text: str, found: list[str]) -> None:
    assert promotional_markers(text) == found


def test_service_template_with_promotional_content_is_marketing() -> None:
    with pytest.raises(TemplateError, match=r"is marketing \(R16\): found 'sale', 'coupon'"):
        compile_(
            text="Your receipt. Also: big sale with coupon X! {{ email }}\n",
            template_class=TemplateClass.SERVICE,
        )


@pytest.mark.parametrize(
    ("over"),
    [
        {"subject": "Summer Sale"},
        {"html": "<p>Shop now</p>"},
        {"campaign_name": "Upgrade week", "text": "{{ campaign.name }}"},
    ],
)
def test_promotional_content_anywhere_counts(over: dict[str, Any]) -> None:
    with pytest.raises(TemplateError, match="R16"):
        compile_(template_class=TemplateClass.SERVICE, **over)
    assert compile_(**over).promotional


def test_markup_is_not_content_for_the_lint() -> None:
    content = compile_(
        html='<div class="sale-banner"><a href="/offers">Your receipt</a></div>',
        template_class=TemplateClass.SERVICE,
    )
    assert content.promotional == ()


def test_marketing_records_its_markers() -> None:
    content = compile_(text="A sale! Use a coupon.\n")
    assert content.promotional == ("sale", "coupon")


# --- end to end (R17) -------------------------------------------------------------------------


@pytest.mark.parametrize("where", list(Jurisdiction))
@pytest.mark.parametrize("kind", list(TemplateClass))
def test_compiled_content_renders_lint_clean_messages(
    where: Jurisdiction, kind: TemplateClass
) -> None:
    content = compile_(
        text="Dear {{ email }},\n\n.{{ campaign.name }}\nFrom us = {{ list.purpose }}   \n",
        html="<html><body><p>Dear {{ email }}</p><p>{{ campaign.name }}</p></body></html>",
        jurisdiction=where,
        template_class=kind,
        campaign_name="März & more",
    )
    headers = CampaignHeaders(
        from_name=IDENTITY.name,
        from_address=IDENTITY.from_address,
        reply_to=None,
        subject=content.subject,
        list_id="Monthly news <news.lists.example.com>",
        feedback_id="c1:news:example:consentry",
    )
    message = SplicedMessage.build(headers, content.text, content.html)
    for address in ("alice@example.org", "jösé@bücher.example"):
        r = Recipient(
            address=address,
            message_id="c1.1@example.com",
            unsubscribe_url="https://consentry.example.com/u/t1.abc",
            unsubscribe_mailto="mailto:optout@example.com?subject=unsubscribe",
        )
        data = message.render(r, DATE)
        assert lint_headers(data) == []
        msg = BytesParser(policy=email.policy.default).parsebytes(data)
        assert isinstance(msg, EmailMessage)
        text = msg.get_body(("plain",))
        assert text is not None and f"Dear {address}," in text.get_content()


def test_confirm_url_is_a_field_of_confirmations_only() -> None:
    with pytest.raises(TemplateError, match="unknown field"):
        compile_(text="Confirm: {{ confirm_url }}\n{{ unsubscribe_url }}")
    content = compile_(
        text="Confirm: {{ confirm_url }}\n", template_class=TemplateClass.SERVICE, confirmation=True
    )
    assert "Confirm: [confirm_url]" in strings(content.text)
