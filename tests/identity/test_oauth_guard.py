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
