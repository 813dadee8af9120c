"""The ``[oauth]`` table: the identity provider that issues tokens for this server and for
``tollhouse login``.

    [oauth]
    issuer = "https://login.acme.example/realms/acme"   # its /.well-known metadata names the JWKS
    resource = "https://mcp.acme.example/mcp"           # the audience tokens must carry (RFC 8707)
    principal_claim = "email"                           # default "sub"
    groups_claim = "groups"
    client_id = "tollhouse-cli"                         # the public client `tollhouse login` uses
    introspection_credential = "oauth:introspect"       # opaque tokens: RFC 7662, client_id:secret

    [oauth.scopes]                                      # scope -> what it lets a token do
    "tollhouse:read" = "read"                           # read-only tools only
    "tollhouse:call" = "call"                           # every tool the policy allows

``[http] auth = "oauth"`` makes ``serve --http`` a resource server for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tollhouse.config import _SECTION_KEYS, Config, ConfigError

KEYS = _SECTION_KEYS["oauth"]
"""The keys [oauth] may hold: the one list config.py checks every table against."""
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""The only algorithms a token may be signed with: never ``none``, never an HMAC (``HS*``), whose
"key" would be whatever the verifier holds, the provider's public key included."""
ACCESS = ("read", "call")
DEFAULT_SCOPES = {"tollhouse:read": "read", "tollhouse:call": "call"}


@dataclass
class OAuthSettings:
    issuer: str
    resource: str | None = None
    """None: the server's own URL (``http://host:port/mcp``), filled in when it binds."""
    audience: str | None = None
    """The ``aud`` a token must carry when the provider does not use the resource URL for it (Okta's
    ``api://default``, an Entra application's client ID); None: the resource."""
    principal_claim: str = "sub"
    groups_claim: str = "groups"
    scopes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SCOPES))
    algorithms: tuple[str, ...] = ASYMMETRIC
    leeway_s: int = 30
    jwks_cache_s: int = 3600
    jwks_refetch_s: int = 30
    """At most one extra JWKS fetch per this many seconds for a key id the cache does not know: a
    token with a made-up ``kid`` must not turn into a request to the provider each time."""
    introspection_credential: str | None = None
    client_id: str = "tollhouse"
    login_scopes: tuple[str, ...] = ("openid", "offline_access")

    def access_of(self, scopes: list[str] | tuple[str, ...]) -> str | None:
        """``call``, ``read`` or None (no scope of this server) for a token's scopes."""
        granted = {self.scopes[s] for s in scopes if s in self.scopes}
        return "call" if "call" in granted else "read" if "read" in granted else None

    def all_scopes(self) -> list[str]:
        return list(self.scopes)


def _http_url(value: Any, what: str, config: Config, *, allow_path: bool = True) -> str:
    text = str(value or "").strip()
    parts = urlsplit(text)
    host = parts.hostname or ""
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ConfigError(
            f"oauth.{what} must be an https URL (http only on loopback), not {text!r}", file=config.path
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"oauth.{what} {text!r} may not have a query or fragment", file=config.path)
    return text.rstrip("/") if what == "issuer" else text


def load_oauth(config: Config) -> OAuthSettings | None:
    """The ``[oauth]`` table checked, or None when there is none."""
    section = config.data.get("oauth")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError("[oauth] must be a table", file=config.path)
    unknown = set(section) - KEYS
    if unknown:
        raise ConfigError(
            f"unknown key oauth.{sorted(unknown)[0]}; known: {', '.join(sorted(KEYS))}", file=config.path
        )
    if "issuer" not in section:
        raise ConfigError("[oauth] needs issuer (the identity provider's URL)", file=config.path)
    settings = OAuthSettings(issuer=_http_url(section["issuer"], "issuer", config))
    if section.get("resource"):
        settings.resource = _http_url(section["resource"], "resource", config)
    for key in ("audience", "principal_claim", "groups_claim", "client_id", "introspection_credential"):
        if key in section:
            value = section[key]
            if not isinstance(value, str) or not value:
                raise ConfigError(f"oauth.{key} must be a non-empty string", file=config.path)
            setattr(settings, key, value)
    if "scopes" in section:
        scopes = section["scopes"]
        if not isinstance(scopes, dict) or not scopes:
            raise ConfigError('oauth.scopes must be a table of scope = "read" | "call"', file=config.path)
        for scope, access in scopes.items():
            if access not in ACCESS or not scope or " " in scope:
                raise ConfigError(
                    f'oauth.scopes.{scope!r} must be "read" or "call" (and the scope one word), '
                    f"not {access!r}",
                    file=config.path,
                )
        settings.scopes = dict(scopes)
    if "algorithms" in section:
        algs = section["algorithms"]
        if not isinstance(algs, list) or not algs or any(a not in ASYMMETRIC for a in algs):
            raise ConfigError(
                f"oauth.algorithms must list signature algorithms from {', '.join(ASYMMETRIC)} "
                f"(never none or HS*), not {algs!r}",
                file=config.path,
            )
        settings.algorithms = tuple(algs)
    for key, low, high in (("leeway_s", 0, 300), ("jwks_cache_s", 60, 86400), ("jwks_refetch_s", 1, 3600)):
        if key in section:
            value = section[key]
            if type(value) is not int or not low <= value <= high:
                raise ConfigError(f"oauth.{key} must be an integer from {low} to {high}", file=config.path)
            setattr(settings, key, value)
    if "login_scopes" in section:
        value = section["login_scopes"]
        if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
            raise ConfigError("oauth.login_scopes must be a list of scope names", file=config.path)
        settings.login_scopes = tuple(value)
    return settings
