"""The HTTP client against the fake GitHub: retries, rate limits, pagination, error mapping."""

from __future__ import annotations

import ssl
import time
import types

import pytest

from tests.github.conftest import CANARY
from tests.github.fake_github import FakeGitHub
from tollhouse.tools.github.client import GitHubClient, GitHubError, shared_transport
from tollhouse.tools.github.settings import GitHubSettings, check_api_url

pytestmark = pytest.mark.anyio


def client(fake: FakeGitHub, waits: list[float] | None = None, token: str = CANARY, **kw) -> GitHubClient:
    settings = GitHubSettings(api_url=fake.url, backoff_s=0.5, max_wait_s=kw.pop("max_wait_s", 120), **kw)

    async def sleep(s: float) -> None:
        if waits is not None:
            waits.append(s)

    return GitHubClient(settings, token, sleep=sleep)


async def test_get_sends_bearer_token_and_github_headers(fake: FakeGitHub) -> None:
    async with client(fake) as gh:
        data = await gh.get_json("/repos/acme/widget")
    assert data["full_name"] == "acme/widget"
    req = fake.requests[-1]
    assert req.headers["authorization"] == f"Bearer {CANARY}"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["x-github-api-version"] == "2022-11-28"


async def test_5xx_on_get_is_retried_with_doubling_backoff(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/repos/acme/widget$", 502, times=2)
    waits: list[float] = []
    async with client(fake, waits) as gh:
        assert (await gh.get_json("/repos/acme/widget"))["name"] == "widget"
    assert waits == [0.5, 1.0]
    assert fake.count("GET", "^/repos/acme/widget$") == 3


async def test_5xx_gives_up_after_max_retries(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/repos/acme/widget$", 503, times=10, body={"message": "Service unavailable"})
    waits: list[float] = []
    async with client(fake, waits, max_retries=2) as gh:
        with pytest.raises(
            GitHubError, match=r"answered GET /repos/acme/widget with 503: Service unavailable"
        ):
            await gh.get_json("/repos/acme/widget")
    assert len(waits) == 2
    assert fake.count("GET", "^/repos/acme/widget$") == 3


async def test_post_is_not_retried_on_5xx(fake: FakeGitHub) -> None:
    fake.fail("POST", "/comments$", 502)
    async with client(fake, []) as gh:
        with pytest.raises(GitHubError, match="with 502"):
            await gh.send_json("POST", "/repos/acme/widget/issues/1/comments", {"body": "hi"})
    assert fake.count("POST", "/comments$") == 1  # a retry could have posted twice


async def test_primary_rate_limit_waits_until_reset_then_succeeds(fake: FakeGitHub) -> None:
    reset = int(time.time()) + 30
    fake.fail(
        "GET",
        "^/repos/acme/widget$",
        403,
        body={
            "message": "API rate limit exceeded for user ID 1.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        },
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(reset),
    )
    waits: list[float] = []
    async with client(fake, waits) as gh:
        assert (await gh.get_json("/repos/acme/widget"))["name"] == "widget"
    assert len(waits) == 1 and 29 <= waits[0] <= 32


async def test_primary_rate_limit_on_a_write_is_retried(fake: FakeGitHub) -> None:
    fake.fail("POST", "/issues$", 429, X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(time.time())))
    async with client(fake, []) as gh:
        data = await gh.send_json("POST", "/repos/acme/widget/issues", {"title": "t"})
    assert data["title"] == "t"
    assert fake.count("POST", "/issues$") == 2


async def test_secondary_rate_limit_honours_retry_after(fake: FakeGitHub) -> None:
    fake.fail(
        "GET", "^/user$", 403, body={"message": "You have exceeded a secondary rate limit."}, Retry_After="7"
    )
    waits: list[float] = []
    async with client(fake, waits) as gh:
        await gh.get_json("/user")
    assert waits == [7.0]


async def test_secondary_rate_limit_without_header_waits_a_minute(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/user$", 403, body={"message": "You have exceeded a secondary rate limit."})
    waits: list[float] = []
    async with client(fake, waits) as gh:
        await gh.get_json("/user")
    assert waits == [60.0]


async def test_rate_limit_beyond_max_wait_gives_up_saying_when_it_resets(fake: FakeGitHub) -> None:
    reset = int(time.time()) + 3000
    fake.fail(
        "GET",
        "^/user$",
        403,
        body={"message": "API rate limit exceeded"},
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset=str(reset),
    )
    waits: list[float] = []
    stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(reset))
    async with client(fake, waits, max_wait_s=60) as gh:
        with pytest.raises(
            GitHubError,
            match=rf"primary rate limit \(resets at {stamp}:\d\d UTC\): gave up on GET "
            r"/user; the limit lifts in about 30\d\d s.*raise github.max_wait_s",
        ) as info:
            await gh.get_json("/user")
    assert info.value.status == 403
    assert waits == []


async def test_rate_limit_that_keeps_coming_gives_up_after_max_retries(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/user$", 429, times=10, Retry_After="1")
    waits: list[float] = []
    async with client(fake, waits, max_retries=3) as gh:
        with pytest.raises(GitHubError, match="secondary rate limit: gave up"):
            await gh.get_json("/user")
    assert waits == [1.0, 1.0, 1.0]


async def test_real_wait_honours_retry_after(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/user$", 429, Retry_After="1")
    settings = GitHubSettings(api_url=fake.url, max_wait_s=5)
    start = time.monotonic()
    async with GitHubClient(settings, CANARY) as gh:
        await gh.get_json("/user")
    assert 0.9 <= time.monotonic() - start < 4


@pytest.mark.parametrize(
    ("status", "body", "pattern"),
    [
        (
            401,
            {"message": "Bad credentials"},
            r"GitHub rejected the credential of profile github:default \(401: "
            r"Bad credentials\); check it with `tollhouse auth test github:default`",
        ),
        (
            403,
            {"message": "Resource not accessible by integration"},
            r"GitHub refused GET /repos/acme/widget "
            r"\(403: Resource not accessible by integration\); the token may lack the scope",
        ),
        (
            404,
            {"message": "Not Found"},
            r"GitHub found nothing at /repos/acme/widget \(404: Not Found\); check",
        ),
        (
            422,
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}],
            },
            r"invalid \(422: Validation Failed \(Issue title missing_field\)\)",
        ),
        (418, b"<html>teapot</html>", r"answered GET /repos/acme/widget with 418: <html>teapot</html>"),
    ],
)
async def test_error_statuses_map_to_clear_messages(
    fake: FakeGitHub, status: int, body, pattern: str
) -> None:
    fake.fail("GET", "^/repos/acme/widget$", status, body=body)
    async with client(fake, []) as gh:
        with pytest.raises(GitHubError, match=pattern) as info:
            await gh.get_json("/repos/acme/widget")
    assert info.value.status == (status if status != 418 else 418)


async def test_wrong_token_gets_401_from_the_fake(fake: FakeGitHub) -> None:
    forgotten = []
    settings = GitHubSettings(api_url=fake.url)
    async with GitHubClient(settings, "ghp_wrong", on_unauthorized=lambda: forgotten.append(1)) as gh:
        with pytest.raises(GitHubError, match="401: Bad credentials"):
            await gh.get_json("/user")
    assert forgotten == [1]  # the resolver drops its cached value so a rotated token is read next time


async def test_error_body_echoing_the_token_is_scrubbed(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/user$", 400, body={"message": f"bad header Bearer {CANARY}\u202e"})
    async with client(fake, []) as gh:
        with pytest.raises(GitHubError) as info:
            await gh.get_json("/user")
    assert CANARY not in str(info.value)
    assert "[REDACTED]" in str(info.value) and "\u202e" not in str(info.value)


async def test_get_all_follows_link_headers_up_to_the_cap(fake: FakeGitHub) -> None:
    for i in range(250):
        fake.add_comment("acme/widget", 1, f"c{i}", author="bob", association="MEMBER")
    async with client(fake, []) as gh:
        items, more = await gh.get_all("/repos/acme/widget/issues/1/comments", {}, max_items=1000)
        assert [c["body"] for c in items] == [f"c{i}" for i in range(250)] and more is False
        items, more = await gh.get_all("/repos/acme/widget/issues/1/comments", {}, max_items=120)
        assert len(items) == 120 and more is True
    async with client(fake, [], max_pages=2) as gh:
        items, more = await gh.get_all("/repos/acme/widget/issues/1/comments", {}, max_items=1000)
        assert len(items) == 200 and more is True


async def test_pagination_link_to_another_host_is_not_followed(fake: FakeGitHub) -> None:
    for i in range(150):
        fake.add_comment("acme/widget", 1, f"c{i}", author="bob", association="MEMBER")
    fake.next_link_override = "http://127.0.0.2:9/steal?page=2"
    async with client(fake, []) as gh:
        with pytest.raises(GitHubError, match="pagination link to another host; not followed"):
            await gh.get_all("/repos/acme/widget/issues/1/comments", {}, max_items=1000)


async def test_redirect_to_another_host_is_not_followed(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/repos/acme/old$", 301, Location="http://127.0.0.2:9/repos/acme/widget")
    async with client(fake, []) as gh:
        with pytest.raises(GitHubError, match="redirected /repos/acme/old to another host; not followed"):
            await gh.get_json("/repos/acme/old")


async def test_same_origin_redirect_is_followed(fake: FakeGitHub) -> None:
    fake.fail("GET", "^/repos/acme/old$", 301, Location=f"{fake.url}/repos/acme/widget")
    async with client(fake, []) as gh:
        assert (await gh.get_json("/repos/acme/old"))["name"] == "widget"


async def test_unreachable_api_is_retried_then_reported(fake: FakeGitHub) -> None:
    waits: list[float] = []
    settings = GitHubSettings(api_url="http://127.0.0.1:9", timeout_s=2, max_retries=2, backoff_s=0.5)

    async def sleep(s: float) -> None:
        waits.append(s)

    async with GitHubClient(settings, CANARY, sleep=sleep) as gh:
        with pytest.raises(
            GitHubError, match=r"cannot reach GitHub at http://127.0.0.1:9 \(ConnectError\); try again"
        ):
            await gh.get_json("/user")
    assert waits == [0.5, 1.0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://api.example.com", "plain http; use https"),
        ("ftp://x", "must be an http"),
        ("https://api.example.com/?x=1", "must not have a query"),
    ],
)
def test_api_url_is_checked(url: str, message: str) -> None:
    from tollhouse.tools.base import ToolError

    with pytest.raises(ToolError, match=message):
        check_api_url(url)
    assert check_api_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com/api/v3"


def test_shared_tls_context_still_verifies_certificates_and_hostnames() -> None:
    # Sharing the context across clients saves loading the CA bundle per call; it must stay verifying.
    from tollhouse.tools.github.client import _tls_context

    a = GitHubClient(GitHubSettings(api_url="https://api.github.com"), "t")
    b = GitHubClient(GitHubSettings(api_url="https://ghe.example/api/v3"), "t")
    ctx = _tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True
    for client in (a, b):
        pool = client._http._transport._pool  # the context each connection would be wrapped with
        assert pool._ssl_context is ctx


def test_no_pool_without_a_running_asyncio_loop() -> None:
    closers: list[object] = []
    services = types.SimpleNamespace(shared={}, on_close=closers.append)
    assert shared_transport(services) is None  # called outside asyncio: nothing to tie a pool to
    assert services.shared == {} and closers == []
