"""The composite action (action.yml, finish/action.yml, action/*.sh) run as a GitHub runner runs it:
the job's GITHUB_* variables, RUNNER_TEMP, GITHUB_ENV/PATH/OUTPUT/STEP_SUMMARY files, no TTY, on a
passing and a failing agent run. tollhouse is already installed (`install: none`, a `tollhouse` on
PATH running this checkout); installing from the action's checkout is what the wheel test proves.
The "agent" is tests/ci/agent.py, an MCP client started from the config the action wrote."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.ci.gha import Job, StepResult, run_action
from tests.conftest import REPO

POLICY = """\
[tools]
families = ["files"]

[[rules]]
id = "read"
tools = ["files_read"]
paths = ["**"]
effect = "allow"
"""
AGENT = REPO / "tests" / "ci" / "agent.py"
GITHUB = {
    "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
    "GITHUB_SHA": "c0ffee0000000000000000000000000000000000", "GITHUB_WORKFLOW": "agent",
    "GITHUB_JOB": "agent", "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY": "octo/app",
    "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "workflow_dispatch",
    "GITHUB_SERVER_URL": "https://github.com",
}  # fmt: skip


def make_job(tmp: Path, ws: Path) -> Job:
    shim_dir = tmp / "preinstalled"
    shim_dir.mkdir()
    shim = shim_dir / "tollhouse"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tollhouse "$@"\n')
    shim.chmod(0o755)
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir()
    (tmp / "home").mkdir()
    env = {
        **GITHUB,
        "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp / "home"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "GITHUB_WORKSPACE": str(ws),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"),
    }
    return Job(env=env, temp=tmp / "runner-files")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "tollhouse.toml").write_text(POLICY)  # committed, not yet trusted on this runner
    (root / "a.txt").write_text("hello\n")
    return root


def key_pair() -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key


def run(ws: Path, tmp: Path, calls: list, **with_: str) -> tuple[list[StepResult], Job]:
    job = make_job(tmp, ws)
    job.temp.mkdir()
    agent = f"{shlex.quote(sys.executable)} {shlex.quote(str(AGENT))} {shlex.quote(json.dumps(calls))}"
    results = run_action(REPO, {"install": "none", "run": agent, **with_}, job, cwd=ws)
    return results, job


def by_id(results: list[StepResult]) -> dict[str | None, StepResult]:
    return {r.id: r for r in results}


def upload(results: list[StepResult]) -> StepResult:
    (step,) = [r for r in results if r.uses and r.uses.startswith("actions/upload-artifact@")]
    return step


def test_a_passing_agent_run(ws: Path, tmp_path: Path) -> None:
    pem, key = key_pair()
    digest = hashlib.sha256((ws / "tollhouse.toml").read_bytes()).hexdigest()
    results, job = run(
        ws, tmp_path, [["files_read", {"path": "a.txt"}]], **{"signing-key": pem, "policy-sha256": digest}
    )
    steps = by_id(results)
    assert [r.outcome for r in results] == ["skipped", "success", "success", "success", "success"], [
        (r.id, r.outcome, r.stderr[-2000:]) for r in results
    ]
    assert steps["agent"].stdout.startswith("files_read: ok: ") and "hello" in steps["agent"].stdout
    finish = steps["finish"]
    assert "ok                   1" in finish.stdout
    assert "matches the signing key in the environment" in finish.stdout
    out_dir = Path(job.env["RUNNER_TEMP"]) / "tollhouse-out"
    assert upload(results).with_["path"] == str(out_dir)
    assert sorted(p.name for p in out_dir.iterdir()) == ["tollhouse-ci.json", "tollhouse-receipts.jsonl"]
    assert json.loads((out_dir / "tollhouse-ci.json").read_text())["exit_code"] == 0
    assert "| ok | 1 |" in Path(job.env["GITHUB_STEP_SUMMARY"]).read_text()
    # The key stayed out of the workspace and out of the environment; the workspace got no files.
    key_file = Path(job.added_env["TOLLHOUSE_SIGNING_KEY_FILE"])
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and ws not in key_file.parents
    assert "TOLLHOUSE_SIGNING_KEY" not in job.added_env
    assert sorted(p.name for p in ws.iterdir()) == [".tollhouse", "a.txt", "tollhouse.toml"]
    # The run is in the receipts, although the MCP client passed only a few variables to the server.
    bundle = (out_dir / "tollhouse-receipts.jsonl").read_text().splitlines()
    events = [json.loads(e) for e in bundle[1:] if '"kind":"event"' in e]
    ci = json.loads(events[0]["details"])["ci"]
    assert ci["run_id"] == "4242" and ci["actor"] == "octocat" and ci["commit"].startswith("c0ffee")
    # Anyone holding the public key checks where the bundle came from.
    pub = tmp_path / "ci.pub"
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    check = subprocess.run(
        [sys.executable, "-m", "tollhouse", "receipts", "verify", str(out_dir / "tollhouse-receipts.jsonl"),
         "--public-key", str(pub)],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout


def test_a_failing_agent_run_still_uploads_and_fails_the_job(ws: Path, tmp_path: Path) -> None:
    calls = [["files_read", {"path": "a.txt"}], ["files_read", {"path": "../../etc/passwd"}]]
    results, job = run(ws, tmp_path, calls)
    steps = by_id(results)
    assert steps["agent"].outcome == "success"  # the agent itself finished
    finish = steps["finish"]
    assert finish.outcome == "failure" and finish.code == 3
    assert "::error title=tollhouse::calls matched fail-on" in finish.stdout
    assert "denied" in finish.stdout and "workspace.roots" in finish.stdout
    assert "origin NOT checked" in finish.stdout  # no signing key given
    assert upload(results).with_["path"].endswith("tollhouse-out")  # the upload ran after the failure
    summary = Path(job.env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "| denied | 1 |" in summary and "etc/passwd" in summary
    # The same job ended instead by the finish action (for an agent run in the workflow's own step):
    job.failed = False
    again = run_action(REPO / "finish", {"fail-on": "never"}, job, cwd=ws)
    assert [r.outcome for r in again] == ["success", "success"], again[0].stdout + again[0].stderr
    assert again[1].uses.startswith("actions/upload-artifact@") and again[1].with_["path"].endswith(
        "tollhouse-out"
    )
    strict = run_action(REPO / "finish", {"fail-on": "needs_approval,denied"}, job, cwd=ws)
    assert strict[0].code == 3 and strict[1].outcome == "success"


def test_a_policy_that_is_not_the_reviewed_one_stops_before_the_agent(ws: Path, tmp_path: Path) -> None:
    job = make_job(tmp_path, ws)
    job.temp.mkdir()
    # Set-up only (no `run`): the agent and finish steps are the workflow's, nothing else runs here.
    results = run_action(REPO, {"install": "none", "policy-sha256": "0" * 64}, job, cwd=ws)
    assert [r.outcome for r in results] == ["skipped", "failure", "skipped", "skipped", "skipped"]
    assert results[1].code == 9 and "the committed policy is not the expected one" in results[1].stdout
    assert "TOLLHOUSE_MCP_CONFIG" not in job.added_env and not (ws / ".tollhouse").exists()


def test_the_example_workflow_uses_the_action_and_only_its_inputs() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    finish = yaml.safe_load((REPO / "finish" / "action.yml").read_text())
    workflow = yaml.safe_load((REPO / "examples" / "github-workflow.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    ours = [
        s for s in steps if s.get("uses", "").split("@")[0] in ("OWNER/tollhouse", "OWNER/tollhouse/finish")
    ]
    assert ours, "the example does not use the action"
    for step in ours:
        spec = finish if step["uses"].split("@")[0].endswith("/finish") else action
        assert set(step.get("with", {})) <= set(spec["inputs"]), step["with"]
        assert "@" in step["uses"]
    # Every script a step names exists; every output refers to a step id that exists.
    for spec, folder in ((action, REPO), (finish, REPO / "finish")):
        ids = {s.get("id") for s in spec["runs"]["steps"]}
        for out in spec["outputs"].values():
            assert out["value"].split(".")[1] in ids
        for s in spec["runs"]["steps"]:
            if "run" in s and "GITHUB_ACTION_PATH" in s["run"]:
                rel = s["run"].split('"$GITHUB_ACTION_PATH/')[1].split('"')[0]
                assert (folder / rel).resolve().is_file(), rel


def test_a_line_break_in_a_path_cannot_add_variables_for_later_steps(ws: Path, tmp_path: Path) -> None:
    odd = ws / "sub\nINJECTED=1"
    odd.mkdir()
    (odd / "tollhouse.toml").write_text(POLICY)
    job = make_job(tmp_path, ws)
    job.temp.mkdir()
    results = run_action(REPO, {"install": "none", "policy": "sub\nINJECTED=1/tollhouse.toml"}, job, cwd=ws)
    assert (
        results[1].outcome == "failure" and "TOLLHOUSE_CONFIG would contain a line break" in results[1].stdout
    )
    assert "INJECTED" not in job.added_env and "TOLLHOUSE_CONFIG" not in job.added_env
