"""HTTP settings and bearer-token auth for ``tollhouse serve --http``.

Tokens are checked by a ``TokenVerifier`` (the SDK's protocol: ``async verify_token(token) ->
AccessToken | None``), so an OAuth/OIDC resource server later replaces ``StaticTokenVerifier`` with a
JWT/introspection verifier and nothing else changes: the face reads the principal of whatever token
was accepted and puts it on the receipt as the operator.

The config names tokens by their SHA-256 only, so ``tollhouse.toml`` holds no secret. The generated
token lives outside the workspace, in the operator's folder for it (``<TOLLHOUSE_HOME>/workspaces/
<name>-<hash>/http-token``, 0600), and is printed once, when it is created. A token an older version
kept in ``.tollhouse/http-token`` is moved there on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tollhouse import principal as principal_mod
from tollhouse.config import Config, ConfigError
from tollhouse.opdirs import ensure_private_dir, secrets_dir
from tollhouse.principal import Principal

DEFAULT_PORT = 8765
TOKEN_FILE = "http-token"  # noqa: S105 - a file name, not a secret
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024  # the Python MCP client's default limit on one server-sent event
MIN_EVENT_BYTES = 64 * 1024
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class TokenEntry:
    principal: str
    sha256: str


@dataclass
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    auth: str = "token"
    """``token`` (default: a bearer token is required), ``oauth`` (access tokens from the ``[oauth]``
    issuer, and any ``tokens`` listed) or ``none`` (loopback only)."""
    token_file: Path | None = None
    principal: str = "http-token"
    tokens: list[TokenEntry] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    """The most JSON one tools/call result may take (0: no limit); see ``results.fit_event``."""
    oauth: Any = None
    """``OAuthSettings`` when ``auth = "oauth"``."""

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` (loopback). Port 0 picks a free port."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ConfigError(f"--http {value!r}: expected HOST:PORT, for example 127.0.0.1:{DEFAULT_PORT}")
    host = host or "127.0.0.1"
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"--http {value!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


def load_http_settings(config: Config, listen: str | None) -> HttpSettings:
    section = config.section("http")
    host, port = parse_listen(listen or str(section.get("listen", f"127.0.0.1:{DEFAULT_PORT}")))
    auth = str(section.get("auth", "token"))
    if auth not in ("token", "oauth", "none"):
        raise ConfigError(f"http.auth must be 'token', 'oauth' or 'none', not {auth!r}", file=config.path)
    tokens = []
    for i, entry in enumerate(section.get("tokens", [])):
        if not isinstance(entry, dict) or not {"principal", "sha256"} <= set(entry):
            raise ConfigError(
                f"http.tokens[{i}] needs principal and sha256 (hex SHA-256 of the token)", file=config.path
            )
        digest = str(entry["sha256"]).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"http.tokens[{i}].sha256 must be 64 hex digits", file=config.path)
        tokens.append(TokenEntry(principal=str(entry["principal"]), sha256=digest))
    max_event = section.get("max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
    if type(max_event) is not int or not (max_event == 0 or max_event >= MIN_EVENT_BYTES):
        raise ConfigError(
            f"http.max_event_bytes must be 0 (no limit) or an integer of at least {MIN_EVENT_BYTES}, not "
            f"{max_event!r}",
            file=config.path,
        )
    settings = HttpSettings(
        host=host,
        port=port,
        auth=auth,
        token_file=token_path(config),
        principal=str(section.get("principal") or config.operator or "http-token"),
        tokens=tokens,
        allowed_hosts=[str(h) for h in section.get("allowed_hosts", [])],
        allowed_origins=[str(o) for o in section.get("allowed_origins", [])],
        max_event_bytes=max_event,
    )
    if auth == "oauth":
        from tollhouse.server.oauth_config import load_oauth

        settings.oauth = load_oauth(config)
        if settings.oauth is None:
            raise ConfigError(
                'http.auth = "oauth" needs an [oauth] table naming the issuer', file=config.path
            )
    if not settings.loopback and not settings.allowed_hosts:
        raise ConfigError(
            f"refusing to listen on {host}, which is not a loopback address, without [http] allowed_hosts "
            '(the Host names clients use, e.g. allowed_hosts = ["mcp.example.com:8765"]); they guard '
            "against DNS rebinding",
            file=config.path,
        )
    if auth == "none" and not settings.loopback:
        raise ConfigError("http.auth = 'none' is only allowed on a loopback address", file=config.path)
    return settings


def token_path(config: Config) -> Path:
    """Where the generated token lives: ``[http] token_file`` (never inside a workspace root or the
    config's folder, where tools could read it), else the operator's folder for this workspace."""
    named = config.section("http").get("token_file")
    if not named:
        return secrets_dir(config.state_dir) / TOKEN_FILE
    path = Path(os.path.expanduser(str(named)))
    path = path if path.is_absolute() else config.root / path
    real = Path(os.path.realpath(path))
    for place in (*config.workspace.roots, config.state_dir.parent):
        inside = Path(os.path.realpath(place))
        if real == inside or inside in real.parents:
            raise ConfigError(
                f"http.token_file {named!r} lies inside {inside}, where tools can read it; name a file "
                "outside the workspace, or leave token_file out to use the operator's folder",
                file=config.path,
            )
    return path


def move_legacy_token(config: Config, path: Path) -> None:
    """Move a token an older version generated into ``.tollhouse/http-token`` to ``path`` (so clients
    keep working) and remove the workspace copy."""
    legacy = config.state_dir / TOKEN_FILE
    if not legacy.is_file() or legacy.is_symlink() or legacy == path:
        return
    mode = stat.S_IMODE(legacy.stat().st_mode)
    if mode & 0o077:  # others may have copied it: moving it would keep a leaked token alive
        raise ConfigError(
            f"{legacy} is readable by other users (mode {mode:o}); run `chmod 600 {legacy}` to keep it, "
            "or delete it to have a new token generated outside the workspace"
        )
    try:
        data = legacy.read_bytes()
        if not path.exists():
            _make_parent(path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        legacy.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot move the HTTP token {legacy} out of the workspace to {path}: {exc}"
        ) from exc


def _make_parent(path: Path) -> None:
    # A folder the operator already has keeps its mode; new ones are private.
    if not path.parent.is_dir():
        ensure_private_dir(path.parent)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ensure_token(path: Path) -> tuple[str, bool]:
    """The token in ``path``, creating it (0600) if missing. Returns (token, created)."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` or delete it "
                "to have a new token generated"
            )
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < 32:
            raise ConfigError(f"{path} holds no usable token (under 32 characters); delete it to regenerate")
        return token, False
    _make_parent(path)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, True


class StaticTokenVerifier:
    """Accepts tokens whose SHA-256 is known; the principal comes from the matching entry."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = list(entries)

    async def verify_token(self, token: str) -> Any:
        from mcp.server.auth.provider import AccessToken

        digest = token_digest(token)
        for entry in self._entries:
            # Constant-time per entry: a timing probe learns nothing about how close a guess was.
            if hmac.compare_digest(digest, entry.sha256):
                return AccessToken(
                    token=token, client_id=entry.principal, subject=entry.principal, scopes=["tollhouse"]
                )
        return None


def current_identity() -> Principal | None:
    """The principal (name, groups, scopes) of the token that authenticated the current HTTP
    request, if any (set by ``oauth_guard.BearerGuard``)."""
    return principal_mod.current.get()


def current_principal() -> str | None:
    """The operator name of the current HTTP request's token, if any."""
    who = principal_mod.current.get()
    return who.name if who is not None else None


def protect(app: Any, config: Config, settings: HttpSettings, credentials: Any = None) -> tuple[Any, Any]:
    """``app`` behind the bearer check ``settings.auth`` asks for; returns (app, closer or None).

    ``token``: the generated token (created on first use, printed once) and any ``tokens`` listed.
    ``oauth``: access tokens from the ``[oauth]`` issuer for this server's resource, and any ``tokens``
    listed (static tokens stay for CI and small setups). ``none``: the app as it is."""
    from tollhouse.server.oauth_guard import BearerGuard

    if settings.auth == "none":
        return app, None
    entries = list(settings.tokens)
    if settings.auth == "token":
        assert settings.token_file is not None
        move_legacy_token(config, settings.token_file)
        token, created = ensure_token(settings.token_file)
        entries.insert(0, TokenEntry(principal=settings.principal, sha256=token_digest(token)))
        if created:
            # Printed once, now; afterwards it is only in the 0600 file.
            _say(f"generated a bearer token for principal {settings.principal!r} in {settings.token_file}:")
            _say(f"  Authorization: Bearer {token}")
    static = StaticTokenVerifier(entries).verify_token if entries else None
    if settings.auth != "oauth":
        return BearerGuard(app, static=static), None
    from tollhouse.server.oauth_verify import OAuthVerifier

    oauth = settings.oauth
    resource = oauth.resource or settings.url
    resolve = None
    if oauth.introspection_credential and credentials is not None:
        profile = oauth.introspection_credential

        async def resolve() -> str:
            return str(await credentials.resolve(profile))

    verifier = OAuthVerifier(oauth, resource, credential=resolve)
    guard = BearerGuard(app, static=static, oauth=oauth, verifier=verifier, resource=resource)
    return guard, verifier.aclose


def _say(message: str) -> None:
    import sys

    print(f"tollhouse: {message}", file=sys.stderr, flush=True)
