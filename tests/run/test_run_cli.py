"""`tollhouse run` as a real subprocess against each loopback provider: the acceptance task (edit a
file, run the tests), one verifiable chain, the case's handoff; Ctrl-C; and the exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import receipt_rows, subprocess_env, tollhouse_cmd
from tests.run.helpers import API_KEY, FIXED, fix_and_test_script, handoffs, open_case, sample_workspace
from tests.run.loopback import Loopback, Step


def th(cwd: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic", "gemini"])
def test_run_edits_a_file_runs_the_tests_and_leaves_one_verifiable_chain(
    workspace: Path, tmp_path: Path, provider: str
) -> None:
    with Loopback(fix_and_test_script(), api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        open_case(workspace, "C-1")
        out = th(workspace, "run", "--provider", provider, "--case", "C-1", "--json", "make the tests pass")
        assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "done" and result["turns"] == 3 and result["tool_calls"] == 3
    assert "Fixed add() and the tests pass." in out.stderr  # the model's text, streamed
    assert (workspace / "src" / "calc.py").read_text() == FIXED
    assert (workspace / "tests" / "test_more.py").exists()

    rows = [r for r in receipt_rows(workspace / ".tollhouse") if r["session"] == result["run_id"]]
    assert [r["kind"] for r in rows] == ["model", "intent", "intent", "outcome", "outcome", "model",
                                         "intent", "outcome", "model"] or _same_multiset(rows)  # fmt: skip
    pytest_run = next(r for r in rows if r["tool"] == "shell_run" and r["kind"] == "outcome")
    assert pytest_run["outcome"] == "ok" and "2 passed" in pytest_run["excerpt"]
    assert all(r["case_id"] == "C-1" for r in rows)
    assert API_KEY not in json.dumps(receipt_rows(workspace / ".tollhouse"))

    verified = th(workspace, "receipts", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    handoff = handoffs(workspace, "C-1")[0]
    assert handoff.kind == "done" and "Fixed add()" in handoff.summary and handoff.status_after == "done"
    if provider != "openai":
        return
    # The same chain exported verifies with no workspace at all (the format is one for every provider).
    bundle = tmp_path / "run.jsonl"
    assert th(workspace, "receipts", "export", "--out", str(bundle)).returncode == 0
    elsewhere = tmp_path / "offline"
    elsewhere.mkdir()
    offline = th(elsewhere, "receipts", "verify", str(bundle))
    assert offline.returncode == 0, offline.stdout + offline.stderr
    # The case file names model turns as such, next to the tool calls.
    shown = th(workspace, "cases", "show", "C-1").stdout
    assert "| (model turn) | ok 3 |" in shown and "model turn → ok" in shown


def _same_multiset(rows: list[dict]) -> bool:
    """Parallel calls may finish in either order; the model turns still frame them."""
    kinds = [r["kind"] for r in rows]
    return kinds[0] == "model" and kinds[-1] == "model" and kinds.count("model") == 3 and len(kinds) == 9


def test_ctrl_c_stops_cleanly_with_a_cancelled_receipt_and_an_interrupted_handoff(workspace: Path) -> None:
    steps = [Step(text="Thinking about it for a long time", hang_s=30)]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        open_case(workspace, "C-2")
        proc = subprocess.Popen(
            tollhouse_cmd("run", "--provider", "anthropic", "--case", "C-2", "think"),
            cwd=workspace, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not loop.model_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the first words are on the terminal
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 6, stderr
    assert "Thinking" in stdout and "cancelled" in stderr
    rows = receipt_rows(workspace / ".tollhouse")
    model = [r for r in rows if r["kind"] == "model"]
    assert [m["outcome"] for m in model] == ["cancelled"]
    assert "Ctrl-C" in model[0]["message"]
    assert handoffs(workspace, "C-2")[0].kind == "interrupted"
    assert th(workspace, "receipts", "verify").returncode == 0


def test_approval_is_asked_on_the_terminal(workspace: Path) -> None:
    import os
    import pty
    import select

    rule = '\n[[rules]]\nid = "docs-ask"\ntools = ["files_write"]\npaths = ["docs/**"]\neffect = "ask"\n'
    steps = [Step(calls=[("files_write", {"path": "docs/a.md", "content": "hello"})]), Step(text="written")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=rule)
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            tollhouse_cmd("run", "--provider", "openai", "write docs"), cwd=workspace, env=subprocess_env(),
            stdin=slave, stderr=slave, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        os.close(slave)
        seen, deadline = b"", time.monotonic() + 60
        while b"Allow this call once?" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        os.write(master, b"y\n")
        stdout, _ = proc.communicate(timeout=60)
        os.close(master)
    assert b"files_write needs approval" in seen and b"docs-ask" in seen
    assert proc.returncode == 0 and "written" in stdout
    assert (workspace / "docs" / "a.md").read_text() == "hello"
    outcome = next(r for r in receipt_rows(workspace / ".tollhouse") if r["kind"] == "outcome")
    assert outcome["approver"].startswith("terminal:")
