"""``tollhouse login``: the operator as a person from the identity provider, on the command line too.

The device authorization grant (RFC 8628) against ``[oauth] issuer``: the CLI shows a code and a
URL, the person signs in on any browser, the CLI polls the token endpoint (every ``interval``
seconds, five more after each ``slow_down``). The access token is checked like any the HTTP face
accepts (signature from the issuer's JWKS, issuer, audience = ``[oauth] resource``) and its
principal (``principal_claim``, ``groups_claim``) becomes the operator of every gate this user
opens for a config naming that issuer: receipts name it, policy ``principals`` match it.

Tokens live in the operator's home (``<TOLLHOUSE_HOME>/logins.json``, mode 0600, never in a
workspace), one record per (issuer, client). An expired access token is refreshed with the refresh
token when a gate opens; a refresh the provider refuses ends the login (the local user is the
operator again, and a warning says so).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from tollhouse.config import Config
from tollhouse.opdirs import ensure_private_dir, operator_home
from tollhouse.principal import Principal, clean_groups, usable_name
from tollhouse.server.oauth_config import OAuthSettings, load_oauth

LOGINS_FILE = "logins.json"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_MARGIN_S = 30
HTTP_TIMEOUT_S = 10.0


class LoginError(Exception):
    """A login that could not be done or kept; the message says what to do."""


def logins_path() -> Path:
    return operator_home() / LOGINS_FILE


def _key(settings: OAuthSettings) -> str:
    return f"{settings.issuer} {settings.client_id}"


def read_logins() -> dict[str, Any]:
    path = logins_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    if st.st_mode & 0o077:
        raise LoginError(f"{path} is readable by other users; run `chmod 600 {path}` or `tollhouse logout`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LoginError(f"{path} is unreadable ({exc}); `tollhouse logout --all` removes it") from exc
    return data if isinstance(data, dict) else {}


def write_logins(data: dict[str, Any]) -> Path:
    """Replace the file atomically; the new file is 0600 from its first byte."""
    path = logins_path()
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{LOGINS_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


async def _form(client: httpx.AsyncClient, url: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    try:
        response = await client.post(url, data=data, headers={"accept": "application/json"})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LoginError(f"{url} did not answer usefully: {exc}") from exc
    return response.status_code, body if isinstance(body, dict) else {}


def _scope(settings: OAuthSettings) -> str:
    return " ".join(dict.fromkeys([*settings.login_scopes, *settings.scopes]))


async def start_device_flow(
    client: httpx.AsyncClient, settings: OAuthSettings, meta: dict[str, Any]
) -> DeviceCode:
    endpoint = meta.get("device_authorization_endpoint")
    if not isinstance(endpoint, str):
        raise LoginError(f"issuer {settings.issuer} offers no device authorization (RFC 8628)")
    data = {"client_id": settings.client_id, "scope": _scope(settings)}
    if settings.resource:
        data["resource"] = settings.resource
    status, body = await _form(client, endpoint, data)
    if status != 200 or not isinstance(body.get("device_code"), str):
        raise LoginError(f"the issuer refused the device authorization: {_err(body, status)}")
    return DeviceCode(
        device_code=body["device_code"],
        user_code=str(body.get("user_code", "")),
        verification_uri=str(body.get("verification_uri", "")),
        verification_uri_complete=body.get("verification_uri_complete"),
        expires_in=int(body.get("expires_in") or 600),
        interval=max(1, int(body.get("interval") or 5)),  # RFC 8628 3.2: 5 when not given
    )


def _err(body: dict[str, Any], status: int) -> str:
    return f"{body.get('error', f'HTTP {status}')}: {body.get('error_description', '')}".rstrip(": ")


async def poll_token(
    client: httpx.AsyncClient,
    settings: OAuthSettings,
    meta: dict[str, Any],
    code: DeviceCode,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> dict[str, Any]:
    """Poll until the person approved (RFC 8628 3.4/3.5): wait ``interval`` before each request,
    add 5 seconds on ``slow_down``, keep going on ``authorization_pending``, stop on anything else."""
    endpoint = str(meta.get("token_endpoint", ""))
    interval = code.interval
    deadline = time.monotonic() + code.expires_in
    data = {"grant_type": DEVICE_GRANT, "device_code": code.device_code, "client_id": settings.client_id}
    if settings.resource:
        data["resource"] = settings.resource
    while True:
        await sleep(interval)
        if time.monotonic() > deadline:
            raise LoginError("the code expired before it was approved; run `tollhouse login` again")
        status, body = await _form(client, endpoint, data)
        if status == 200 and isinstance(body.get("access_token"), str):
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if error == "access_denied":
            raise LoginError("the sign-in was declined")
        if error == "expired_token":
            raise LoginError("the code expired before it was approved; run `tollhouse login` again")
        raise LoginError(f"the issuer refused the login: {_err(body, status)}")


async def principal_of(
    settings: OAuthSettings, tokens: dict[str, Any], meta: dict[str, Any], client: httpx.AsyncClient
) -> Principal:
    """Who the tokens belong to: the access token checked as the HTTP face would when a resource is
    configured, else the provider's userinfo endpoint."""
    from tollhouse.server.oauth_verify import OAuthVerifier, ProviderError, Rejected

    if settings.resource:
        verifier = OAuthVerifier(settings, settings.resource)
        try:
            parts = str(tokens["access_token"]).split(".")
            if len(parts) != 3:
                raise LoginError(
                    "the access token is not a JWT; set [oauth] resource to an API the issuer "
                    "signs tokens for"
                )
            claims = await verifier._verify_jwt(tokens["access_token"], parts)
        except Rejected as exc:
            raise LoginError(f"the issuer's access token does not check out: {exc.description}") from exc
        except ProviderError as exc:
            raise LoginError(str(exc)) from exc
        finally:
            await verifier.aclose()
    else:
        endpoint = meta.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            raise LoginError("set [oauth] resource: the issuer has no userinfo endpoint to name the subject")
        response = await client.get(endpoint, headers={"authorization": f"Bearer {tokens['access_token']}"})
        if response.status_code != 200:
            raise LoginError(f"userinfo at {endpoint} answered HTTP {response.status_code}")
        claims = response.json()
    name = claims.get(settings.principal_claim)
    if not isinstance(name, str) or not usable_name(name):
        raise LoginError(f"the token has no usable {settings.principal_claim!r} claim to name you by")
    return Principal(name=name, groups=clean_groups(claims.get(settings.groups_claim)), source="login")


def _record(
    settings: OAuthSettings, tokens: dict[str, Any], who: Principal, old: dict[str, Any] | None = None
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "issuer": settings.issuer,
        "client_id": settings.client_id,
        "resource": settings.resource,
        "access_token": tokens["access_token"],
        "refresh_token": tokens.get("refresh_token") or (old or {}).get("refresh_token"),
        "expires_at": now + int(tokens.get("expires_in") or 300),
        "principal": who.name,
        "groups": list(who.groups),
        "logged_in_at": (old or {}).get("logged_in_at", now),
        "refreshed_at": now,
    }


async def login(
    settings: OAuthSettings,
    show: Callable[[str], None],
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> dict[str, Any]:
    from tollhouse.server.oauth_verify import ProviderError, discover

    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        try:
            meta = await discover(client, settings.issuer)
        except ProviderError as exc:
            raise LoginError(str(exc)) from exc
        code = await start_device_flow(client, settings, meta)
        show(f"To sign in, open {code.verification_uri} and enter the code {code.user_code}")
        if code.verification_uri_complete:
            show(f"  (or open {code.verification_uri_complete})")
        tokens = await poll_token(client, settings, meta, code, sleep)
        who = await principal_of(settings, tokens, meta, client)
    logins = read_logins()
    record = logins[_key(settings)] = _record(settings, tokens, who)
    write_logins(logins)
    return record


async def refresh(settings: OAuthSettings, record: dict[str, Any]) -> dict[str, Any]:
    """A new access token from the refresh token; the principal is checked again (a person removed
    from a group loses it at the next refresh, not never)."""
    from tollhouse.server.oauth_verify import ProviderError, discover

    if not record.get("refresh_token"):
        raise LoginError("the login has expired and holds no refresh token; run `tollhouse login`")
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        try:
            meta = await discover(client, settings.issuer)
        except ProviderError as exc:
            raise LoginError(str(exc)) from exc
        data = {
            "grant_type": "refresh_token",
            "refresh_token": record["refresh_token"],
            "client_id": settings.client_id,
        }
        if settings.resource:
            data["resource"] = settings.resource
        status, body = await _form(client, str(meta.get("token_endpoint")), data)
        if status != 200 or not isinstance(body.get("access_token"), str):
            raise LoginError(
                f"the issuer refused to refresh the login ({_err(body, status)}); run `tollhouse login`"
            )
        who = await principal_of(settings, body, meta, client)
    logins = read_logins()
    new = logins[_key(settings)] = _record(settings, body, who, record)
    write_logins(logins)
    return new


async def current_login(settings: OAuthSettings, *, refresh_if_expired: bool = True) -> dict[str, Any] | None:
    """The stored login for this issuer and client, refreshed if its access token expired; None when
    there is none. A refresh that fails forgets the login and raises ``LoginError``."""
    record = read_logins().get(_key(settings))
    if not isinstance(record, dict):
        return None
    if record.get("expires_at", 0) - REFRESH_MARGIN_S > time.time() or not refresh_if_expired:
        return record
    # One refresher at a time: providers rotate refresh tokens and may end a grant whose old refresh
    # token is used twice, so a second process waits and then reads what the first one stored.
    async with _refresh_lock():
        record = read_logins().get(_key(settings))
        if not isinstance(record, dict):
            return None
        if record.get("expires_at", 0) - REFRESH_MARGIN_S > time.time():
            return record
        try:
            return await refresh(settings, record)
        except LoginError:
            forget(settings)
            raise


@asynccontextmanager
async def _refresh_lock() -> AsyncIterator[None]:
    import fcntl

    path = logins_path().with_name(LOGINS_FILE + ".lock")
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def forget(settings: OAuthSettings | None) -> bool:
    """Remove one login (or every login, ``settings`` None); True when something was removed."""
    if settings is None:
        path = logins_path()
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed
    logins = read_logins()
    if logins.pop(_key(settings), None) is None:
        return False
    write_logins(logins)
    return True


async def logged_in(config: Config) -> Principal | None:
    """The operator ``tollhouse login`` established for this config's issuer, or None (no
    ``[oauth]``, nobody logged in, or a login that could not be refreshed: then a warning)."""
    try:
        settings = load_oauth(config)
    except Exception:  # a bad [oauth] table is reported by the commands that use it
        return None
    if settings is None:
        return None
    try:
        record = await current_login(settings)
    except LoginError as exc:
        print(f"tollhouse: login for {settings.issuer} ended: {exc}", file=sys.stderr, flush=True)
        return None
    if record is None:
        return None
    return Principal(name=str(record["principal"]), groups=tuple(record.get("groups") or ()), source="login")


async def revoke(record: dict[str, Any]) -> bool:
    """Ask the issuer to revoke the refresh token (RFC 7009), best effort: True when it said yes.
    Forgetting the tokens locally does not depend on it."""
    from tollhouse.server.oauth_verify import ProviderError, discover

    token = record.get("refresh_token") or record.get("access_token")
    if not token:
        return False
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
            meta = await discover(client, str(record["issuer"]))
            endpoint = meta.get("revocation_endpoint")
            if not isinstance(endpoint, str):
                return False
            response = await client.post(endpoint, data={"token": token, "client_id": record["client_id"]})
            return response.status_code == 200
    except (ProviderError, httpx.HTTPError):
        return False


async def operator_for(config: Config) -> Principal:
    """The operator a gate for ``config`` names when a face brings none: the subject of
    ``tollhouse login`` for its issuer, else ``[identity] operator``, else the local user."""
    from tollhouse.principal import local_operator

    login = await logged_in(config)
    if login is not None:
        return login
    return Principal(
        name=config.operator or local_operator(), source="config" if config.operator else "local"
    )
