"""`tollhouse login` (device authorization grant against a real provider), `whoami`, `logout`; the
subject then names CLI receipts, its groups reach policy, its tokens stay 0600 outside the workspace
and are refreshed."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.identity.conftest import Oidc
from tests.server.conftest import CONFIG, make_workspace, receipts

RESOURCE = "https://tollhouse.test/mcp"
RULES = """
[[rules]]
id = "dev-no-notes"
tools = ["demo_note_read"]
paths = ["notes/**"]
principals = ["group:dev"]
effect = "deny"
"""


def login_config(issuer: str) -> str:
    return (
        CONFIG
        + RULES
        + f"""
[oauth]
issuer = "{issuer}"
resource = "{RESOURCE}"
client_id = "cli"
principal_claim = "email"
"""
    )


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), *args),
        cwd=root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def login_as(oidc: Oidc, root: Path, account: str) -> subprocess.CompletedProcess[str]:
    """Run `tollhouse login` and, as the person, open the URL it prints and sign in."""
    proc = subprocess.Popen(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "login"),
        cwd=root,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    shown = re.match(r"To sign in, open (\S+) and enter the code (\S+)", first)
    assert shown, first + (proc.stderr.read() if proc.stderr else "")
    assert shown.group(1) == f"{oidc.issuer}/device"
    complete = re.match(r"\s+\(or open (\S+)\)", proc.stdout.readline())
    assert complete and shown.group(2) in complete.group(1)
    done = oidc.browse(complete.group(1), account)
    assert "Sign-in Success" in done.text
    out, err = proc.communicate(timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + out, err)


def logins_file(home: Path) -> Path:
    return home / "logins.json"


def test_login_names_the_person_in_receipts_and_policy(
    oidc: Oidc, workspace: Path, _operator_home: Path
) -> None:
    root = make_workspace(workspace)
    write_config(root, login_config(oidc.issuer))
    before = run(root, "whoami", "--json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["source"] == "local"

    done = login_as(oidc, root, "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f"logged in as alice@acme.example (groups: sre) at {oidc.issuer}")
    path = logins_file(_operator_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(root.rglob("logins.json"))  # nothing in the workspace
    record = json.loads(path.read_text())[f"{oidc.issuer} cli"]
    assert record["principal"] == "alice@acme.example" and record["groups"] == ["sre"]
    assert record["refresh_token"]

    who = json.loads(run(root, "whoami", "--json").stdout)
    assert (who["operator"], who["groups"], who["source"]) == ("alice@acme.example", ["sre"], "login")

    call = run(root, "call", "demo_note_read", '{"path": "notes/welcome.txt"}')
    assert call.returncode == 0, call.stderr
    row = [r for r in receipts(root) if r["tool"] == "demo_note_read"][-1]
    assert row["operator"] == "alice@acme.example" and row["channel"] == "cli"
    assert row["details"]["operator_groups"] == ["sre"]


def test_refresh_then_logout(oidc: Oidc, workspace: Path, _operator_home: Path) -> None:
    root = make_workspace(workspace)
    write_config(root, login_config(oidc.issuer))
    assert login_as(oidc, root, "bob").returncode == 0
    path = logins_file(_operator_home)
    data = json.loads(path.read_text())
    key = f"{oidc.issuer} cli"
    old = data[key]
    data[key]["expires_at"] = 0  # as if the access token had expired
    path.write_text(json.dumps(data))
    path.chmod(0o600)

    # bob is in group dev: the principals deny rule applies to him, and the receipt says so.
    call = run(root, "call", "demo_note_read", '{"path": "notes/welcome.txt"}')
    assert call.returncode == 3, call.stdout + call.stderr
    assert "dev-no-notes" in call.stdout + call.stderr
    row = [r for r in receipts(root) if r["tool"] == "demo_note_read"][-1]
    assert (row["operator"], row["outcome"], row["rules"]) == ("bob@acme.example", "denied", ["dev-no-notes"])
    new = json.loads(path.read_text())[key]
    assert new["access_token"] != old["access_token"] and new["expires_at"] > 0  # refreshed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    out = run(root, "logout")
    assert out.returncode == 0 and out.stdout.strip() == f"logged out of {oidc.issuer} (bob@acme.example)"
    assert key not in json.loads(path.read_text())
    # The refresh token was revoked at the provider: it no longer refreshes.
    r = httpx.post(
        f"{oidc.issuer}/token",
        data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"], "client_id": "cli"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    who = json.loads(run(root, "whoami", "--json").stdout)
    assert who["source"] == "local" and who["operator"].startswith("local:")
    call = run(root, "call", "demo_note_read", '{"path": "notes/welcome.txt"}')
    assert call.returncode == 0


def test_a_refused_refresh_ends_the_login(oidc: Oidc, workspace: Path, _operator_home: Path) -> None:
    root = make_workspace(workspace)
    write_config(root, login_config(oidc.issuer))
    path = logins_file(_operator_home)
    key = f"{oidc.issuer} cli"
    record = {
        "issuer": oidc.issuer, "client_id": "cli", "resource": RESOURCE, "access_token": "old",
        "refresh_token": "revoked-or-made-up", "expires_at": 0, "principal": "alice@acme.example",
        "groups": ["sre"],
    }  # fmt: skip
    path.write_text(json.dumps({key: record}))
    path.chmod(0o600)
    out = run(root, "call", "demo_note_read", '{"path": "notes/welcome.txt"}')
    assert "login for " + oidc.issuer + " ended" in out.stderr
    row = [r for r in receipts(root) if r["tool"] == "demo_note_read"][-1]
    assert row["operator"].startswith("local:")  # never a name the provider no longer vouches for
    assert key not in json.loads(path.read_text())


def test_login_refuses_without_an_oauth_table_or_a_trusted_config(workspace: Path) -> None:
    root = make_workspace(workspace)
    out = run(root, "login")
    assert out.returncode == 2
    assert "has no [oauth] table" in out.stderr
    (root / "tollhouse.toml").write_text(login_config("https://evil.example"), encoding="utf-8")
    out = run(root, "login")  # an issuer from a file nobody trusted: nobody is sent there
    assert out.returncode == 9, out.stderr


def _fake_token_endpoint(answers: list[dict[str, Any]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        body = answers.pop(0)
        return httpx.Response(200 if "access_token" in body else 400, json=body)

    return httpx.MockTransport(handler)


@pytest.mark.anyio
async def test_polling_honours_interval_and_slow_down() -> None:
    from tollhouse.principal_login import DeviceCode, LoginError, poll_token
    from tollhouse.server.oauth_config import OAuthSettings

    settings = OAuthSettings(issuer="https://idp.example", client_id="cli")
    meta = {"token_endpoint": "https://idp.example/token"}
    code = DeviceCode("dc", "UC", "https://idp.example/device", None, 600, 2)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    answers = [
        {"error": "authorization_pending"},
        {"error": "slow_down"},
        {"error": "authorization_pending"},
        {"error": "slow_down"},
        {"access_token": "t", "token_type": "Bearer"},
    ]
    async with httpx.AsyncClient(transport=_fake_token_endpoint(answers)) as client:
        tokens = await poll_token(client, settings, meta, code, sleep)
    assert tokens["access_token"] == "t"
    assert waits == [2, 2, 7, 7, 12]
    for error, message in (
        ("access_denied", "the sign-in was declined"),
        ("expired_token", "the code expired before it was approved"),
        ("invalid_client", "the issuer refused the login: invalid_client"),
    ):
        async with httpx.AsyncClient(transport=_fake_token_endpoint([{"error": error}])) as client:
            with pytest.raises(LoginError, match=message):
                await poll_token(client, settings, meta, code, sleep)


def _write_login(home: Path, issuer: str, principal: str, groups: list[str], expires_at: int) -> None:
    record = {
        "issuer": issuer, "client_id": "cli", "resource": RESOURCE, "access_token": "t",
        "refresh_token": "r", "expires_at": expires_at, "principal": principal, "groups": groups,
    }  # fmt: skip
    path = logins_file(home)
    path.write_text(json.dumps({f"{issuer} cli": record}))
    path.chmod(0o600)


@pytest.mark.anyio
async def test_stdio_receipts_and_policy_name_the_logged_in_subject(
    workspace: Path, _operator_home: Path
) -> None:
    import time

    from mcp import Client

    from tests.server.conftest import stdio_params

    issuer = "https://idp.invalid"  # never contacted: the access token has not expired
    root = make_workspace(workspace)
    write_config(root, login_config(issuer))
    _write_login(_operator_home, issuer, "bob@acme.example", ["dev"], int(time.time()) + 600)
    async with Client(stdio_params(root)) as client:
        result = await client.call_tool("demo_note_read", {"path": "notes/welcome.txt"})
    assert result.is_error and "dev-no-notes" in result.content[0].text
    row = [r for r in receipts(root) if r["tool"] == "demo_note_read"][-1]
    assert (row["operator"], row["channel"], row["outcome"]) == ("bob@acme.example", "mcp-stdio", "denied")
    assert row["details"]["operator_groups"] == ["dev"]
    # A grant is a person's decision: it and its receipt name the logged-in subject too.
    out = run(root, "grant", "demo_note_write", "--arg", "path=notes/*", "--uses", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["created_by"] == "bob@acme.example"
    event = [r for r in receipts(root) if r["tool"] == "grant_created"][-1]
    assert (event["operator"], event["details"]["operator_groups"]) == ("bob@acme.example", ["dev"])


def test_a_login_file_others_can_read_is_refused(workspace: Path, _operator_home: Path) -> None:
    import time

    root = make_workspace(workspace)
    write_config(root, login_config("https://idp.invalid"))
    _write_login(_operator_home, "https://idp.invalid", "alice@acme.example", [], int(time.time()) + 600)
    logins_file(_operator_home).chmod(0o644)
    out = run(root, "whoami")
    assert "is readable by other users" in out.stderr
    assert out.stdout.startswith("local:")  # not the name in a file anyone could have written
    call = run(root, "call", "demo_note_read", '{"path": "notes/welcome.txt"}')
    assert "is readable by other users" in call.stderr
    row = [r for r in receipts(root) if r["tool"] == "demo_note_read"][-1]
    assert row["operator"].startswith("local:")


def test_login_without_a_resource_names_you_by_userinfo(oidc: Oidc, workspace: Path) -> None:
    root = make_workspace(workspace)
    config = login_config(oidc.issuer).replace(f'resource = "{RESOURCE}"\n', "")
    write_config(root, config.replace('principal_claim = "email"', 'principal_claim = "sub"'))
    done = login_as(oidc, root, "alice")
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f"logged in as alice at {oidc.issuer}")  # userinfo has no groups
