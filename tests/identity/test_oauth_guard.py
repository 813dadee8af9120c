"""The bearer check in-process (no provider needed): an unreachable provider is a 503, never a 401
or a pass; tokens that are not printable ASCII or are huge are refused before any network use."""

from __future__ import annotations

import socket

import httpx
import pytest

from tollhouse.server.oauth_config import OAuthSettings
from tollhouse.server.oauth_guard import BearerGuard
from tollhouse.server.oauth_verify import OAuthVerifier

RESOURCE = "http://127.0.0.1:8765/mcp"
META = 'resource_metadata="http://127.0.0.1:8765/.well-known/oauth-protected-resource/mcp"'


async def app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"reached"})


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def guard() -> tuple[BearerGuard, OAuthVerifier]:
    settings = OAuthSettings(issuer=f"http://127.0.0.1:{closed_port()}")
    verifier = OAuthVerifier(settings, RESOURCE)
    return BearerGuard(app, oauth=settings, verifier=verifier, resource=RESOURCE), verifier


@pytest.mark.anyio
async def test_an_unreachable_provider_is_503_and_nothing_runs() -> None:
    g, verifier = guard()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(g), base_url="http://127.0.0.1:8765") as c:
        r = await c.post("/mcp", headers={"Authorization": "Bearer a.b.c"})
        assert r.status_code == 401  # not a JWT header: refused before the provider is needed
        header = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0"  # {"alg":"RS256","kid":"k1"}
        r = await c.post("/mcp", headers={"Authorization": f"Bearer {header}.e30.sig"})
        assert r.status_code == 503 and r.text != "reached"
        assert "www-authenticate" not in r.headers
        assert r.json() == {
            "error": "temporarily_unavailable",
            "error_description": "the identity provider cannot be reached",
        }
        # Paths other than /mcp are not the guard's: health checks and the like pass untouched.
        assert (await c.get("/healthz")).text == "reached"
    await verifier.aclose()


@pytest.mark.anyio
async def test_odd_tokens_are_refused_without_asking_the_provider() -> None:
    g, verifier = guard()
    bad = (
        'Bearer error="invalid_token", '
        'error_description="the token is empty, too long or not printable ASCII", '
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(g), base_url="http://127.0.0.1:8765") as c:
        for token in ("x" * 20000, "tok\u00e9n".encode().decode("latin-1"), "a\tb"):
            r = await c.post("/mcp", headers=[(b"authorization", b"Bearer " + token.encode("latin-1"))])
            assert r.status_code == 401, token[:20]
            assert r.headers["www-authenticate"] == bad + META
    assert verifier.jwks.fetches == 0
    await verifier.aclose()


@pytest.mark.anyio
async def test_jwks_cache_refetch_limit_and_outage() -> None:
    from tollhouse.server.oauth_verify import JwksCache, ProviderError, Rejected

    issuer = "https://idp.example"
    state = {"up": True, "jwks": 0, "meta": 0, "keys": [{"kty": "RSA", "kid": "k1", "n": "x", "e": "AQAB"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            raise httpx.ConnectError("down", request=request)
        if request.url.path.endswith("openid-configuration"):
            state["meta"] += 1
            return httpx.Response(200, json={"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})
        state["jwks"] += 1
        return httpx.Response(200, json={"keys": state["keys"]})

    settings = OAuthSettings(issuer=issuer, jwks_refetch_s=60, jwks_cache_s=3600)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        cache = JwksCache(settings, client)
        assert (await cache.key("k1"))["kid"] == "k1"
        for _ in range(3):  # unknown ids inside jwks_refetch_s: no fetch
            with pytest.raises(Rejected, match="does not publish"):
                await cache.key("k2")
        assert state["jwks"] == 1
        # The cache went stale and the provider is down: the keys held stay usable.
        cache.fetched_at -= 4000
        state["up"] = False
        assert (await cache.key("k1"))["kid"] == "k1"
        # A provider never reached: a ProviderError, and no second attempt within jwks_refetch_s.
        fresh = JwksCache(settings, client)
        for _ in range(2):
            with pytest.raises(ProviderError):
                await fresh.key("k1")
        assert state["meta"] == 1
        # Private or symmetric "keys" in a JWKS are never used to verify.
        state.update(
            up=True, keys=[{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}, {"kty": "RSA", "kid": "p", "d": "x"}]
        )
        other = JwksCache(settings, client)
        with pytest.raises(Rejected):
            await other.key("s")
        with pytest.raises(Rejected):
            await other.key("p")
