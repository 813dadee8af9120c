"""The [oauth] table: each mistake refused with a message that says what to write instead, and the
claim checks that do not need a provider (audience override, groups claim shapes)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tollhouse.config import ConfigError, parse_config
from tollhouse.principal import clean_groups
from tollhouse.server.http_auth import load_http_settings
from tollhouse.server.oauth_config import OAuthSettings, load_oauth
from tollhouse.server.oauth_verify import OAuthVerifier, Rejected

GOOD = '[oauth]\nissuer = "https://idp.example/realms/acme/"\n'


def parse(text: str, root: Path):
    path = root / "tollhouse.toml"
    path.write_text(text, encoding="utf-8")
    return parse_config(text, path)


def test_defaults_and_issuer_trailing_slash(tmp_path: Path) -> None:
    settings = load_oauth(parse(GOOD, tmp_path))
    assert settings is not None
    assert settings.issuer == "https://idp.example/realms/acme"
    assert (settings.principal_claim, settings.groups_claim, settings.leeway_s) == ("sub", "groups", 30)
    assert "HS256" not in settings.algorithms and "none" not in settings.algorithms
    assert settings.access_of(["tollhouse:read"]) == "read"
    assert settings.access_of(["tollhouse:read", "tollhouse:call"]) == "call"
    assert settings.access_of(["openid"]) is None
    assert load_oauth(parse("", tmp_path)) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[oauth]\nresource = 'https://x.example/mcp'\n", "[oauth] needs issuer"),
        (
            "[oauth]\nissuer = 'http://idp.example'\n",
            "oauth.issuer must be an https URL (http only on loopback)",
        ),
        ("[oauth]\nissuer = 'https://idp.example?x=1'\n", "may not have a query or fragment"),
        (GOOD + "algorithms = ['RS256', 'HS256']\n", "oauth.algorithms must list signature algorithms"),
        (GOOD + "algorithms = ['none']\n", "(never none or HS*)"),
        (GOOD + "algorithms = []\n", "oauth.algorithms must list"),
        (GOOD + "leeway_s = 3600\n", "oauth.leeway_s must be an integer from 0 to 300"),
        (GOOD + "jwks_refetch_s = 0\n", "oauth.jwks_refetch_s must be an integer from 1 to 3600"),
        (GOOD + "principal_claim = ''\n", "oauth.principal_claim must be a non-empty string"),
        (GOOD + "[oauth.scopes]\n'tollhouse:all' = 'admin'\n", 'must be "read" or "call"'),
        (GOOD + "login_scopes = 'openid'\n", "oauth.login_scopes must be a list of scope names"),
    ],
)
def test_bad_oauth_tables_are_refused(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_oauth(parse(body, tmp_path))
    assert message in str(err.value)


def test_unknown_key_fails_at_config_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key oauth\.isuer"):
        parse("[oauth]\nisuer = 'https://idp.example'\n", tmp_path)


def test_http_oauth_needs_the_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'http.auth = "oauth" needs an \[oauth\] table'):
        load_http_settings(parse("[http]\nauth = 'oauth'\n", tmp_path), None)
    settings = load_http_settings(parse("[http]\nauth = 'oauth'\n" + GOOD, tmp_path), None)
    assert settings.oauth is not None and settings.oauth.issuer == "https://idp.example/realms/acme"


def _claims(**over):
    now = int(time.time())
    base = {"iss": "https://idp.example", "aud": "api://default", "exp": now + 60, "sub": "u"}
    base.update(over)
    return base


def test_audience_override_is_exact() -> None:
    settings = OAuthSettings(issuer="https://idp.example", audience="api://default")
    verifier = OAuthVerifier(settings, "https://mcp.example/mcp")
    verifier._check_claims(_claims())
    verifier._check_claims(_claims(aud=["other", "api://default"]))
    for aud in ("https://mcp.example/mcp", "api://default/", "API://DEFAULT", None, 5):
        with pytest.raises(Rejected, match="not this server"):
            verifier._check_claims(_claims(aud=aud))


def test_groups_claim_shapes() -> None:
    assert clean_groups(["sre", "dev", "sre"]) == ("sre", "dev")
    assert clean_groups("sre dev") == ("sre", "dev")
    assert clean_groups([1, {"a": 1}, "", None, "ok"]) == ("ok",)
    assert clean_groups({"sre": True}) == ()
    assert clean_groups(None) == ()


def test_groups_and_principals_must_be_printable_names() -> None:
    assert clean_groups(["ok", "new\nline", "tab\there", "x" * 257, "\ud800", "ünï"]) == ("ok", "ünï")
    settings = OAuthSettings(issuer="https://idp.example")
    verifier = OAuthVerifier(settings, "https://mcp.example/mcp")
    base = {"scope": "tollhouse:call", "iss": "https://idp.example"}
    assert verifier._principal({**base, "sub": "alice"}).principal.name == "alice"
    for bad in ("alice\nbob", "\ud800", "", "x" * 300):
        with pytest.raises(Rejected):
            verifier._principal({**base, "sub": bad})
