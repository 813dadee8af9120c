"""The adversarial suite and the lifecycle tests through the real gate: real policy, real receipts."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows
from tests.shell.cases import CASES, RULES, Case
from tests.shell.conftest import alive
from tests.shell.suite import build_world
from tollhouse.config import parse_config
from tollhouse.gate import Call, Gate
from tollhouse.gate.policy import Policy
from tollhouse.tools.base import Registry
from tollhouse.tools.shell import SHELL_RUN

pytestmark = pytest.mark.anyio

STATUS = {
    "shell": "denied",
    "deny": "denied",
    "cwd": "denied",
    "tool_deny": "denied",
    "allow": "ok",
    "tool_error": "error",
}


def gate_config(ws: Path, extra: str = ""):
    rules = json.dumps(RULES)
    text = textwrap.dedent(f"""
        [tools]
        families = ["shell"]

        [redaction]
        env = ["TOLLHOUSE_SHELL_CANARY"]

        [[rules]]
        id = "shell-suite"
        tools = ["shell_run"]
        argv = {rules}
        effect = "allow"
    """) + textwrap.dedent(extra)
    path = ws / "tollhouse.toml"
    path.write_text(text)
    return parse_config(text, path)


def receipts(config) -> list[dict]:
    return receipt_rows(config.state_dir)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_case_through_the_gate(
    case: Case, tmp_path: Path, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(tmp_path, ws)
    if "ws_on_path" in case.setup:
        monkeypatch.setenv("PATH", f"{ws / 'bin'}{os.pathsep}{os.environ['PATH']}")
    config = gate_config(ws)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", world.args(case), channel="cli"))
    assert out.status == STATUS[case.expect], f"{case.id}: {out.status} {out.message}"
    if case.expect in ("shell", "deny", "cwd"):
        # Refused by policy: only the denial receipt, the tool never ran.
        assert [r["outcome"] for r in receipts(config) if r["call_id"] == out.call_id] == ["denied"]
    if case.expect == "tool_deny":
        assert case.rule in out.decision.rules
    assert not world.marker.exists(), f"{case.id}: the payload ran"


async def test_argv_rule_runs_and_receipt_has_the_facts(ws: Path) -> None:
    config = gate_config(ws)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["echo", "hello"]}, channel="cli"))
    assert out.ok and out.result["stdout"] == "hello\n" and out.result["exit_code"] == 0
    outcome = receipts(config)[-1]
    details = json.loads(outcome["details"])
    assert outcome["outcome"] == "ok" and details["argv"] == ["echo", "hello"] and details["exit_code"] == 0
    assert details["stdout_bytes"] == 6 and details["stdout_sha256"] == hashlib.sha256(b"hello\n").hexdigest()
    assert details["cwd"] == str(ws.resolve()) and details["stderr_bytes"] == 0


async def test_shell_mode_needs_a_commands_rule(ws: Path) -> None:
    extra = """
        [[rules]]
        id = "pipeline"
        tools = ["shell_run"]
        commands = ["echo abc | tr a x"]
        effect = "allow"
    """
    config = gate_config(ws, extra)
    async with await Gate.open(config) as gate:
        ok = await gate.call(Call("shell_run", {"command": "echo abc | tr a x"}))
        other = await gate.call(Call("shell_run", {"command": "echo abc | tr a y"}))
    assert ok.ok and ok.result["stdout"] == "xbc\n" and ok.result["mode"] == "shell"
    assert other.status == "denied"


async def test_cancellation_leaves_no_process_and_a_cancelled_receipt(ws: Path) -> None:
    call = Call("shell_run", {"argv": ["timeout", "30", "sleep", "30"]})
    extra = '[[rules]]\nid = "sleeper"\ntools = ["shell_run"]\nargv = ["timeout 30 sleep 30"]\n'
    extra += 'effect = "allow"\n'
    config = gate_config(ws, extra)
    running: list[int] = []
    async with await Gate.open(config) as gate:
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.call, call)
            deadline = time.monotonic() + 5
            while not running and time.monotonic() < deadline:
                await anyio.sleep(0.02)
                running = _sleepers(ws)
            tg.cancel_scope.cancel()
            cancelled_at = time.monotonic()
    assert running, "the command never started, so its cancellation proves nothing"
    # The call ends promptly: the group is killed, not waited for (`sleep 30` would otherwise finish).
    assert time.monotonic() - cancelled_at < 3.0
    assert [r["outcome"] for r in receipts(config) if r["call_id"] == call.call_id] == [None, "cancelled"]
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _sleepers(ws):
        await anyio.sleep(0.05)
    assert not _sleepers(ws)


def _sleepers(ws: Path) -> list[int]:
    """Processes still running `sleep 30` started from this workspace."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cmd[:1] and cmd[0].endswith(b"sleep") and cwd == str(ws.resolve()) and alive(int(entry)):
                found.append(int(entry))
    return found


async def test_canary_never_reaches_output_or_receipts(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_SHELL_CANARY", "canary-value-91x7")
    config = gate_config(ws)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["env", "-0"]}))
        echoed = await gate.call(Call("shell_run", {"argv": ["echo", "canary-value-91x7"]}))
    # `env -0` (no command) passes `env *`: it prints the child's whole environment.
    assert out.ok and "TOLLHOUSE_SHELL_CANARY" not in out.result["stdout"]
    assert "canary-value-91x7" not in json.dumps(out.result)
    assert echoed.ok and "canary-value-91x7" not in json.dumps(echoed.result)
    raw = b"".join(
        (config.state_dir / n).read_bytes()
        for n in ("receipts.db", "receipts.db-wal")
        if (config.state_dir / n).exists()
    )
    assert b"canary-value-91x7" not in raw


async def test_binary_output_on_both_streams_fits_the_result_limit(ws: Path) -> None:
    (ws / "noise.sh").write_text("head -c 3000000 /dev/zero; head -c 3000000 /dev/urandom >&2\n")
    config = gate_config(ws)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["sh", "noise.sh"]}))
    assert out.ok, out.message
    assert out.result["stdout_truncated"] and out.result["stderr_truncated"]
    assert out.result["stdout_bytes"] == out.result["stderr_bytes"] == 3000000


async def test_streamed_lines_are_redacted_like_the_result(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress notifications carry output lines to the client while the command runs; a secret the
    command prints must be redacted there too, not only in the final result."""
    monkeypatch.setenv("TOLLHOUSE_SHELL_CANARY", "canary-value-91x7")
    config = gate_config(ws)
    seen: list[str | None] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    script = "echo before canary-value-91x7 after; sleep 0.3; echo ghp_" + "a" * 36 + "; sleep 0.3; echo end"
    (ws / "leak.sh").write_text(script + "\n")
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["sh", "leak.sh"]}, progress=progress))
    assert out.ok, out.message
    assert seen[:3] == ["before [REDACTED:secret] after", "[REDACTED:github-token]", "end"], seen
    assert "canary-value-91x7" not in json.dumps(out.result)


GUARDED = [case for case in CASES if case.guarded]


@pytest.mark.parametrize("case", GUARDED, ids=lambda case: case.id)
def test_a_wildcard_rule_never_covers_a_guarded_token(case: Case, tmp_path: Path, ws: Path) -> None:
    """The real policy engine: `<program> *` (any arguments) still denies the exec-capable form; only a
    rule naming the whole argv literally allows it."""
    world = build_world(tmp_path, ws)
    args = SHELL_RUN.input_model.model_validate(world.args(case))
    argv = SHELL_RUN.facets(args)["argv"]
    wide = f"{shlex.quote(argv[0])} *"
    policy = Policy.load(parse_config(_one_rule(wide), ws / "tollhouse.toml"), Registry([SHELL_RUN]))
    decision = policy.decide(SHELL_RUN, args)
    assert decision.effect == "deny", f"{case.id}: `{wide}` allowed {argv}"
    exact = " ".join(shlex.quote(token) for token in argv)
    policy = Policy.load(parse_config(_one_rule(exact), ws / "tollhouse.toml"), Registry([SHELL_RUN]))
    assert policy.decide(SHELL_RUN, args).effect == "allow", f"{case.id}: `{exact}` did not allow it"


def _one_rule(pattern: str) -> str:
    rule = json.dumps([pattern])
    return (
        '[tools]\nfamilies = ["shell"]\n\n[[rules]]\nid = "wide"\ntools = ["shell_run"]\n'
        f'argv = {rule}\neffect = "allow"\n'
    )


@pytest.mark.parametrize("cwd", ["deploy", "deploy/sub", "./deploy/../deploy", "linkdeploy"])
async def test_cwd_is_a_path_that_deny_rules_judge(ws: Path, cwd: str) -> None:
    """`cwd` is a path like any other: a deny rule naming shell_run and the folder refuses the call,
    however the folder is spelled (through `..` or a symlink)."""
    (ws / "deploy" / "sub").mkdir(parents=True)
    (ws / "linkdeploy").symlink_to(ws / "deploy")
    extra = '[[rules]]\nid = "no-deploy"\ntools = ["shell_run"]\npaths = ["deploy", "deploy/**"]\n'
    extra += 'effect = "deny"\n'
    config = gate_config(ws, extra)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["ls"], "cwd": cwd}, channel="cli"))
        ok = await gate.call(Call("shell_run", {"argv": ["ls"]}, channel="cli"))
    assert out.status == "denied" and list(out.decision.rules) == ["no-deploy"], (out.status, out.message)
    assert ok.ok


async def test_git_in_a_nested_repository_is_refused_through_the_gate(ws: Path, tmp_path: Path) -> None:
    """The review's attack, end to end: a repository built by hand under src/ whose config runs a
    command on `git status`; the gate's receipt names the refusal and nothing ran."""
    marker = tmp_path / "MARKER"
    dot = ws / "src" / ".git"
    for folder in ("objects", "refs/heads"):
        (dot / folder).mkdir(parents=True)
    (dot / "HEAD").write_text("ref: refs/heads/main\n")
    (dot / "config").write_text(f'[core]\n\tbare = false\n\tfsmonitor = "touch {marker}"\n')
    config = gate_config(ws)
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("shell_run", {"argv": ["git", "status"], "cwd": "src"}, channel="cli"))
    assert out.status == "denied" and "shell.nested_repo" in out.decision.rules, (out.status, out.message)
    assert [r["outcome"] for r in receipts(config) if r["call_id"] == out.call_id][-1] == "denied"
    assert not marker.exists()
