"""Use cases of the admin API's bearer tokens: create (the secret is shown once), verify, list,
revoke.

A token is ``cst_`` followed by 256 random bits in unpadded base64url (43 characters). The store
keeps only the SHA-256 (hex) of the whole token string, so a database leak reveals no usable
token; a presented token is verified by looking its hash up, which takes the same time whatever
the secret's content. Names are unique for ever (a revoked name is not reused), so the actor
``api:<name>`` in a ledger leaf always means one token. Scopes are ordered: admin includes write,
write includes read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from consentry.domain.errors import InputError, NotFound
from consentry.ports import ApiTokenRow
from consentry.services.context import Context

SCOPES = ("read", "write", "admin")
PREFIX = "cst_"
#: Tokens are compared only by hash; this is the form a presented token must have.
TOKEN_FORM = re.compile(r"cst_[A-Za-z0-9_-]{43}\Z")
NAME_FORM = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
#: ``last_used_at`` is written at most once per interval per token, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``secret`` exists only here; the store keeps its hash."""

    name: str
    scope: str
    secret: str
    created_at: datetime


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def actor_of(name: str) -> str:
    """The actor recorded in the leaves written with the token called ``name``."""
    return f"api:{name}"


def allows(granted: str, needed: str) -> bool:
    """True when a token of scope ``granted`` may do what needs ``needed``."""
    if granted not in SCOPES or needed not in SCOPES:
        return False
    return SCOPES.index(granted) >= SCOPES.index(needed)


def create_token(ctx: Context, name: str, scope: str) -> IssuedToken:
    """Make a token; the secret is returned once and never stored."""
    if not NAME_FORM.match(name):
        raise InputError(
            f"token name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if scope not in SCOPES:
        raise InputError(f"token scope {scope!r} is not one of {', '.join(SCOPES)}")
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    secret = PREFIX + raw
    now = ctx.clock.now()
    if not ctx.store.add_api_token(ApiTokenRow(name, token_hash(secret), scope, now)):
        raise InputError(f"an API token named {name!r} exists already (names are never reused)")
    return IssuedToken(name, scope, secret, now)


def verify_token(ctx: Context, secret: str) -> ApiTokenRow | None:
    """The active token this secret belongs to, or None (malformed, unknown or revoked: the
    caller answers all three alike)."""
    if not TOKEN_FORM.match(secret):
        return None
    digest = token_hash(secret)
    row = ctx.store.api_token_by_hash(digest)
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.token_hash, digest):  # the store found it by this hash
        return None
    now = ctx.clock.now()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
        ctx.store.touch_api_token(row.name, now)
    return row


def list_tokens(ctx: Context) -> list[ApiTokenRow]:
    return ctx.store.api_tokens()


def revoke_token(ctx: Context, name: str) -> tuple[ApiTokenRow, bool]:
    """Revoke a token at once; returns the row and whether this call revoked it (False: it was
    revoked already). An unknown name is NotFound."""
    if ctx.store.api_token(name) is None:
        raise NotFound(f"no API token named {name!r}")
    revoked = ctx.store.revoke_api_token(name, ctx.clock.now())
    row = ctx.store.api_token(name)
    assert row is not None
    return row, revoked
