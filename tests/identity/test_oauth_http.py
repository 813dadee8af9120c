"""`serve --http` as an OAuth 2.1 resource server for a real OpenID provider: each refusal with its
exact status and `WWW-Authenticate`, and what an accepted token becomes (operator, groups, tools)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.identity.conftest import (
    READ_ONLY_TOOL,
    WRITE_TOOL,
    Oidc,
    mcp_post,
    oauth_config,
    start_oauth_server,
)
from tests.server.conftest import HttpServer, outcomes, stop

STATIC_TOKEN = "static-ci-token-0123456789abcdef0123456789"
DEV_RULE = """
[[rules]]
id = "dev-no-notes"
tools = ["demo_note_read"]
paths = ["notes/**"]
principals = ["group:dev"]
effect = "deny"
"""
INTROSPECTION = """
introspection_credential = "oauth:introspect"

[credentials."oauth:introspect"]
source = "env:TH_TEST_INTROSPECT"
"""


class Rs:
    def __init__(self, server: HttpServer, root: Path, oidc: Oidc) -> None:
        self.server = server
        self.url = server.url
        self.root = root
        self.oidc = oidc
        base = server.url.removesuffix("/mcp")
        self.metadata = f"{base}/.well-known/oauth-protected-resource/mcp"

    def challenge(self, error: str | None = None, description: str = "", scope: str | None = None) -> str:
        parts = []
        if error:
            parts += [f'error="{error}"', f'error_description="{description}"']
        if scope:
            parts.append(f'scope="{scope}"')
        parts.append(f'resource_metadata="{self.metadata}"')
        return "Bearer " + ", ".join(parts)


@pytest.fixture(scope="module")
def rs(oidc: Oidc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rs]:
    import os

    root = tmp_path_factory.mktemp("oauth-ws") / "ws"
    home = tmp_path_factory.mktemp("oauth-home")
    config = oauth_config(oidc.issuer, INTROSPECTION.replace("\n[cred", "\njwks_refetch_s = 1\n[cred", 1))
    config = config.replace("jwks_refetch_s = 60\n", "").replace("[http]", DEV_RULE + "\n[http]", 1)
    digest = hashlib.sha256(STATIC_TOKEN.encode()).hexdigest()
    config = config.replace(
        'auth = "oauth"\n', f'auth = "oauth"\ntokens = [{{ principal = "ci-bot", sha256 = "{digest}" }}]\n'
    )
    os.environ["TH_TEST_INTROSPECT"] = "tollhouse-rs:rs-secret"
    try:
        server = start_oauth_server(root, home, config)
    finally:
        os.environ.pop("TH_TEST_INTROSPECT", None)
    try:
        yield Rs(server, root, oidc)
    finally:
        stop(server.proc)


def expect(response: httpx.Response, status: int, challenge: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("www-authenticate") == challenge


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- metadata and the plain challenge --------------------------------------------------------------


def test_protected_resource_metadata_names_the_issuer(rs: Rs) -> None:
    base = rs.url.removesuffix("/mcp")
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        r = httpx.get(base + path, timeout=5)
        assert r.status_code == 200, path
        assert r.json() == {
            "resource": rs.url,
            "authorization_servers": [rs.oidc.issuer],
            "scopes_supported": ["tollhouse:read", "tollhouse:call"],
            "bearer_methods_supported": ["header"],
            "resource_name": "tollhouse",
        }
    assert httpx.post(base + "/.well-known/oauth-protected-resource/mcp", timeout=5).status_code == 405


def test_no_token_gets_401_with_resource_metadata_only(rs: Rs) -> None:
    expect(mcp_post(rs.url, None), 401, rs.challenge())
    # Another scheme is no credential at all for this server.
    r = mcp_post(rs.url, None, headers={"Authorization": "Basic Ym90OmJvdC1zZWNyZXQ="})
    expect(r, 401, rs.challenge())


# -- accepted tokens ---------------------------------------------------------------------------------


def test_valid_bot_token_and_lowercase_scheme_are_accepted(rs: Rs) -> None:
    token = rs.oidc.token("bot", rs.url)
    assert mcp_post(rs.url, token).status_code == 200
    r = mcp_post(rs.url, None, headers={"Authorization": f"bearer {token}"})  # RFC 9110: no case
    assert r.status_code == 200, r.text


async def _call(url: str, token: str, tool: str, args: dict[str, Any]) -> Any:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    async with Client(streamable_http_client(url, http_client=client)) as session:
        listed = {t.name for t in (await session.list_tools()).tools}
        result = await session.call_tool(tool, args)
        return listed, result


@pytest.mark.anyio
async def test_a_person_is_the_operator_in_receipts_with_groups(rs: Rs) -> None:
    token = rs.oidc.user_token("alice", rs.url)
    listed, result = await _call(rs.url, token, READ_ONLY_TOOL, {"path": "notes/welcome.txt"})
    assert WRITE_TOOL in listed
    assert not result.is_error
    row = outcomes(rs.root, READ_ONLY_TOOL)[-1]
    assert row["operator"] == "alice"
    assert row["details"]["operator_groups"] == ["sre"]
    assert row["channel"] == "mcp-http"


@pytest.mark.anyio
async def test_policy_principals_match_the_token_groups(rs: Rs) -> None:
    token = rs.oidc.user_token("bob", rs.url)  # bob is in group dev
    _, result = await _call(rs.url, token, READ_ONLY_TOOL, {"path": "notes/welcome.txt"})
    assert result.is_error and "dev-no-notes" in result.content[0].text
    row = outcomes(rs.root, READ_ONLY_TOOL)[-1]
    assert (row["operator"], row["outcome"], row["rules"]) == ("bob", "denied", ["dev-no-notes"])
    assert row["details"]["operator_groups"] == ["dev"]


@pytest.mark.anyio
async def test_read_scope_lists_and_runs_read_only_tools_only(rs: Rs) -> None:
    token = rs.oidc.token("bot-read", rs.url, scope="tollhouse:read")
    listed, result = await _call(rs.url, token, WRITE_TOOL, {"path": "notes/x.txt", "text": "hi"})
    assert READ_ONLY_TOOL in listed and WRITE_TOOL not in listed
    assert result.is_error
    text = result.content[0].text
    assert "not served to this caller: its access token grants read-only tools only" in text
    row = outcomes(rs.root, WRITE_TOOL)[-1]
    assert row["operator"] == "bot-read" and row["outcome"] == "error"
    assert not (rs.root / "notes" / "x.txt").exists()


# -- refused tokens ----------------------------------------------------------------------------------


def test_expired_token(rs: Rs) -> None:
    now = int(time.time())
    token = rs.oidc.sign(rs.oidc.claims(rs.url, iat=now - 600, exp=now - 60))
    expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", "the token has expired"))
    # Within the configured leeway (5 s) it still counts; a missing exp never does.
    assert mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url, exp=now - 2))).status_code == 200
    r = mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url, exp=None)))
    expect(r, 401, rs.challenge("invalid_token", "the token has no expiry (exp)"))


def test_not_yet_valid_token(rs: Rs) -> None:
    token = rs.oidc.sign(rs.oidc.claims(rs.url, nbf=int(time.time()) + 120))
    expect(
        mcp_post(rs.url, token),
        401,
        rs.challenge("invalid_token", "the token is not valid yet (nbf is in the future)"),
    )


def test_wrong_audience(rs: Rs) -> None:
    other = "http://127.0.0.1:1/mcp"
    token = rs.oidc.token("bot", other)  # a real token, for another resource
    why = f"the token is for audience '{other}', not this server ({rs.url})"
    expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))
    # A list of audiences holding ours is fine; a prefix of ours is not ours.
    assert mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url, aud=[other, rs.url]))).status_code == 200
    r = mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url, aud=rs.url + "x")))
    assert r.status_code == 401


def test_wrong_issuer(rs: Rs) -> None:
    token = rs.oidc.sign(rs.oidc.claims(rs.url, iss="https://evil.example"))
    why = f"the token was issued by 'https://evil.example', not {rs.oidc.issuer}"
    expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))


def test_missing_scope_gets_403_naming_the_scopes(rs: Rs) -> None:
    token = rs.oidc.sign(rs.oidc.claims(rs.url, scope="openid profile"))
    why = "the token grants none of this server's scopes (tollhouse:read, tollhouse:call)"
    expect(
        mcp_post(rs.url, token), 403, rs.challenge("insufficient_scope", why, "tollhouse:read tollhouse:call")
    )


def test_none_algorithm_is_refused(rs: Rs) -> None:
    kid = rs.oidc.keys()["signing"]
    claims = rs.oidc.claims(rs.url)
    accepted = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
    for alg in ("none", "None", "NONE"):
        token = f"{b64({'alg': alg, 'kid': kid})}.{b64(claims)}."
        why = f"the token's algorithm '{alg}' is not accepted (accepted: {accepted})"
        expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))


def test_hs256_signed_with_the_public_key_is_refused(rs: Rs) -> None:
    import hashlib
    import hmac

    from joserfc.jwk import import_key

    keys = rs.oidc.keys()
    jwk = next(k for k in keys["keys"] if k["kid"] == keys["signing"])
    public_pem = import_key(jwk).as_pem(private=False)
    accepted = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        signing_input = f"{b64({'alg': alg, 'kid': jwk['kid']})}.{b64(rs.oidc.claims(rs.url))}"
        mac = hmac.new(public_pem, signing_input.encode(), digest).digest()
        token = f"{signing_input}.{b64(mac)}"
        why = f"the token's algorithm '{alg}' is not accepted (accepted: {accepted})"
        expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))


def test_a_key_named_in_the_token_is_never_used(rs: Rs) -> None:
    for extra in (
        {"jku": "http://127.0.0.1:1/jwks"},
        {"jwk": {"kty": "RSA"}},
        {"crit": ["b64"], "b64": True},
    ):
        token = rs.oidc.sign_raw(extra, rs.oidc.claims(rs.url))
        why = "the token's header names its own key or critical extensions; refused"
        expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))


def test_a_signature_by_another_key_under_a_known_kid_fails(rs: Rs) -> None:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    kid = rs.oidc.keys()["signing"]
    token = jwt.encode({"alg": "RS256", "kid": kid}, rs.oidc.claims(rs.url), RSAKey.generate_key(2048))
    expect(
        mcp_post(rs.url, token),
        401,
        rs.challenge("invalid_token", "the token's signature does not verify: bad_signature"),
    )


def test_unknown_key_id_then_rotation(rs: Rs) -> None:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    assert mcp_post(rs.url, rs.oidc.token("bot", rs.url)).status_code == 200  # the JWKS is cached
    time.sleep(1.1)  # past jwks_refetch_s = 1
    new_kid = rs.oidc.rotate()
    before = rs.oidc.jwks_requests()
    token = rs.oidc.token("bot", rs.url)  # signed by the new key
    assert mcp_post(rs.url, token).status_code == 200
    assert rs.oidc.jwks_requests() == before + 1, rs.oidc.http.get(f"{rs.oidc.issuer}/admin/stats").text
    # A made-up key id right after: refused, and no second fetch inside the rate limit.
    forged = jwt.encode({"alg": "RS256", "kid": "made-up"}, rs.oidc.claims(rs.url), RSAKey.generate_key(2048))
    why = f"the token was signed with key id 'made-up', which issuer {rs.oidc.issuer} does not publish"
    for _ in range(3):
        expect(mcp_post(rs.url, forged), 401, rs.challenge("invalid_token", why))
    assert rs.oidc.jwks_requests() == before + 1
    assert new_kid != "made-up"
    # Tokens signed by the old key stay good while the provider still publishes it.
    assert mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url))).status_code == 200


def test_revoked_opaque_token_through_introspection(rs: Rs) -> None:
    token = rs.oidc.token("bot-opaque", rs.url)
    assert token.count(".") == 0  # opaque: only introspection can say what it is
    assert mcp_post(rs.url, token).status_code == 200
    rs.oidc.revoke(token, "bot-opaque")
    why = "the token is not active (revoked, expired or unknown to the issuer)"
    expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))
    expect(mcp_post(rs.url, "not-a-token-at-all"), 401, rs.challenge("invalid_token", why))


# -- how the credential is sent -------------------------------------------------------------------


def test_token_in_the_query_string_is_refused_even_with_a_header(rs: Rs) -> None:
    token = rs.oidc.token("bot", rs.url)
    why = "send the access token in the Authorization header, never in the URL"
    for name in ("access_token", "ACCESS_TOKEN", "token"):
        r = mcp_post(f"{rs.url}?{name}={token}", token)
        expect(r, 400, rs.challenge("invalid_request", why))
        expect(mcp_post(f"{rs.url}?{name}={token}", None), 400, rs.challenge("invalid_request", why))


def test_two_authorization_headers_are_refused(rs: Rs) -> None:
    good = rs.oidc.token("bot", rs.url)
    headers = [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {good}"),
        ("Authorization", "Bearer other"),
    ]
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    r = httpx.post(rs.url, content=body, headers=headers, timeout=5)
    expect(r, 400, rs.challenge("invalid_request", "more than one Authorization header"))


def test_malformed_bearer_values(rs: Rs) -> None:
    token = rs.oidc.token("bot", rs.url)
    malformed = rs.challenge("invalid_token", "the bearer token is missing or malformed")
    for value in ("Bearer", f"Bearer {token} extra", f"Bearer  {token}x y"):
        expect(mcp_post(rs.url, None, headers={"Authorization": value}), 401, malformed)
    r = mcp_post(rs.url, token + "x")
    expect(r, 401, rs.challenge("invalid_token", "the token's signature does not verify: bad_signature"))


def test_a_session_stays_with_the_principal_that_opened_it(rs: Rs) -> None:
    alice = rs.oidc.user_token("alice", rs.url)
    opened = mcp_post(rs.url, alice)
    assert opened.status_code == 200
    sid = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    bot = rs.oidc.token("bot", rs.url)  # valid, but another principal
    r = mcp_post(rs.url, bot, ping, headers={"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"})
    assert r.status_code == 404, r.text
    same = mcp_post(
        rs.url, alice, ping, headers={"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    )
    assert same.status_code == 200, same.text


def test_the_typescript_sdk_client_signs_in_with_pkce_and_calls_a_tool(rs: Rs) -> None:
    import subprocess
    from urllib.parse import parse_qs, urlsplit

    from tests.nodeenv import node_package

    folder = node_package("oidc")
    args = json.dumps({"path": "notes/welcome.txt"})
    proc = subprocess.Popen(
        ["node", str(folder / "sdk_client.mjs"), rs.url, READ_ONLY_TOOL, args],
        cwd=folder,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line.startswith("authorize "), line + proc.stderr.read()  # type: ignore[union-attr]
        authorize = line.split(" ", 1)[1].strip()
        query = parse_qs(urlsplit(authorize).query)
        # What the SDK learned from our metadata: the resource (RFC 8707), the scopes, PKCE S256.
        assert query["resource"] == [rs.url] and query["code_challenge_method"] == ["S256"]
        assert query["client_id"] == ["user-app"]
        done = rs.oidc.browse(authorize, "alice")
        assert done.is_redirect, done.text[:300]
        code = parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
        proc.stdin.write(code + "\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    result = json.loads(out.split("result ", 1)[1])
    assert result["isError"] is False and "welcome" in json.dumps(result)
    row = outcomes(rs.root, READ_ONLY_TOOL)[-1]
    assert (row["operator"], row["outcome"]) == ("alice", "ok")
    assert row["client"].startswith("ts-sdk-oauth")


def test_other_jwt_kinds_and_bound_tokens_are_not_bearer_access_tokens(rs: Rs) -> None:
    for typ in ("logout+jwt", "dpop+jwt", "secevent+jwt"):
        token = rs.oidc.sign(rs.oidc.claims(rs.url), header={"typ": typ})
        why = f"the token is a '{typ}' JWT, not an access token"
        expect(mcp_post(rs.url, token), 401, rs.challenge("invalid_token", why))
    for typ in ("JWT", "at+jwt", "application/at+jwt"):
        assert mcp_post(rs.url, rs.oidc.sign(rs.oidc.claims(rs.url), header={"typ": typ})).status_code == 200
    bound = rs.oidc.sign(rs.oidc.claims(rs.url, cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}))
    why = "the token is bound to a key (cnf); this server accepts bearer tokens only"
    expect(mcp_post(rs.url, bound), 401, rs.challenge("invalid_token", why))


def test_a_refresh_token_is_not_an_access_token(rs: Rs) -> None:
    tokens = rs.oidc.user_tokens("alice", rs.url, "offline_access tollhouse:read tollhouse:call")
    refresh = tokens["refresh_token"]
    assert refresh.count(".") == 0  # opaque: introspection answers for it (active, no token_type)
    r = mcp_post(rs.url, refresh)
    # It names no audience, so it is not a token for this server.
    why = f"the token is for audience None, not this server ({rs.url})"
    expect(r, 401, rs.challenge("invalid_token", why))
    assert mcp_post(rs.url, tokens["access_token"]).status_code == 200


@pytest.mark.anyio
async def test_static_tokens_keep_working_next_to_oauth(rs: Rs) -> None:
    _, result = await _call(rs.url, STATIC_TOKEN, READ_ONLY_TOOL, {"path": "notes/welcome.txt"})
    assert not result.is_error
    row = outcomes(rs.root, READ_ONLY_TOOL)[-1]
    assert row["operator"] == "ci-bot" and "operator_groups" not in (row["details"] or {})
    # A near miss is an opaque token like any other: introspection says it is not active.
    r = mcp_post(rs.url, STATIC_TOKEN[:-1] + "X")
    why = "the token is not active (revoked, expired or unknown to the issuer)"
    expect(r, 401, rs.challenge("invalid_token", why))
