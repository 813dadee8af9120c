"""`tollhouse auth test` on model credential profiles: a models-list call to the loopback provider."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.run.helpers import API_KEY, sample_workspace
from tests.run.loopback import Loopback


def auth_test(cwd: Path, profile: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd("auth", "test", profile, "--json"), cwd=cwd, env=subprocess_env(),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("profile", ["openai:loop", "anthropic:loop", "gemini:loop"])
def test_auth_test_lists_the_models_with_the_profile_key(workspace: Path, profile: str) -> None:
    with Loopback(api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        out = auth_test(workspace, profile)
        (request,) = loop.requests
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["ok"] is True and row["models"] == 1 and row["api_url"].startswith("http://127.0.0.1:")
    assert request.method == "GET" and request.path.split("?")[0].endswith("/models")
    assert API_KEY not in out.stdout + out.stderr


def test_auth_test_reports_a_rejected_key_without_printing_it(workspace: Path) -> None:
    with Loopback(api_key="sk-the-right-one") as loop:
        sample_workspace(workspace, loop)
        out = auth_test(workspace, "anthropic:loop")
    assert out.returncode == 1
    (row,) = json.loads(out.stdout)
    assert row["ok"] is False and "401" in row["error"] and "invalid api key" in row["error"]
    assert API_KEY not in out.stdout + out.stderr
