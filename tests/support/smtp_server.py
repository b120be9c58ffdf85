"""A recording SMTP server on 127.0.0.1 for the tests: aiosmtpd in a thread.

    with RecordingSMTPServer(script={"bounce@x.test": (550, "5.1.1 no such user")}) as server:
        ...send to server.url...
        server.wait_for(10, timeout=5)
        assert server.received()[0].data == b"..."

aiosmtpd does not advertise PIPELINING; this server does (``advertise_pipelining``), and since
aiosmtpd reads one command at a time from its stream buffer, pipelined input is processed in order.
Options: STARTTLS or implicit TLS with a self-signed certificate (``self_signed_cert``), required
AUTH (``auth_users``, optionally only some ``auth_mechanisms``), SMTPUTF8 on or off, scripted RCPT
replies per address, and ``drop_after_dot_for``: after the data of a message to one of those
recipients the server records it and closes the connection without replying.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

import uvloop
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

T = TypeVar("T")


def run_in_loop(main: Coroutine[Any, Any, T], loop: str = "asyncio") -> T:
    """Run ``main`` on a fresh default asyncio loop or (``loop="uvloop"``) a uvloop loop."""
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def self_signed_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: (certfile, keyfile) in tmp_path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server took it (after the final dot)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float
    peer: Any
    mail_options: list[str]
    dropped: bool  # the server closed the connection instead of replying
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)


class _Handler:
    def __init__(self, server: RecordingSMTPServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.server.advertise_pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        scripted = self.server.script.get(address)
        if scripted is not None:
            return f"{scripted[0]} {scripted[1]}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        drop = bool(self.server.drop_after_dot_for.intersection(envelope.rcpt_tos))
        tls = smtp.transport is not None and smtp.transport.get_extra_info("ssl_object") is not None
        self.server._record(session, envelope, drop, tls)
        if drop:
            cast(asyncio.Transport, smtp.transport).abort()
            await asyncio.Event().wait()  # cancelled when the connection is lost
        return "250 2.0.0 OK queued"


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP with AUTH enforced by us (aiosmtpd warns when AUTH is required without
    TLS, and the tests turn warnings into errors)."""

    def __init__(self, handler: Any, require_auth: bool, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._require_auth = require_auth

    async def check_auth_needed(self, caller_method: str) -> bool:
        assert self.session is not None
        if self._require_auth and not self.session.authenticated:
            await self.push("530 5.7.0 Authentication required")
            return True
        return False


class _Controller(Controller):
    def __init__(self, recorder: RecordingSMTPServer, **kwargs: Any) -> None:
        self.recorder = recorder
        super().__init__(_Handler(recorder), hostname="127.0.0.1", port=0, **kwargs)

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, bool(self.recorder.auth_users), **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        self.port = cast(asyncio.Server, self.server).sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class RecordingSMTPServer:
    """See the module docstring. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        *,
        advertise_pipelining: bool = True,
        tls_cert: tuple[Path, Path] | None = None,
        tls_mode: Literal["starttls", "implicit"] = "starttls",
        auth_users: Mapping[str, str] | None = None,
        auth_mechanisms: Iterable[str] | None = None,
        script: Mapping[str, tuple[int, str]] | None = None,
        smtputf8: bool = True,
        drop_after_dot_for: Iterable[str] = (),
        data_size_limit: int = 33554432,
    ) -> None:
        self.advertise_pipelining = advertise_pipelining
        self.tls_cert = tls_cert
        self.tls_mode = tls_mode
        self.auth_users = dict(auth_users or {})
        self.script = dict(script or {})
        self.drop_after_dot_for = set(drop_after_dot_for)
        self.messages: list[ReceivedMessage] = []
        self.auth_attempts: list[tuple[str, str, bool]] = []
        self._cond = threading.Condition()
        kwargs: dict[str, Any] = {
            "server_hostname": "consentry-test.invalid",
            "enable_SMTPUTF8": smtputf8,
            "data_size_limit": data_size_limit,
        }
        if self.auth_users:
            kwargs["auth_require_tls"] = False
            kwargs["authenticator"] = self._authenticate
            offered = {m.upper() for m in auth_mechanisms or ("PLAIN", "LOGIN")}
            kwargs["auth_exclude_mechanism"] = sorted({"PLAIN", "LOGIN"} - offered)
        if tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
            if tls_mode == "implicit":
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
        self._controller = _Controller(self, **kwargs)

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        login = data.login.decode("utf-8", "replace")
        ok = self.auth_users.get(login) == data.password.decode("utf-8", "replace")
        with self._cond:
            self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False)

    def _record(self, session: Session, envelope: Envelope, dropped: bool, tls: bool) -> None:
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            received_at=time.time(),
            peer=session.peer,
            mail_options=list(envelope.mail_options),
            dropped=dropped,
            tls=tls,
        )
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def url(self) -> str:
        scheme = "smtps" if self.tls_cert is not None and self.tls_mode == "implicit" else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def received(self) -> list[ReceivedMessage]:
        """A copy of the messages received so far (thread-safe)."""
        with self._cond:
            return list(self.messages)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; raise ``TimeoutError`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"{len(self.messages)} of {count} messages within {timeout}s")
            return list(self.messages)

    def start(self) -> RecordingSMTPServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> RecordingSMTPServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
