"""A real OpenID provider (npm ``oidc-provider``, tests/node/oidc/provider.mjs) on 127.0.0.1, and
`tollhouse serve --http` as its resource server. A test that cannot start the provider fails."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.nodeenv import node_package
from tests.server.conftest import CONFIG, HttpServer, make_workspace, stop

READ_ONLY_TOOL = "demo_note_read"
WRITE_TOOL = "demo_note_write"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Oidc:
    """The running provider: its issuer URL and the test-only admin endpoints."""

    def __init__(self, proc: subprocess.Popen[str], issuer: str) -> None:
        self.proc = proc
        self.issuer = issuer
        self.http = httpx.Client(timeout=10)

    def token(self, client: str, resource: str, scope: str = "tollhouse:read tollhouse:call") -> str:
        """An access token by client credentials (a bot)."""
        secret = "bot-secret"
        r = self.http.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
            auth=(client, secret),
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def keys(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.issuer}/admin/keys").json())

    def rotate(self) -> str:
        r = self.http.post(f"{self.issuer}/admin/rotate")
        assert r.status_code == 200, r.text
        return str(r.json()["kid"])

    def jwks_requests(self) -> int:
        return int(self.http.get(f"{self.issuer}/admin/stats").json()["jwks_requests"])

    def revoke(self, token: str, client: str) -> None:
        r = self.http.post(
            f"{self.issuer}/token/revocation", data={"token": token}, auth=(client, "bot-secret")
        )
        assert r.status_code == 200, r.text

    def sign(self, claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
        """A JWT signed with the provider's real current signing key (to vary one claim at a time)."""
        from joserfc import jwt
        from joserfc.jwk import import_key

        keys = self.keys()
        jwk = next(k for k in keys["keys"] if k["kid"] == keys["signing"])
        head = {"alg": "RS256", "typ": "at+jwt", "kid": jwk["kid"], **(header or {})}
        return jwt.encode(head, claims, import_key(jwk), algorithms=[head["alg"]])

    def sign_raw(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """RS256 by hand, for headers a JOSE library refuses to write (``crit``)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        from joserfc.jwk import import_key

        keys = self.keys()
        jwk = next(k for k in keys["keys"] if k["kid"] == keys["signing"])
        head = {"alg": "RS256", "kid": jwk["kid"], **header}
        enc = [b64url(json.dumps(part).encode()) for part in (head, claims)]
        signing_input = ".".join(enc).encode()
        signature = import_key(jwk).private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{enc[0]}.{enc[1]}.{b64url(signature)}"

    def claims(self, resource: str, **over: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "aud": resource,
            "sub": "bot",
            "client_id": "bot",
            "scope": "tollhouse:read tollhouse:call",
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_hex(8),
        }
        base.update(over)
        return {k: v for k, v in base.items() if v is not None}

    # -- a person in a browser -------------------------------------------------------------------

    def browse(self, url: str, login: str, client: httpx.Client | None = None) -> httpx.Response:
        """Follow a provider's pages as a browser would: redirects, auto-submitted and confirm forms,
        and our sign-in form (filled with ``login``). Returns the last response (a success page, or
        a redirect to a client's redirect_uri, which is not followed)."""
        c = client or httpx.Client(timeout=10)
        response = c.get(url)
        for _ in range(20):
            if response.is_redirect:
                target = str(response.request.url.join(response.headers["location"]))
                if not target.startswith(self.issuer):
                    return response
                response = c.get(target)
                continue
            form = re.search(r"<form[^>]*?action=\"([^\"]*)\"[^>]*>(.*?)</form>", response.text, re.S)
            if form is None:
                return response
            fields = {}
            for tag in re.finditer(r"<input([^>]*)>", form.group(2)):
                attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag.group(1)))
                if "name" in attrs:
                    fields[attrs["name"]] = html.unescape(attrs.get("value", ""))
            if "login" in fields:
                fields["login"] = login
            action = str(response.request.url.join(html.unescape(form.group(1))))
            response = c.post(action, data=fields)
        raise AssertionError("the provider's pages did not end")

    def user_token(self, login: str, resource: str, scope: str = "tollhouse:read tollhouse:call") -> str:
        """Authorization code + PKCE for the public client ``user-app``, signed in as ``login``."""
        return str(self.user_tokens(login, resource, scope)["access_token"])

    def user_tokens(
        self, login: str, resource: str, scope: str = "tollhouse:read tollhouse:call"
    ) -> dict[str, Any]:
        """The token response of authorization code + PKCE (``offline_access`` in ``scope``: a
        refresh token too)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://127.0.0.1/callback"
        query = httpx.QueryParams(
            {
                "client_id": "user-app",
                "response_type": "code",
                "redirect_uri": redirect,
                "scope": f"openid {scope}",
                "prompt": "consent" if "offline_access" in scope else "login",
                "resource": resource,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "s1",
            }
        )
        done = self.browse(f"{self.issuer}/auth?{query}", login)
        assert done.is_redirect, done.text[:500]
        params = parse_qs(urlsplit(done.headers["location"]).query)
        assert "code" in params, params
        r = self.http.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"][0],
                "redirect_uri": redirect,
                "client_id": "user-app",
                "code_verifier": verifier,
                "resource": resource,
            },
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


def start_oidc() -> Oidc:
    folder = node_package("oidc")
    proc = subprocess.Popen(
        ["node", str(folder / "provider.mjs"), "0"],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.match(r"listening (http://127\.0\.0\.1:\d+)", line)
    if match is None:
        proc.kill()
        proc.wait()
        pytest.fail(f"the OpenID provider did not start (said {line!r})")
    return Oidc(proc, match.group(1))


@pytest.fixture(scope="session")
def oidc() -> Iterator[Oidc]:
    provider = start_oidc()
    try:
        yield provider
    finally:
        provider.http.close()
        provider.proc.terminate()
        provider.proc.wait(5)


def oauth_config(issuer: str, extra: str = "") -> str:
    return (
        CONFIG
        + f"""
[http]
auth = "oauth"

[oauth]
issuer = "{issuer}"
leeway_s = 5
jwks_refetch_s = 60
"""
        + extra
    )


def start_oauth_server(root: Path, home: Path, config: str) -> HttpServer:
    """`serve --http` with ``config`` in a workspace at ``root``, operator home ``home``."""
    before = os.environ.get("TOLLHOUSE_HOME")
    os.environ["TOLLHOUSE_HOME"] = str(home)  # write_config trusts the file in this home
    try:
        make_workspace(root)
        write_config(root, config)
    finally:
        if before is None:
            os.environ.pop("TOLLHOUSE_HOME", None)
        else:
            os.environ["TOLLHOUSE_HOME"] = before
    proc = subprocess.Popen(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0"),
        cwd=root,
        env=subprocess_env(TOLLHOUSE_HOME=str(home)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"serving MCP over HTTP at (\S+)", line)
        if found:
            return HttpServer(proc, found.group(1), "", lines)
    stop(proc)
    raise AssertionError("server did not start:\n" + "".join(lines))


def mcp_post(url: str, token: str | None, body: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(kw.pop("headers", {}))
    body = body or {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    return httpx.post(url, content=json.dumps(body), headers=headers, timeout=10, **kw)
