"""`tollhouse auth list|status|test` as a real subprocess against the fake GitHub."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.github.conftest import CANARY, TOKEN_ENV
from tests.github.fake_github import FakeGitHub


def auth(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "auth", *args),
        capture_output=True,
        text=True,
        env=subprocess_env(**env),
        timeout=60,
    )


def setup(root: Path, fake: FakeGitHub) -> None:
    write_config(
        root,
        f"""
        [credentials."github:default"]
        source = "env:{TOKEN_ENV}"

        [credentials."github:bot"]
        source = "file:bot.token"

        [github]
        api_url = "{fake.url}"
        backoff_s = 0
        """,
    )


def test_list_shows_sources_never_values(workspace: Path, fake: FakeGitHub) -> None:
    setup(workspace, fake)
    out = auth(workspace, "list", "--json", **{TOKEN_ENV: CANARY})
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["id"], r["source"]) for r in rows] == [
        ("github:bot", f"file:{workspace / 'bot.token'}"),
        ("github:default", f"env:{TOKEN_ENV}"),
    ]
    assert CANARY not in out.stdout + out.stderr


def test_status_resolves_locally_and_reports_failures(workspace: Path, fake: FakeGitHub) -> None:
    setup(workspace, fake)
    (workspace / "bot.token").write_text(CANARY)
    (workspace / "bot.token").chmod(0o644)
    out = auth(workspace, "status", **{TOKEN_ENV: CANARY})
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines[0].startswith("github:bot") and "FAILED: credential profile github:bot:" in lines[0]
    assert "chmod 600" in lines[0]
    assert lines[1].startswith("github:default") and lines[1].endswith("  ok")
    assert CANARY not in out.stdout + out.stderr


def test_test_calls_get_user(workspace: Path, fake: FakeGitHub) -> None:
    setup(workspace, fake)
    out = auth(workspace, "test", "--json", **{TOKEN_ENV: CANARY})
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)[0]
    assert (row["id"], row["ok"], row["login"], row["scopes"]) == (
        "github:default",
        True,
        "octocat",
        "repo, read:org",
    )
    assert fake.count("GET", "^/user$") == 1
    assert CANARY not in out.stdout + out.stderr


def test_test_with_a_wrong_token_fails_clearly(workspace: Path, fake: FakeGitHub) -> None:
    setup(workspace, fake)
    out = auth(workspace, "test", "github:default", **{TOKEN_ENV: "ghp_wrong_value_123"})
    assert out.returncode == 1
    assert (
        "FAILED: GitHub rejected the credential of profile github:default (401: Bad credentials)"
        in out.stdout
    )
    assert "ghp_wrong_value_123" not in out.stdout + out.stderr


def test_unknown_profile_and_bad_config_are_usage_errors(workspace: Path, fake: FakeGitHub) -> None:
    setup(workspace, fake)
    out = auth(workspace, "test", "github:nope")
    assert (
        out.returncode == 2
        and "no credential profile 'github:nope' (known: github:bot, github:default)" in out.stderr
    )
    write_config(workspace, f'[credentials."github:default"]\nsource = "{CANARY}"\n')
    out = auth(workspace, "list")
    assert out.returncode == 2 and "must start with env:, file: or command:" in out.stderr
    assert CANARY not in out.stdout + out.stderr
