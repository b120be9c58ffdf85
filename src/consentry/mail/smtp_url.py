"""Where the SMTP transport connects: ``smtp://`` and ``smtps://`` URLs parsed into a target.

    smtp://[user:pass@]host[:port][?starttls=auto|require|never][&verify=false][&timeout=30]
                                  [&helo=mail.example.org]
    smtps://[user:pass@]host[:port][?verify=false][&timeout=30][&helo=...]

``smtp`` defaults to port 25 and upgrades with STARTTLS when the server offers it (``auto``);
``smtps`` (implicit TLS) defaults to port 465. User and password are percent-decoded.
``verify=false`` accepts any certificate (self-signed test servers only). ``helo`` (or
``local_hostname``) is the name sent in EHLO; without it the client sends the address literal of
its own socket.

Errors name the problem and never echo the password; the target's ``repr`` hides it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from consentry.domain.errors import InvalidMailURL

StartTLS = Literal["auto", "require", "never"]

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_TIMEOUT = 60.0
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_QUERY_KEYS = ("starttls", "verify", "timeout", "helo", "local_hostname")


@dataclass(frozen=True, repr=False)
class SMTPTarget:
    """One SMTP server and how to talk to it."""

    scheme: Literal["smtp", "smtps"]
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: StartTLS = "auto"
    verify_tls: bool = True
    timeout: float = DEFAULT_TIMEOUT
    local_hostname: str | None = None

    @property
    def where(self) -> str:
        """``host:port`` for messages (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def redacted_url(self) -> str:
        """The URL with the password replaced by ``***``."""
        auth = ""
        if self.username is not None:
            auth = f"{self.username}:***@" if self.password is not None else f"{self.username}@"
        query = [f"starttls={self.starttls}"] if self.starttls != "auto" else []
        if not self.verify_tls:
            query.append("verify=false")
        if self.timeout != DEFAULT_TIMEOUT:
            query.append(f"timeout={self.timeout:g}")
        if self.local_hostname:
            query.append(f"helo={self.local_hostname}")
        tail = "?" + "&".join(query) if query else ""
        return f"{self.scheme}://{auth}{self.where}{tail}"

    def __repr__(self) -> str:
        password = "'***'" if self.password is not None else "None"
        return (
            f"SMTPTarget(scheme={self.scheme!r}, host={self.host!r}, port={self.port}, "
            f"username={self.username!r}, password={password}, starttls={self.starttls!r}, "
            f"verify_tls={self.verify_tls}, timeout={self.timeout}, "
            f"local_hostname={self.local_hostname!r})"
        )

    __str__ = redacted_url


def _bad(problem: str) -> InvalidMailURL:
    return InvalidMailURL(f"invalid SMTP URL: {problem}")


def _bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _bad(f"{key}={value!r} is not true or false")


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise _bad(f"timeout={value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise _bad(f"timeout={value!r} must be a positive number of seconds")
    return seconds


def _starttls(value: str) -> StartTLS:
    if value == "auto":
        return "auto"
    if value == "require":
        return "require"
    if value == "never":
        return "never"
    raise _bad(f"starttls={value!r} must be auto, require or never")


def _hostname(value: str) -> str:
    if not value or any(c.isspace() or c in "<>[]@" for c in value) or not value.isascii():
        raise _bad(f"helo={value!r} is not a host name")
    return value


def parse_smtp_url(url: str) -> SMTPTarget:
    """Parse an ``smtp://`` or ``smtps://`` URL; raise ``InvalidMailURL`` naming the problem."""
    if not isinstance(url, str) or not url.strip():
        raise _bad("empty")
    if any(c in url for c in "\r\n\t\0 "):
        raise _bad("contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad(f"scheme must be smtp or smtps, not {parts.scheme or 'missing'!r}")
    host = parts.hostname
    if not host:
        raise _bad("no host")
    try:
        port = parts.port
    except ValueError:
        raise _bad("port is not a number between 1 and 65535") from None
    if port is None:
        port = DEFAULT_PORTS[scheme]
    elif port == 0:
        raise _bad("port 0")
    if parts.path not in ("", "/"):
        raise _bad("a path is not allowed")
    if parts.fragment:
        raise _bad("a fragment is not allowed")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and not username:
        raise _bad("empty user name")
    if username is not None and password is None:
        raise _bad(f"user {username!r} has no password")
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _bad("malformed query string") from None
    for key, value in pairs:
        if key not in _QUERY_KEYS:
            raise _bad(f"unknown option {key!r} (known: {', '.join(_QUERY_KEYS)})")
        if key in options:
            raise _bad(f"option {key!r} given twice")
        options[key] = value
    if "helo" in options and "local_hostname" in options:
        raise _bad("give helo or local_hostname, not both")
    starttls = _starttls(options.get("starttls", "auto"))
    if scheme == "smtps" and "starttls" in options:
        raise _bad("starttls does not apply to smtps (implicit TLS)")
    helo = options.get("helo", options.get("local_hostname"))
    return SMTPTarget(
        scheme="smtps" if scheme == "smtps" else "smtp",
        host=host,
        port=port,
        username=username,
        password=password,
        starttls=starttls,
        verify_tls=_bool("verify", options["verify"]) if "verify" in options else True,
        timeout=_timeout(options["timeout"]) if "timeout" in options else DEFAULT_TIMEOUT,
        local_hostname=_hostname(helo) if helo is not None else None,
    )
