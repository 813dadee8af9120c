"""The GitHub family through the real gate: policy on repos facets, asks for writes, pinning as a
denial, receipts naming the profile, and the canary absent from the raw receipt database."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows, write_config
from tests.github.conftest import CANARY, TOKEN_ENV
from tests.github.fake_github import FakeGitHub, Fault
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import ApprovalAnswer, ApprovalRequest, Call

pytestmark = pytest.mark.anyio

RULES = """
[[rules]]
id = "github-read-acme"
tools = ["github_get_*", "github_list_*", "github_search_issues"]
repos = ["acme/*"]
effect = "allow"

[[rules]]
id = "github-no-vault"
tools = ["github_*"]
repos = ["acme/vault"]
effect = "deny"

[[rules]]
id = "github-write-ask"
tools = ["github_comment", "github_create_issue", "github_update_issue", "github_create_pull"]
repos = ["acme/*", "octo/*"]
effect = "ask"
"""


def gated_config(root: Path, fake: FakeGitHub):
    write_config(
        root,
        f"""
        [tools]
        families = ["github"]

        [credentials."github:default"]
        source = "env:{TOKEN_ENV}"

        [github]
        api_url = "{fake.url}"
        backoff_s = 0
        max_wait_s = 1
        """
        + RULES,
    )
    return load_config(root / "tollhouse.toml")


async def approve(request: ApprovalRequest) -> ApprovalAnswer:
    return ApprovalAnswer(approved=True, approver="test:yes")


def receipts(config) -> list[dict]:
    return receipt_rows(config.state_dir)


async def test_allowed_read_names_the_profile_and_the_untrusted_label(
    workspace: Path, fake: FakeGitHub
) -> None:
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("github_get_issue", {"repo": "acme/widget", "number": 2}, session="s"))
    assert out.status == "ok", out.message
    assert out.decision.rules == ("github-read-acme",)
    assert out.result["untrusted"] is True and "<!--" not in out.result["body"]
    outcome = next(r for r in receipts(config) if r["call_id"] == out.call_id and r["kind"] == "outcome")
    assert json.loads(outcome["credentials"]) == ["github:default"]
    details = json.loads(outcome["details"])
    assert details["untrusted_content"] is True and details["stripped_html_comments"] == 2


async def test_repo_rules_allow_deny_and_default_deny(workspace: Path, fake: FakeGitHub) -> None:
    fake.add_repo("acme/vault", private=True)
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        other = await gate.call(Call("github_get_repo", {"repo": "octo/public"}))
        vault = await gate.call(Call("github_get_repo", {"repo": "ACME/Vault"}))
        search = await gate.call(
            Call("github_search_issues", {"query": "repo:acme/widget repo:octo/public x"})
        )
    assert (other.status, other.decision.rules) == ("denied", ("default-deny",))
    assert (vault.status, vault.decision.rules) == ("denied", ("github-no-vault",))
    assert search.status == "denied"  # octo/public is outside the read rule, so the whole search is
    assert fake.count("GET", "^/repos/(octo/public|acme/vault)") == 0


async def test_writes_ask_and_run_only_when_approved(workspace: Path, fake: FakeGitHub) -> None:
    config = gated_config(workspace, fake)
    args = {"repo": "acme/widget", "number": 1, "body": "thanks"}
    async with await Gate.open(config) as gate:
        unasked = await gate.call(Call("github_comment", args))
        approved = await gate.call(Call("github_comment", args, approver=approve))
    assert unasked.status == "needs_approval" and fake.count("POST", ".") == 1
    assert approved.status == "ok" and approved.approver == "test:yes"


async def test_pinning_through_the_gate_is_a_denial_naming_its_rule(
    workspace: Path, fake: FakeGitHub
) -> None:
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        public = await gate.call(Call("github_get_issue", {"repo": "acme/widget", "number": 2}, session="t"))
        private = await gate.call(
            Call("github_get_file", {"repo": "acme/secret", "path": "keys.txt"}, session="t")
        )
        leak = await gate.call(
            Call(
                "github_comment",
                {"repo": "acme/widget", "number": 2, "body": "hunter2"},
                session="t",
                approver=approve,
            )
        )
    assert public.status == private.status == "ok"
    assert leak.status == "denied" and leak.decision.rules == ("github.pinning",)
    assert "read private repository acme/secret; writes to acme/widget are denied" in leak.message
    assert fake.count("POST", ".") == 0


def raw_state(config) -> bytes:
    """Every byte under .tollhouse: receipts.db, state.db and their -wal / -shm files."""
    return b"".join(p.read_bytes() for p in sorted(config.state_dir.rglob("*")) if p.is_file())


async def test_canary_never_reaches_the_receipt_database(
    workspace: Path, fake: FakeGitHub, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the gate, httpx and httpcore at their chattiest
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        outs = [
            await gate.call(Call("github_get_repo", {"repo": "acme/widget"})),
            await gate.call(Call("github_get_pull", {"repo": "acme/widget", "number": 3})),
            await gate.call(Call("github_search_issues", {"query": "repo:acme/widget crash"})),
        ]
        # GitHub echoing the token in an error body
        fake.fail("GET", "^/repos/acme/widget$", 422, body={"message": f"token {CANARY} invalid"})
        outs.append(await gate.call(Call("github_get_repo", {"repo": "acme/widget"})))
        # a model steered into posting the token: arguments redacted, the write refused
        outs.append(
            await gate.call(
                Call(
                    "github_comment",
                    {"repo": "acme/widget", "number": 1, "body": f"my token is {CANARY}"},
                    approver=approve,
                )
            )
        )
        # the token rejected (401) with the token echoed back, and a rate limit that gives up
        fake.faults.clear()
        fake.fail("GET", "^/repos/acme/widget$", 401, body={"message": f"Bad credentials {CANARY}"})
        outs.append(await gate.call(Call("github_get_repo", {"repo": "acme/widget"})))
        fake.faults.clear()
        fake.fail(
            "GET",
            "^/repos/acme/widget$",
            403,
            X_RateLimit_Remaining="0",
            X_RateLimit_Reset="9999999999",
            body={"message": f"API rate limit exceeded for {CANARY}"},
        )
        outs.append(await gate.call(Call("github_get_repo", {"repo": "acme/widget"})))
        # while the gate is open the receipts sit in the WAL file: grep that too
        wal = config.state_dir / "receipts.db-wal"
        assert wal.exists() and wal.stat().st_size > 0
        raw_open = raw_state(config)
    assert [o.status for o in outs] == ["ok", "ok", "ok", "error", "error", "error", "error"]
    assert "contains a secret" in outs[4].message and fake.count("POST", ".") == 0
    assert "[REDACTED]" in outs[3].message
    assert "401" in outs[5].message and "[REDACTED]" in outs[5].message
    assert "primary rate limit" in outs[6].message and "[REDACTED]" not in outs[6].message
    for out in outs:
        assert CANARY not in json.dumps(out.to_json())
    raw = raw_state(config)
    for blob in (raw_open, raw):
        assert b"github:default" in blob  # the profile id is recorded...
        assert CANARY.encode() not in blob  # ...the value never
    captured = capfd.readouterr()
    assert "HTTP Request: GET" in caplog.text  # the logs really were captured
    assert CANARY not in caplog.text + captured.out + captured.err


async def wait_closed(fake: FakeGitHub, within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while fake.open_connections and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    assert fake.open_connections == 0, "a connection to GitHub outlived the gate"


async def test_calls_share_one_connection_and_the_gate_closes_it(workspace: Path, fake: FakeGitHub) -> None:
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        outs = [await gate.call(Call("github_get_repo", {"repo": "acme/widget"})) for _ in range(3)]
        write = await gate.call(
            Call("github_comment", {"repo": "acme/widget", "number": 1, "body": "hi"}, approver=approve)
        )
        assert [o.status for o in [*outs, write]] == ["ok"] * 4, [o.message for o in outs]
        assert len({r.peer for r in fake.requests}) == 1  # one TCP connection for all four calls
        assert fake.open_connections == 1
    await wait_closed(fake)


async def test_each_call_keeps_its_own_cookies_and_token(workspace: Path, fake: FakeGitHub) -> None:
    repo = {"full_name": "acme/widget", "private": False, "description": "", "default_branch": "main"}
    cookie = {"Set-Cookie": "gh_sess=s3cr3t; Path=/"}
    fake.faults.append(Fault("GET", "^/repos/acme/widget$", 200, cookie, repo))
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        await gate.call(Call("github_get_repo", {"repo": "acme/widget"}))
        second = await gate.call(Call("github_get_repo", {"repo": "acme/widget"}))
    assert second.status == "ok", second.message
    first_req, second_req = fake.requests[0], fake.requests[-1]
    assert first_req.peer == second_req.peer  # the connection was shared ...
    assert "cookie" not in second_req.headers  # ... the first call's cookie jar was not
    assert second_req.headers["authorization"] == f"Bearer {CANARY}"


async def test_a_proxy_in_the_environment_is_honoured_so_calls_do_not_pool(
    workspace: Path, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # httpx applies HTTPS_PROXY and friends only to a client that builds its own transport; a shared
    # pool would silently bypass the user's proxy. NO_PROXY lets the loopback fake be reached directly.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    config = gated_config(workspace, fake)
    async with await Gate.open(config) as gate:
        outs = [await gate.call(Call("github_get_repo", {"repo": "acme/widget"})) for _ in range(2)]
    assert [o.status for o in outs] == ["ok", "ok"]
    assert len({r.peer for r in fake.requests}) == 2
    await wait_closed(fake)
