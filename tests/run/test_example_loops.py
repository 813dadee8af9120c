"""examples/*_loop.py run against the loopback providers: the key comes from the credential
profile, the tool calls pass the gate, and the model turns are receipted in the same chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, receipt_rows, subprocess_env
from tests.run.helpers import API_KEY, sample_workspace
from tests.run.loopback import Loopback, Step


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_example_loop_reads_a_file_through_the_gate(workspace: Path, provider: str) -> None:
    steps = [Step(calls=[("files_read", {"path": "src/calc.py"})]), Step(text="It subtracts.")]
    with Loopback(steps, api_key=API_KEY) as loop:  # no *_API_KEY variable: the profile has the key
        sample_workspace(workspace, loop)  # [run.PROVIDER] names the PROVIDER:loop profile (a key file)
        env = subprocess_env()
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
            env.pop(name, None)
        out = subprocess.run(
            [sys.executable, str(REPO / "examples" / f"{provider}_loop.py"), "what does add do?"],
            cwd=workspace, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "It subtracts." in out.stdout
    rows = receipt_rows(workspace / ".tollhouse")
    assert [r["kind"] for r in rows] == ["model", "outcome", "model"]
    assert json.loads(rows[0]["credentials"]) == [f"{provider}:loop"]
    assert json.loads(rows[1]["details"])["provider"]["call_id"]
    assert API_KEY not in json.dumps(rows)
