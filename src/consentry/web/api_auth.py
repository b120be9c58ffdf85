"""Bearer-token authentication of the admin API, with scopes (read < write < admin).

``Authorization: Bearer cst_...``; a missing, malformed, unknown or revoked token is answered 401
(all alike, with ``WWW-Authenticate: Bearer``), a valid token without the scope 403. The token is
checked by ``services.api_tokens`` (hash lookup); the caller's name becomes the actor
``api:<name>`` of every leaf the request writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from consentry.services import api_tokens
from consentry.services.context import Context

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="cst_<base64url>",
    description="A token made with `consentry token create NAME --scope read|write|admin`.",
)


@dataclass(frozen=True)
class Caller:
    """The token a request came with."""

    name: str
    scope: str

    @property
    def actor(self) -> str:
        return api_tokens.actor_of(self.name)


class AuthRefused(Exception):
    """Answered 401 (no valid token) or 403 (not enough scope); see ``api.py``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def requires(ctx: Context, scope: str) -> Callable[..., Caller]:
    """A FastAPI dependency that lets through callers whose token has ``scope`` or more, and
    then (so that an unauthenticated caller learns nothing more) refuses query parameters the
    operation does not declare, or declares once but were given more than once."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthRefused(401, "unauthorized", "send 'Authorization: Bearer <token>'")
        row = api_tokens.verify_token(ctx, credentials.credentials)
        if row is None:
            raise AuthRefused(401, "unauthorized", "the bearer token is not valid")
        if not api_tokens.allows(row.scope, scope):
            raise AuthRefused(
                403, "forbidden", f"this needs a token of scope {scope!r}; yours is {row.scope!r}"
            )
        _refuse_unknown_query(request)
        return Caller(row.name, row.scope)

    return check


def _refuse_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    declared = {p.alias for p in route.dependant.query_params} if route else set()
    given = request.query_params
    problems = [(name, "Unknown query parameter") for name in sorted(set(given) - declared)]
    problems += [(name, "Given more than once") for name in sorted(declared)
                 if len(given.getlist(name)) > 1]  # fmt: skip
    if problems:
        raise RequestValidationError(
            [{"type": "query", "loc": ("query", name), "msg": msg} for name, msg in problems]
        )
