"""A small async GitHub REST v3 client on httpx: retries, rate limits, Link pagination, clear errors.

Rules it keeps:
- the token goes only to the configured API origin: pagination links and redirects to any other
  origin are refused, and every error text has the token replaced before it is raised;
- GET is retried on 5xx and network errors with doubling backoff; writes are retried only on rate
  limits (GitHub did not act on a rate-limited request, but may have acted on one that failed with
  a 502, and a retried comment would post twice);
- a rate limit is waited out when its reset (``Retry-After`` or ``X-RateLimit-Reset``) is at most
  ``max_wait_s`` away, otherwise the call gives up saying when the limit resets.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies

import anyio
import httpx

from tollhouse import __version__
from tollhouse.tools.base import ToolError
from tollhouse.tools.github.sanitize import strip_invisible
from tollhouse.tools.github.settings import GitHubSettings

log = logging.getLogger("tollhouse.github")

API_VERSION = "2022-11-28"
MAX_REDIRECTS = 3
RETRYABLE_STATUS = {500, 502, 503, 504}
SECONDARY_DEFAULT_WAIT_S = 60.0  # GitHub: "wait at least one minute" when no Retry-After is given


class GitHubError(ToolError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


Sleep = Callable[[float], Awaitable[None]]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one loads the CA bundle (~20 ms), which
    each tool call would otherwise pay. Sharing it shares trust roots only, no connection or header."""
    return httpx.create_ssl_context()


POOL_KEY = "github.pool"


class _Borrowed(httpx.AsyncBaseTransport):
    """One call's use of the shared pool: closing the call's client must not close the pool."""

    def __init__(self, pool: httpx.AsyncBaseTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        pass


def shared_transport(services: Any) -> httpx.AsyncBaseTransport | None:
    """This gate's GitHub connection pool, for one call: a call reuses the connection an earlier call
    left open (httpx keeps it 5 s), instead of a new TCP and TLS handshake with the API each time.

    Only the connections are shared. Each call still gets its own client: its own token header,
    cookie jar and redirect rule. Connections belong to the event loop that opened them, so a gate
    used from another loop gets a pool of its own. None (a connection per call, as before) when the
    services cannot close a pool, outside asyncio, or when the environment names a proxy: httpx
    honours ``HTTPS_PROXY`` and the like only for a client that builds its own transport."""
    shared = getattr(services, "shared", None)
    on_close = getattr(services, "on_close", None)
    if not isinstance(shared, dict) or on_close is None:
        return None
    if any(getproxies().get(scheme) for scheme in ("http", "https", "all")):
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (anyio on trio): no loop to tie a pool to
        return None
    held = shared.get(POOL_KEY)
    if held is None or held[0] is not loop:
        pool = httpx.AsyncHTTPTransport(verify=_tls_context())
        shared[POOL_KEY] = held = (loop, pool)
        on_close(functools.partial(_close_pool, loop, pool))
    return _Borrowed(held[1])


async def _close_pool(loop: asyncio.AbstractEventLoop, pool: httpx.AsyncHTTPTransport) -> None:
    if asyncio.get_running_loop() is loop:  # another loop's connections went with that loop
        await pool.aclose()


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class GitHubClient:
    def __init__(
        self,
        settings: GitHubSettings,
        token: str,
        *,
        profile_id: str = "github:default",
        on_unauthorized: Callable[[], None] | None = None,
        sleep: Sleep = anyio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._token = token
        self._profile_id = profile_id
        self._on_unauthorized = on_unauthorized
        self._sleep = sleep
        base = urlsplit(settings.api_url)
        self._origin = (base.scheme, base.hostname, base.port)
        self._base_path = base.path.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,
            verify=_tls_context(),
            transport=transport,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"tollhouse/{__version__}",
            },
        )
        self.requests_made = 0

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    # -- helpers -------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Error text as the model may see it: token removed, invisible characters gone, capped."""
        if self._token:
            text = text.replace(self._token, "[REDACTED]")
        return strip_invisible(text)[0][:500]

    def url(self, path: str) -> str:
        return self.settings.api_url + path

    def _same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.hostname, parts.port) == self._origin and parts.path.startswith(
            self._base_path + "/"
        )

    def _message(self, resp: httpx.Response) -> str:
        try:
            body = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return self.scrub(resp.text[:300]) if resp.text else resp.reason_phrase
        if not isinstance(body, dict):
            return resp.reason_phrase
        message = str(body.get("message") or resp.reason_phrase)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for err in errors[:5]:
                if isinstance(err, dict):
                    bits = [str(err[k]) for k in ("resource", "field", "code", "message") if err.get(k)]
                    parts.append(" ".join(bits))
                else:
                    parts.append(str(err))
            message += " (" + "; ".join(parts) + ")"
        return self.scrub(message)

    def _rate_limit_wait(self, resp: httpx.Response) -> tuple[float, str] | None:
        """(seconds to wait, description) when ``resp`` is a rate-limit refusal, else None."""
        if resp.status_code not in (403, 429):
            return None
        retry_after = resp.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after)), "secondary rate limit"
            except ValueError:
                return SECONDARY_DEFAULT_WAIT_S, "secondary rate limit"
        if resp.headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(resp.headers.get("x-ratelimit-reset", "0"))
            except ValueError:
                reset = time.time() + SECONDARY_DEFAULT_WAIT_S
            # +1 s: the reset time is whole seconds and GitHub's clock may be a little ahead of ours.
            return max(0.0, reset - time.time() + 1), f"primary rate limit (resets at {_when(reset)})"
        if resp.status_code == 429 or "secondary rate limit" in self._message(resp).lower():
            return SECONDARY_DEFAULT_WAIT_S, "secondary rate limit"
        return None

    def _fail(self, resp: httpx.Response, method: str, what: str) -> GitHubError:
        status = resp.status_code
        message = self._message(resp)
        if status == 401:
            if self._on_unauthorized is not None:
                self._on_unauthorized()
            return GitHubError(
                f"GitHub rejected the credential of profile {self._profile_id} (401: {message}); "
                f"check it with `tollhouse auth test {self._profile_id}`",
                status,
            )
        if status == 403:
            return GitHubError(
                f"GitHub refused {method} {what} (403: {message}); the token may lack the scope or "
                "the repository permission this needs",
                status,
            )
        if status == 404:
            return GitHubError(
                f"GitHub found nothing at {what} (404: {message}); check the owner, repository and "
                "number (GitHub also answers 404 for private repositories the token cannot see)",
                status,
            )
        if status == 422:
            return GitHubError(f"GitHub rejected the request to {what} as invalid (422: {message})", status)
        return GitHubError(f"GitHub answered {method} {what} with {status}: {message}", status)

    # -- requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        accept: str | None = None,
    ) -> httpx.Response:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.url(path_or_url)
        if not self._same_origin(url):
            raise GitHubError(
                f"refusing to send the GitHub token to {urlsplit(url).netloc}: not the API host"
            )
        what = urlsplit(url).path.removeprefix(self._base_path) or "/"
        headers = {"Authorization": f"Bearer {self._token}"}
        if accept:
            headers["Accept"] = accept
        idempotent = method in ("GET", "HEAD")
        attempt = 0
        redirects = 0
        while True:
            try:
                self.requests_made += 1
                resp = await self._http.request(method, url, params=params, json=json_body, headers=headers)
            except httpx.TimeoutException:
                problem = f"GitHub did not answer {method} {what} within {self.settings.timeout_s:g} s"
                resp = None
            except httpx.TransportError as exc:
                problem = f"cannot reach GitHub at {self.settings.api_url} ({type(exc).__name__})"
                resp = None
            if resp is None:
                if idempotent and attempt < self.settings.max_retries:
                    attempt += 1
                    await self._backoff(attempt, problem)
                    continue
                raise GitHubError(problem + "; try again later")
            if resp.status_code in (301, 302, 307, 308) and redirects < MAX_REDIRECTS:
                target = urljoin(url, resp.headers.get("location", ""))
                if not self._same_origin(target):
                    raise GitHubError(f"GitHub redirected {what} to another host; not followed")
                url, redirects = target, redirects + 1
                params = None  # the Location carries its own query
                continue
            if resp.status_code < 400:
                return resp
            limited = self._rate_limit_wait(resp)
            if limited is not None:
                wait, kind = limited
                if attempt >= self.settings.max_retries or wait > self.settings.max_wait_s:
                    raise GitHubError(
                        f"GitHub {kind}: gave up on {method} {what}; the limit lifts in about "
                        f"{wait:.0f} s ({_when(time.time() + wait)}). Try again after that, or raise "
                        "github.max_wait_s to wait it out",
                        resp.status_code,
                    )
                attempt += 1
                log.info("github %s on %s %s; waiting %.1f s", kind, method, what, wait)
                await self._sleep(wait)
                continue
            if resp.status_code in RETRYABLE_STATUS and idempotent and attempt < self.settings.max_retries:
                attempt += 1
                await self._backoff(attempt, f"GitHub answered {resp.status_code}")
                continue
            raise self._fail(resp, method, what)

    async def _backoff(self, attempt: int, why: str) -> None:
        wait = min(self.settings.backoff_s * 2 ** (attempt - 1), self.settings.max_wait_s)
        log.info("github: %s; retry %d in %.1f s", why, attempt, wait)
        await self._sleep(wait)

    async def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._decode(await self.request("GET", path, params=params))

    async def send_json(self, method: str, path: str, body: Any) -> Any:
        return self._decode(await self.request(method, path, json_body=body))

    def _decode(self, resp: httpx.Response) -> Any:
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise GitHubError(
                "GitHub sent a response that is not JSON; is api_url the REST API root?"
            ) from None

    async def get_page(self, path: str, params: dict[str, Any]) -> tuple[Any, bool]:
        """One page and whether GitHub says another follows (``Link: rel="next"``)."""
        resp = await self.request("GET", path, params=params)
        return self._decode(resp), "next" in resp.links

    async def get_all(self, path: str, params: dict[str, Any], max_items: int) -> tuple[list[Any], bool]:
        """Follow ``Link: rel="next"`` up to ``max_pages`` pages or ``max_items`` items.

        Returns the items and whether more were left behind.
        """
        items: list[Any] = []
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": 100}
        pages = 0
        while url is not None:
            resp = await self.request("GET", url, params=query)
            data = self._decode(resp)
            if not isinstance(data, list):
                raise GitHubError(f"GitHub sent {type(data).__name__} where a list was expected")
            items.extend(data)
            pages += 1
            nxt = resp.links.get("next", {}).get("url")
            if len(items) >= max_items or pages >= self.settings.max_pages:
                return items[:max_items], bool(nxt) or len(items) > max_items
            if nxt and not self._same_origin(nxt):
                raise GitHubError("GitHub sent a pagination link to another host; not followed")
            url, query = nxt, None
        return items, False
