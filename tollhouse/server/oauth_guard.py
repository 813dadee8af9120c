"""The bearer check in front of ``/mcp``, and the protected resource metadata (RFC 9728).

One ASGI layer for static tokens and OAuth alike, so every refusal looks the same: ``401`` with
``WWW-Authenticate: Bearer resource_metadata="…"`` when no usable credential was sent, plus
``error="invalid_token"`` when one was and it failed, ``403 error="insufficient_scope"`` with the
scopes that would do, ``400 error="invalid_request"`` for a request that sends its credential in a
way this server does not read (in the query string, in two ``Authorization`` headers). The scheme
name is matched without case (RFC 9110: ``bearer`` is ``Bearer``).

A request that passes carries the principal on ``tollhouse.principal.current`` and the SDK's
``AccessToken`` on ``scope["user"]`` (the SDK binds a session to it) and on its auth context.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tollhouse import principal as principal_mod
from tollhouse.principal import Principal
from tollhouse.server.oauth_config import OAuthSettings
from tollhouse.server.oauth_verify import OAuthVerifier, ProviderError, Rejected

log = logging.getLogger("tollhouse.server.oauth")

METADATA_PATH = "/.well-known/oauth-protected-resource"
QUERY_TOKEN_NAMES = {"access_token", "token", "bearer", "id_token"}

StaticCheck = Callable[[str], Awaitable[Any]]
"""The static-token check: ``AccessToken`` or None."""


def metadata_url(resource: str) -> str:
    """RFC 9728 section 3.1: the well-known path inserted before the resource's own path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{METADATA_PATH}{parts.path.rstrip('/')}"


class BearerGuard:
    def __init__(
        self,
        app: Any,
        *,
        mcp_path: str = "/mcp",
        static: StaticCheck | None = None,
        oauth: OAuthSettings | None = None,
        verifier: OAuthVerifier | None = None,
        resource: str | None = None,
    ) -> None:
        self.app = app
        self.mcp_path = mcp_path.rstrip("/")
        self.static = static
        self.oauth = oauth
        self.verifier = verifier
        self.resource = resource
        self.metadata_url = metadata_url(resource) if oauth is not None and resource else None

    # -- ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if self.metadata_url is not None and path.rstrip("/") in (
            METADATA_PATH,
            METADATA_PATH + self.mcp_path,
        ):
            await self._metadata(scope, send)
            return
        if path.rstrip("/") != self.mcp_path and not path.startswith(self.mcp_path + "/"):
            await self.app(scope, receive, send)  # /healthz and friends: not ours to guard
            return
        outcome = await self._authenticate(scope)
        if not isinstance(outcome, tuple):
            await outcome(send)
            return
        who, access_token = outcome
        from mcp.server.auth.middleware.auth_context import auth_context_var
        from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
        from starlette.authentication import AuthCredentials

        user = AuthenticatedUser(access_token)
        scope = {**scope, "user": user, "auth": AuthCredentials(list(access_token.scopes))}
        reset_user = auth_context_var.set(user)
        reset_who = principal_mod.current.set(who)
        try:
            await self.app(scope, receive, send)
        finally:
            principal_mod.current.reset(reset_who)
            auth_context_var.reset(reset_user)

    # -- deciding --------------------------------------------------------------------------------

    async def _authenticate(self, scope: dict[str, Any]) -> Any:
        query = scope.get("query_string", b"").decode("latin-1")
        if any(name.lower() in QUERY_TOKEN_NAMES for name, _ in parse_qsl(query, keep_blank_values=True)):
            return self._refuse(
                400, "invalid_request", "send the access token in the Authorization header, never in the URL"
            )
        values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"]
        if len(values) > 1:
            return self._refuse(400, "invalid_request", "more than one Authorization header")
        if not values:
            return self._refuse(401, None, "this server needs a bearer token")
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            return self._refuse(
                401, None, f"the {scheme or 'empty'} scheme is not accepted; send a bearer token"
            )
        if not token or " " in token:
            return self._refuse(401, "invalid_token", "the bearer token is missing or malformed")
        if self.static is not None:
            found = await self.static(token)
            if found is not None:
                name = found.subject or found.client_id
                return Principal(name=name, scopes=tuple(found.scopes), source="token"), found
        if self.verifier is None:
            return self._refuse(401, "invalid_token", "the token is not one this server accepts")
        try:
            verified = await self.verifier.verify(token)
        except Rejected as exc:
            return self._refuse(exc.status, exc.error, exc.description)
        except ProviderError as exc:
            log.warning("cannot check a token with the identity provider: %s", exc)
            return self._refuse(503, "temporarily_unavailable", "the identity provider cannot be reached")
        from mcp.server.auth.provider import AccessToken

        who = verified.principal
        claims = {"iss": verified.claims.get("iss")}
        access = AccessToken(
            token=token,
            client_id=verified.client_id,
            scopes=list(who.scopes),
            expires_at=verified.expires_at,
            resource=self.resource,
            subject=who.name,
            claims=claims,
        )
        return who, access

    def _challenge(self, error: str | None, description: str) -> str:
        parts = []
        if error is not None:
            parts.append(f'error="{error}"')
            parts.append(f'error_description="{_quote(description)}"')
        if error == "insufficient_scope" and self.oauth is not None:
            parts.append(f'scope="{" ".join(self.oauth.all_scopes())}"')
        if self.metadata_url is not None:
            parts.append(f'resource_metadata="{self.metadata_url}"')
        return "Bearer" + (" " + ", ".join(parts) if parts else "")

    def _refuse(self, status: int, error: str | None, description: str) -> Callable[[Any], Awaitable[None]]:
        body = json.dumps({"error": error or "unauthorized", "error_description": description}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status in (401, 403, 400):
            headers.append((b"www-authenticate", self._challenge(error, description).encode()))

        async def respond(send: Any) -> None:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return respond

    async def _metadata(self, scope: dict[str, Any], send: Any) -> None:
        assert self.oauth is not None
        if scope.get("method") not in ("GET", "HEAD"):
            body, status = b'{"error":"method not allowed"}', 405
        else:
            doc = {
                "resource": self.resource,
                "authorization_servers": [self.oauth.issuer],
                "scopes_supported": self.oauth.all_scopes(),
                "bearer_methods_supported": ["header"],
                "resource_name": "tollhouse",
            }
            body, status = json.dumps(doc).encode(), 200
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body if scope.get("method") != "HEAD" else b""})


def _quote(text: str) -> str:
    # A quoted-string may not hold '"' or '\' unescaped, nor control characters.
    return "".join(c for c in text if c.isprintable()).replace("\\", "\\\\").replace('"', "'")
