"""Checking an access token from the identity provider: a JWT against its JWKS, or an opaque token
through introspection (RFC 7662). What comes out is a ``Principal``; what fails is a ``Rejected``
naming the OAuth error the ``WWW-Authenticate`` header carries.

JWT checks, in order: three base64url parts (a JWE or anything else is refused), a header ``alg`` in
the allowlist (asymmetric only: ``none`` and ``HS*`` never, so a token "signed" with the public key
as an HMAC secret fails before any key is touched), a ``kid`` the issuer's JWKS holds (the JWKS is
cached; an unknown ``kid`` refetches it at most once per ``jwks_refetch_s``, which is how a rotated
key is picked up), the signature (joserfc, authlib's JOSE library), then ``iss`` equal to the
issuer, ``aud`` containing this resource (RFC 8707), ``exp`` (required) and ``nbf``/``iat`` with
``leeway_s`` of clock skew.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from tollhouse.principal import Principal, clean_groups, usable_name
from tollhouse.server.oauth_config import OAuthSettings

HTTP_TIMEOUT_S = 10.0
MAX_TOKEN_CHARS = 16 * 1024
ACCESS_TOKEN_TYPES = ("jwt", "at+jwt")
"""``typ`` header values an access token may carry (RFC 9068 ``at+jwt``; many providers write ``JWT``)."""


class Rejected(Exception):
    """A token refused: ``status`` 401 (``invalid_token``) or 403 (``insufficient_scope``)."""

    def __init__(self, description: str, *, error: str = "invalid_token", status: int = 401) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status


class ProviderError(Exception):
    """The identity provider could not be reached or answered nonsense (a 503, not a 401)."""


def _b64json(part: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise Rejected("the token is not a well-formed JWT") from exc


async def discover(client: httpx.AsyncClient, issuer: str) -> dict[str, Any]:
    """The issuer's metadata: OpenID Connect discovery, else RFC 8414; its ``issuer`` must be ours."""
    split = issuer.split("/", 3)
    path = "/" + split[3] if len(split) > 3 else ""
    origin = "/".join(split[:3])
    urls = (
        issuer + "/.well-known/openid-configuration",
        origin + "/.well-known/oauth-authorization-server" + path,
    )
    last = ""
    for url in urls:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            last = f"{url}: {exc}"
            continue
        if response.status_code != 200:
            last = f"{url}: HTTP {response.status_code}"
            continue
        try:
            meta = response.json()
        except ValueError:
            last = f"{url}: not JSON"
            continue
        if not isinstance(meta, dict) or str(meta.get("issuer", "")).rstrip("/") != issuer:
            # A metadata document for another issuer is a mix-up, not a fallback.
            raise ProviderError(f"{url} names issuer {meta.get('issuer')!r}, not {issuer!r}")
        return meta
    raise ProviderError(f"cannot read the metadata of issuer {issuer} ({last})")


class JwksCache:
    """The issuer's signing keys, fetched from its metadata's ``jwks_uri`` and kept ``jwks_cache_s``."""

    def __init__(self, settings: OAuthSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.meta: dict[str, Any] | None = None
        self.keys: dict[str, dict[str, Any]] = {}
        self.fetched_at = 0.0
        self.fetches = 0
        self._lock = anyio.Lock()
        self._failed_at = -1e9
        self._failure = ""

    async def metadata(self) -> dict[str, Any]:
        if self.meta is None:
            # A provider that is down is asked again after jwks_refetch_s, not on every request
            # (each of which would otherwise wait for the HTTP timeout).
            if time.monotonic() - self._failed_at < self.settings.jwks_refetch_s:
                raise ProviderError(self._failure)
            try:
                self.meta = await discover(self.client, self.settings.issuer)
            except ProviderError as exc:
                self._failed_at, self._failure = time.monotonic(), str(exc)
                raise
        return self.meta

    async def _fetch(self) -> None:
        meta = await self.metadata()
        uri = meta.get("jwks_uri")
        if not isinstance(uri, str):
            raise ProviderError(f"issuer {self.settings.issuer} publishes no jwks_uri")
        try:
            response = await self.client.get(uri)
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"cannot fetch the JWKS at {uri}: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise ProviderError(f"the JWKS at {uri} is not a key set")
        keys = {}
        for key in body["keys"]:
            # Signing keys only, and only public ones: a "key" with private or symmetric material
            # published in a JWKS is a misconfiguration we will not verify with.
            if isinstance(key, dict) and isinstance(key.get("kid"), str) and key.get("use", "sig") == "sig":
                if key.get("kty") in ("RSA", "EC", "OKP") and "d" not in key:
                    keys[key["kid"]] = key
        self.keys = keys
        self.fetched_at = time.monotonic()
        self.fetches += 1

    async def key(self, kid: str) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            stale = now - self.fetched_at > self.settings.jwks_cache_s
            if stale or (kid not in self.keys and now - self.fetched_at >= self.settings.jwks_refetch_s):
                try:
                    await self._fetch()
                except ProviderError:
                    if not self.keys:
                        raise
                    # Keys we already hold stay good while the provider is unreachable; try again
                    # after jwks_refetch_s rather than on every request.
                    self.fetched_at = now - self.settings.jwks_cache_s + self.settings.jwks_refetch_s
            found = self.keys.get(kid)
        if found is None:
            raise Rejected(
                f"the token was signed with key id {kid!r}, which issuer {self.settings.issuer} "
                "does not publish"
            )
        return found


@dataclass
class Verified:
    principal: Principal
    claims: dict[str, Any]
    client_id: str
    expires_at: int | None


class OAuthVerifier:
    """JWTs through the JWKS; opaque tokens (not three dot-separated parts) through introspection
    when ``introspection_credential`` is set, else refused."""

    def __init__(self, settings: OAuthSettings, resource: str, credential: Any = None) -> None:
        self.settings = settings
        self.resource = resource
        self.client = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, follow_redirects=False)
        self.jwks = JwksCache(settings, self.client)
        self._credential = credential
        """async () -> "client_id:client_secret" for introspection (a credential profile)."""

    async def aclose(self) -> None:
        await self.client.aclose()

    async def verify(self, token: str) -> Verified:
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable():
            raise Rejected("the token is empty, too long or not printable ASCII")
        parts = token.split(".")
        if len(parts) == 3:
            claims = await self._verify_jwt(token, parts)
        elif self.settings.introspection_credential:
            claims = await self._introspect(token)
        else:
            raise Rejected("the token is not a JWT and this server is not configured to introspect tokens")
        return self._principal(claims)

    async def _verify_jwt(self, token: str, parts: list[str]) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import import_key

        header = _b64json(parts[0])
        if not isinstance(header, dict):
            raise Rejected("the token header is not a JSON object")
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise Rejected(
                f"the token's algorithm {alg!r} is not accepted "
                f"(accepted: {', '.join(self.settings.algorithms)})"
            )
        if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
            # Keys come from the configured issuer's JWKS only, never from the token itself.
            raise Rejected("the token's header names its own key or critical extensions; refused")
        typ = header.get("typ")
        if typ is not None and str(typ).lower().removeprefix("application/") not in ACCESS_TOKEN_TYPES:
            # Another kind of JWT from the same issuer (a logout or security event token, a DPoP
            # proof) is not an access token, whatever its claims say.
            raise Rejected(f"the token is a {typ!r} JWT, not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Rejected("the token's header has no key id (kid)")
        jwk = await self.jwks.key(kid)
        try:
            key = import_key(jwk)
            decoded = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise Rejected(f"the token's signature does not verify: {exc.error}") from exc
        except ValueError as exc:
            raise Rejected("the token could not be decoded") from exc
        claims = dict(decoded.claims)
        self._check_claims(claims)
        return claims

    @staticmethod
    def _check_binding(claims: dict[str, Any]) -> None:
        cnf = claims.get("cnf")
        if isinstance(cnf, dict) and ("jkt" in cnf or "x5t#S256" in cnf):
            # RFC 9449 / RFC 8705: a sender-constrained token must come with its proof; as a plain
            # bearer token it may have been stolen.
            raise Rejected("the token is bound to a key (cnf); this server accepts bearer tokens only")

    def _check_claims(self, claims: dict[str, Any], *, need_exp: bool = True) -> None:
        self._check_binding(claims)
        now = time.time()
        leeway = self.settings.leeway_s
        if str(claims.get("iss", "")).rstrip("/") != self.settings.issuer:
            raise Rejected(f"the token was issued by {claims.get('iss')!r}, not {self.settings.issuer}")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        wanted = self.settings.audience
        if wanted is not None:
            ours = any(a == wanted for a in audiences)
        else:
            ours = any(isinstance(a, str) and _same_resource(a, self.resource) for a in audiences)
        if not ours:
            raise Rejected(f"the token is for audience {aud!r}, not this server ({wanted or self.resource})")
        exp = claims.get("exp")
        if need_exp and not isinstance(exp, int | float):
            raise Rejected("the token has no expiry (exp)")
        if isinstance(exp, int | float) and now > exp + leeway:
            raise Rejected("the token has expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, int | float) or value > now + leeway):
                raise Rejected(f"the token is not valid yet ({name} is in the future)")

    async def _introspect(self, token: str) -> dict[str, Any]:
        meta = await self.jwks.metadata()
        endpoint = meta.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            raise ProviderError(f"issuer {self.settings.issuer} has no introspection_endpoint")
        secret = await self._credential() if self._credential is not None else ""
        client_id, sep, client_secret = secret.partition(":")
        if not sep:
            raise ProviderError("the introspection credential must be client_id:client_secret")
        try:
            response = await self.client.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(client_id, client_secret),
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"introspection at {endpoint} failed: {exc}") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            raise ProviderError(f"introspection at {endpoint} answered HTTP {response.status_code}")
        if body.get("active") is not True:
            raise Rejected("the token is not active (revoked, expired or unknown to the issuer)")
        if body.get("token_type") not in (None, "Bearer", "bearer", "access_token"):
            raise Rejected(f"the token is a {body.get('token_type')}, not an access token")
        body.setdefault("iss", self.settings.issuer)
        self._check_claims(body, need_exp=False)
        return body

    def _principal(self, claims: dict[str, Any]) -> Verified:
        settings = self.settings
        name = claims.get(settings.principal_claim)
        if name is None and settings.principal_claim == "sub" and "sub" not in claims:
            # RFC 7662 makes sub optional; a client acting for itself is named by its client id,
            # as RFC 9068 names it in a JWT (sub = client_id for client credentials).
            name = claims.get("client_id")
        if not isinstance(name, str) or not name:
            raise Rejected(f"the token has no {settings.principal_claim!r} claim to name its principal")
        if not usable_name(name):
            raise Rejected(f"the token's {settings.principal_claim!r} claim is not a printable name")
        scope = claims.get("scope", claims.get("scp", ""))
        scopes = tuple(scope.split() if isinstance(scope, str) else [s for s in scope if isinstance(s, str)])
        access = settings.access_of(scopes)
        if access is None:
            raise Rejected(
                f"the token grants none of this server's scopes ({', '.join(settings.scopes)})",
                error="insufficient_scope",
                status=403,
            )
        principal = Principal(
            name=name,
            groups=clean_groups(claims.get(settings.groups_claim)),
            scopes=scopes,
            read_only=access == "read",
            source="oauth",
        )
        client_id = str(claims.get("client_id") or claims.get("azp") or name)
        exp = claims.get("exp")
        return Verified(principal, claims, client_id, int(exp) if isinstance(exp, int | float) else None)


def _same_resource(a: str, b: str) -> bool:
    """Audience and resource compared as URLs: scheme and host without case, a trailing slash aside."""
    from urllib.parse import urlsplit

    pa, pb = urlsplit(a), urlsplit(b)
    return (
        pa.scheme.lower() == pb.scheme.lower()
        and (pa.netloc.lower() == pb.netloc.lower())
        and pa.path.rstrip("/") == pb.path.rstrip("/")
        and pa.query == pb.query
    )
