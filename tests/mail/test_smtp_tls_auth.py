"""SMTPConnection over TLS (STARTTLS and implicit) and with AUTH, against aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from consentry.domain.errors import TransportError
from tests.mail.test_smtp import envelopes, session
from tests.support.smtp_server import RecordingSMTPServer, run_in_loop


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_starttls_with_verification_off(tls_files: tuple[Path, Path], loop: str) -> None:
    with RecordingSMTPServer(tls_cert=tls_files) as server:
        url = server.url + "?starttls=require&verify=false"
        handoffs, conn = run_in_loop(session(url, envelopes(3)), loop)
        received = server.received()
    assert [h.outcome for h in handoffs] == ["accepted"] * 3
    assert "STARTTLS" not in conn.extensions  # the EHLO after the upgrade
    assert all(m.tls for m in received)


def test_starttls_with_a_context_that_trusts_the_cert(tls_files: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    with RecordingSMTPServer(tls_cert=tls_files) as server:
        handoffs, _ = run_in_loop(session(server.url, envelopes(2), ssl_context=context))
        assert all(m.tls for m in server.received())
    assert [h.outcome for h in handoffs] == ["accepted"] * 2


def test_starttls_with_an_untrusted_cert_fails(tls_files: tuple[Path, Path]) -> None:
    with RecordingSMTPServer(tls_cert=tls_files) as server, pytest.raises(TransportError) as err:
        run_in_loop(session(server.url, envelopes(1)))
    assert f"127.0.0.1:{server.port}" in str(err.value) and "starttls" in str(err.value)
    assert server.received() == []


def test_starttls_required_but_not_offered_fails(smtp_server: RecordingSMTPServer) -> None:
    with pytest.raises(TransportError, match="STARTTLS"):
        run_in_loop(session(smtp_server.url + "?starttls=require", envelopes(1)))


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_implicit_tls(tls_files: tuple[Path, Path], loop: str) -> None:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    with RecordingSMTPServer(tls_cert=tls_files, tls_mode="implicit") as server:
        assert server.url.startswith("smtps://")
        handoffs, _ = run_in_loop(session(server.url, envelopes(3), ssl_context=context), loop)
        handoffs += run_in_loop(session(server.url + "?verify=false", envelopes(1)), loop)[0]
        received = server.received()
    assert [h.outcome for h in handoffs] == ["accepted"] * 4
    assert len(received) == 4 and all(m.tls for m in received)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_succeeds(mechanism: str) -> None:
    users = {"alice": "wonder land"}
    with RecordingSMTPServer(auth_users=users, auth_mechanisms=[mechanism]) as server:
        url = f"smtp://alice:wonder%20land@127.0.0.1:{server.port}"
        handoffs, _ = run_in_loop(session(url, envelopes(2)))
        assert server.auth_attempts == [(mechanism, "alice", True)]
        assert len(server.received()) == 2
    assert [h.outcome for h in handoffs] == ["accepted"] * 2


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_failure_raises_transport_error_without_the_password(mechanism: str) -> None:
    with RecordingSMTPServer(auth_users={"alice": "right"}, auth_mechanisms=[mechanism]) as server:
        url = f"smtp://alice:wrong-secret@127.0.0.1:{server.port}"
        with pytest.raises(TransportError) as err:
            run_in_loop(session(url, envelopes(1)))
        assert server.received() == []
    message = str(err.value)
    assert f"127.0.0.1:{server.port}" in message and "auth" in message
    assert "wrong-secret" not in message


def test_auth_required_without_credentials_rejects_at_mail() -> None:
    with RecordingSMTPServer(auth_users={"alice": "right"}) as server:
        handoffs, _ = run_in_loop(session(server.url, envelopes(1)))
    assert (handoffs[0].outcome, handoffs[0].code, handoffs[0].stage) == ("rejected", 530, "mail")
