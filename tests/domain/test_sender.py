"""Sender identity by jurisdiction (R29, PECR reg 23, CAN-SPAM, CASL) and the footer."""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from consentry.domain.errors import HeaderInjection, InvalidAddress, SenderIdentityMissing
from consentry.domain.profiles import Jurisdiction, TemplateClass
from consentry.domain.sender import (
    ADVERTISEMENT,
    SenderIdentity,
    check_identity,
    footer_html,
    footer_text,
)

FULL = SenderIdentity(
    name="Example Ltd",
    from_address="news@example.com",
    reply_to="help@example.com",
    postal_address="1 High Street\nLondon N1 1AA",
    contact="+44 20 7946 0000",
    opt_out_email="optout@example.com",
)
EMPTY = SenderIdentity(name="", from_address="news@example.com")
URL = "https://example.com/u/t1.abc?x=1&y=2"


def render(source: str, autoescape: bool) -> str:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True
    )
    return env.from_string(source).render(unsubscribe_url=URL)


@pytest.mark.parametrize("where", list(Jurisdiction))
@pytest.mark.parametrize("kind", list(TemplateClass))
def test_full_identity_passes_everywhere(where: Jurisdiction, kind: TemplateClass) -> None:
    check_identity(FULL, where, kind)


@pytest.mark.parametrize(
    ("where", "missing"),
    [
        (Jurisdiction.UK, ["name", "opt_out_email"]),
        (Jurisdiction.EU, ["name", "opt_out_email"]),
        (Jurisdiction.US, ["postal_address"]),
        (Jurisdiction.CA, ["name", "postal_address", "contact"]),
    ],
)
@pytest.mark.parametrize("kind", list(TemplateClass))
def test_everything_missing_is_listed(
    where: Jurisdiction, missing: list[str], kind: TemplateClass
) -> None:
    with pytest.raises(SenderIdentityMissing) as caught:
        check_identity(EMPTY, where, kind)
    for field in missing:
        assert f"({field};" in caught.value.message or f"({field})" in caught.value.message
    others = {"name", "opt_out_email", "postal_address", "contact"} - set(missing)
    for field in others:
        assert f"({field}" not in caught.value.message


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (Jurisdiction.UK, "opt_out_email"),
        (Jurisdiction.UK, "name"),
        (Jurisdiction.US, "postal_address"),
        (Jurisdiction.CA, "contact"),
        (Jurisdiction.CA, "postal_address"),
    ],
)
def test_each_requirement_alone(where: Jurisdiction, field: str) -> None:
    blank: dict[str, Any] = {field: "   " if field == "name" else None}
    identity = dataclasses.replace(FULL, **blank)
    with pytest.raises(SenderIdentityMissing, match=field):
        check_identity(identity, where, TemplateClass.MARKETING)


def test_us_needs_no_name_but_a_postal_address() -> None:
    identity = SenderIdentity(name="", from_address="a@example.com", postal_address="PO Box 1")
    check_identity(identity, Jurisdiction.US, TemplateClass.MARKETING)


@pytest.mark.parametrize("name", ["support@paypal.com", "PayPal <service@paypal.com>"])
def test_display_name_that_looks_like_an_address_conceals(name: str) -> None:
    with pytest.raises(SenderIdentityMissing, match="conceal"):
        check_identity(dataclasses.replace(FULL, name=name), Jurisdiction.US, TemplateClass.SERVICE)


def test_name_with_at_sign_but_no_address_is_fine() -> None:
    identity = dataclasses.replace(FULL, name="Cafe @ Home")
    check_identity(identity, Jurisdiction.UK, TemplateClass.MARKETING)


SHOWN_AS = {
    "name": "sender name",
    "from_address": "from address",
    "reply_to": "reply-to address",
    "opt_out_email": "opt-out address",
}


@pytest.mark.parametrize("field", list(SHOWN_AS))
@pytest.mark.parametrize(
    "payload", ["\r\nBcc: x@evil.example", "\n", "\r", "\0", "=?UTF-8?Q?=0A?="]
)
def test_header_bound_values_refuse_injection(field: str, payload: str) -> None:
    value = "a@example.com" + payload if field != "name" else "Example" + payload
    with pytest.raises(HeaderInjection, match=SHOWN_AS[field]):
        check_identity(
            dataclasses.replace(FULL, **{field: value}), Jurisdiction.UK, TemplateClass.MARKETING
        )


@pytest.mark.parametrize("field", ["from_address", "reply_to", "opt_out_email"])
def test_addresses_are_parsed(field: str) -> None:
    with pytest.raises(InvalidAddress):
        check_identity(
            dataclasses.replace(FULL, **{field: "not an address"}),
            Jurisdiction.UK,
            TemplateClass.MARKETING,
        )


def test_multi_line_postal_address_is_fine() -> None:
    check_identity(FULL, Jurisdiction.CA, TemplateClass.MARKETING)


# --- footers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", list(Jurisdiction))
def test_text_footer_shows_identity_and_link(where: Jurisdiction) -> None:
    out = render(footer_text(FULL, where, TemplateClass.MARKETING), autoescape=False)
    assert "Example Ltd" in out
    assert "1 High Street\nLondon N1 1AA" in out
    assert "+44 20 7946 0000" in out
    assert f"Unsubscribe: {URL}" in out
    assert "optout@example.com" in out
    assert (ADVERTISEMENT in out) is (where is Jurisdiction.US)
    assert out.endswith("\n")


@pytest.mark.parametrize("where", list(Jurisdiction))
def test_html_footer_shows_identity_and_link(where: Jurisdiction) -> None:
    out = render(footer_html(FULL, where, TemplateClass.MARKETING), autoescape=True)
    assert "Example Ltd" in out
    assert "1 High Street<br>London N1 1AA" in out
    assert 'href="https://example.com/u/t1.abc?x=1&amp;y=2"' in out
    assert 'href="mailto:optout@example.com"' in out
    assert (ADVERTISEMENT in out) is (where is Jurisdiction.US)


def test_service_mail_is_not_marked_as_advertisement() -> None:
    for footer, escape in ((footer_text, False), (footer_html, True)):
        out = render(footer(FULL, Jurisdiction.US, TemplateClass.SERVICE), autoescape=escape)
        assert ADVERTISEMENT not in out


HOSTILE = "Acme {{ 7*7 }} {% raw %}{# x #}{% endraw %} <b>&'\"} {"


def test_footer_values_are_never_read_as_jinja() -> None:
    identity = dataclasses.replace(FULL, name=HOSTILE, postal_address=HOSTILE, contact=HOSTILE)
    text = render(footer_text(identity, Jurisdiction.CA, TemplateClass.MARKETING), False)
    assert text.count(HOSTILE) == 3
    assert "49" not in text
    page = render(footer_html(identity, Jurisdiction.CA, TemplateClass.MARKETING), True)
    assert "<b>" not in page
    assert "49" not in page
    assert html.unescape(page).count(HOSTILE) == 3


def test_footer_html_is_safe_without_autoescape_too() -> None:
    identity = dataclasses.replace(FULL, name="<script>alert(1)</script>")
    page = render(footer_html(identity, Jurisdiction.UK, TemplateClass.MARKETING), False)
    assert "<script>" not in page
