"""SMTP URLs: defaults, options, percent-decoding, errors that never echo the password."""

from __future__ import annotations

import pytest

from consentry.domain.errors import InvalidMailURL
from consentry.mail.smtp_url import SMTPTarget, parse_smtp_url

SECRET = "s3cret-PW"


def test_smtp_defaults_to_port_25_auto_starttls_and_verification() -> None:
    target = parse_smtp_url("smtp://mail.example.org")
    assert target == SMTPTarget("smtp", "mail.example.org", 25)
    assert (target.starttls, target.verify_tls, target.timeout) == ("auto", True, 60.0)
    assert target.username is None and target.password is None and target.local_hostname is None


def test_smtps_defaults_to_port_465() -> None:
    target = parse_smtp_url("smtps://mail.example.org")
    assert (target.scheme, target.port) == ("smtps", 465)


def test_user_and_password_are_percent_decoded() -> None:
    target = parse_smtp_url("smtp://us%40er:p%3Ass%2Fw%40rd@mail.example.org:587")
    assert (target.username, target.password, target.port) == ("us@er", "p:ss/w@rd", 587)


def test_query_options_are_parsed() -> None:
    target = parse_smtp_url(
        "smtp://127.0.0.1:2525?starttls=require&verify=false&timeout=2.5&helo=out.example.org"
    )
    assert target.starttls == "require"
    assert target.verify_tls is False
    assert target.timeout == 2.5
    assert target.local_hostname == "out.example.org"
    assert parse_smtp_url("smtp://h?starttls=never&local_hostname=a.b").local_hostname == "a.b"
    assert parse_smtp_url("smtp://h?starttls=never").starttls == "never"


def test_ipv6_host_keeps_its_address_and_where_brackets_it() -> None:
    target = parse_smtp_url("smtp://[::1]:2525")
    assert target.host == "::1"
    assert target.where == "[::1]:2525"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"http://u:{SECRET}@h", "scheme"),
        (f"smtp://u:{SECRET}@:25", "no host"),
        (f"smtp://u:{SECRET}@h:99999", "port"),
        (f"smtp://u:{SECRET}@h:abc", "port"),
        (f"smtp://u:{SECRET}@h:0", "port 0"),
        (f"smtp://u:{SECRET}@h/path", "path"),
        (f"smtp://u:{SECRET}@h#frag", "fragment"),
        (f"smtp://u:{SECRET}@h?bogus=1", "unknown option"),
        (f"smtp://u:{SECRET}@h?starttls=maybe", "starttls"),
        (f"smtps://u:{SECRET}@h?starttls=require", "smtps"),
        (f"smtp://u:{SECRET}@h?verify=perhaps", "verify"),
        (f"smtp://u:{SECRET}@h?timeout=-1", "timeout"),
        (f"smtp://u:{SECRET}@h?timeout=nan", "timeout"),
        (f"smtp://u:{SECRET}@h?timeout=1&timeout=2", "twice"),
        (f"smtp://u:{SECRET}@h?helo=bad%20name", "helo"),
        (f"smtp://:{SECRET}@h", "empty user"),
        ("smtp://user@h", "no password"),
        (f"smtp://u:{SECRET}@h x", "whitespace"),
        ("", "empty"),
    ],
)
def test_bad_urls_raise_naming_the_problem_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(InvalidMailURL) as caught:
        parse_smtp_url(url)
    assert problem in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_repr_and_str_hide_the_password() -> None:
    target = parse_smtp_url(f"smtp://user:{SECRET}@mail.example.org:587?verify=false")
    assert SECRET not in repr(target)
    assert SECRET not in str(target)
    assert "password='***'" in repr(target)
    assert str(target) == "smtp://user:***@mail.example.org:587?verify=false"


def test_redacted_url_round_trips_everything_but_the_password() -> None:
    url = "smtp://u:x@h:2525?starttls=never&verify=false&timeout=5&helo=a.example"
    target = parse_smtp_url(url)
    again = parse_smtp_url(target.redacted_url().replace("***", "x"))
    assert again == target
