"""A canary token must never reach a result, an error, a log line or printed output."""

from __future__ import annotations

import json
import logging

import pytest

from tests.github.conftest import CANARY, Harness
from tests.github.fake_github import FakeGitHub
from tollhouse.tools.base import ToolError

pytestmark = pytest.mark.anyio

CALLS = [
    ("github_get_repo", {"repo": "acme/widget"}),
    ("github_list_issues", {"repo": "acme/widget"}),
    ("github_get_issue", {"repo": "acme/widget", "number": 2}),
    ("github_list_pulls", {"repo": "acme/widget"}),
    ("github_get_pull", {"repo": "acme/widget", "number": 3}),
    ("github_get_file", {"repo": "acme/widget", "path": "README.md"}),
    ("github_search_issues", {"query": "repo:acme/widget crash"}),
    ("github_comment", {"repo": "acme/widget", "number": 1, "body": "hello"}),
    ("github_create_issue", {"repo": "acme/widget", "title": "t"}),
    ("github_update_issue", {"repo": "acme/widget", "number": 1, "state": "closed"}),
    ("github_create_pull", {"repo": "acme/widget", "title": "t", "head": "fix-crash", "base": "main"}),
]


async def test_canary_absent_from_results_errors_facts_and_logs(
    harness: Harness, fake: FakeGitHub, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and our own logger at their chattiest
    seen: list[str] = []
    for tool, args in CALLS:
        result, ctx = await harness.run(tool, args)
        seen.append(json.dumps(result.model_dump()))
        seen.append(json.dumps(ctx.facts, default=str))
        seen.append(json.dumps(ctx.call.credentials_used))
    # error paths: every status, a body that echoes the token, rate-limit give-up, wrong token
    for status in (400, 401, 403, 404, 422, 500):
        fake.fail(
            "GET",
            "^/repos/acme/widget$",
            status,
            times=5,
            body={"message": f"echo Authorization: Bearer {CANARY}", "documentation_url": "x"},
        )
        with pytest.raises(ToolError, match=f"{status}") as info:
            await harness.run("github_get_repo", {"repo": "acme/widget"})
        seen.append(str(info.value))
        fake.faults.clear()
    fake.fail(
        "GET",
        "^/repos/acme/widget$",
        403,
        X_RateLimit_Remaining="0",
        X_RateLimit_Reset="9999999999",
        body={"message": f"API rate limit exceeded for {CANARY}"},
    )
    with pytest.raises(ToolError, match="primary rate limit") as info:
        await harness.run("github_get_repo", {"repo": "acme/widget"})
    seen.append(str(info.value))
    assert harness.redactor.secrets == [CANARY]  # registered the moment it was read
    out = capsys.readouterr()
    blob = "\n".join(seen) + caplog.text + out.out + out.err
    assert "HTTP Request: GET" in caplog.text  # the logs really were captured
    assert CANARY not in blob
    assert "[REDACTED]" in "\n".join(seen)  # the echoed token was scrubbed, not merely absent
