"""Behaviour of shell_run with real processes: limits, kills, streaming, decoding, environment."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import anyio
import pytest

from tests.shell.conftest import Runner, alive, make_config
from tollhouse.tools.base import PolicyDenied, ToolError
from tollhouse.tools.shell.output import HeadTail

pytestmark = pytest.mark.anyio


async def wait_dead(*pids: int, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    assert not [p for p in pids if alive(p)], "a process outlived its call"


async def test_runs_argv_without_a_shell(run: Runner) -> None:
    out = await run(argv=["echo", "$(id)", ";", "*"])
    assert out.exit_code == 0 and out.stdout == "$(id) ; *\n" and out.mode == "argv"
    assert run.facts["argv"] == ["echo", "$(id)", ";", "*"] and run.facts["exit_code"] == 0
    assert run.facts["stdout_bytes"] == len(out.stdout) and len(run.facts["stdout_sha256"]) == 64


async def test_exit_status_stderr_and_stdin(run: Runner) -> None:
    out = await run(argv=["sh", "-c", "cat; echo oops >&2; exit 7"], stdin="hello\n")
    assert (out.exit_code, out.signal, out.stdout, out.stderr) == (7, None, "hello\n", "oops\n")


async def test_timeout_kills_the_child_and_its_grandchildren(run: Runner, ws: Path) -> None:
    script = "sleep 30 & echo $! > gpid; (trap '' TERM; sleep 30) & echo $! > gpid2; echo $$ > pid; wait"
    started = time.monotonic()
    out = await run(argv=["sh", "-c", script], timeout_s=0.5)
    assert out.timed_out and out.exit_code is None and out.signal in ("SIGTERM", "SIGKILL")
    assert time.monotonic() - started < 3.0
    assert "timed out after 0.5 s" in out.note
    pids = [int((ws / name).read_text()) for name in ("pid", "gpid", "gpid2")]
    await wait_dead(*pids)


async def test_background_grandchild_does_not_outlive_a_finished_command(run: Runner, ws: Path) -> None:
    started = time.monotonic()
    out = await run(argv=["sh", "-c", "sleep 30 & echo $! > gpid; echo done"])
    assert out.exit_code == 0 and out.stdout == "done\n" and not out.timed_out
    assert time.monotonic() - started < 2.0  # the grandchild holding the pipe did not keep us waiting
    await wait_dead(int((ws / "gpid").read_text()))


async def test_timeout_is_capped_by_config(ws: Path) -> None:
    run = Runner(make_config(ws, "[shell]\nmax_timeout_s = 0.3\n"))
    started = time.monotonic()
    out = await run(argv=["sleep", "10"], timeout_s=100)
    assert out.timed_out and time.monotonic() - started < 2.5 and run.facts["timeout_s"] == 0.3


async def test_cancellation_mid_run_leaves_no_process(run: Runner, ws: Path) -> None:
    script = "sleep 30 & echo $! > gpid; echo $$ > pid; echo started; wait"
    with anyio.move_on_after(0.5) as scope:
        await run(argv=["sh", "-c", script])
    assert scope.cancelled_caught
    pids = [int((ws / name).read_text()) for name in ("pid", "gpid")]
    await wait_dead(*pids)


async def test_100_mb_of_output_stays_under_the_cap(ws: Path) -> None:
    cap = 64 * 1024
    run = Runner(make_config(ws, f"[shell]\noutput_cap_bytes = {cap}\n"))
    # Peak RSS is a high-water mark of the whole test process (other tests may already have raised it
    # past 100 MB), so it cannot show growth here; tracemalloc's peak covers only this run's allocations.
    tracemalloc.start()
    try:
        out = await run(argv=["head", "-c", str(100 * 1024 * 1024), "/dev/zero"], timeout_s=30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.exit_code == 0 and out.stdout_bytes == 100 * 1024 * 1024 and out.stdout_truncated
    assert "bytes omitted from the middle of this stream" in out.stdout
    assert len(out.stdout) < cap + 200  # characters: each kept byte is one (NUL shows as U+FFFD)
    assert peak < 2 * 1024 * 1024, f"the run allocated up to {peak} bytes at once"
    assert run.facts["stdout_sha256"] == "20492a4d0d84f8beb1767f6616229f85d44c2827b64bdbfb260ee12fa1109e0e"


def test_head_tail_never_holds_more_than_the_cap() -> None:
    buf = HeadTail(1000)
    for i in range(5000):
        buf.feed(bytes([65 + i % 26]) * 777)
        assert buf.held <= 1000
    assert buf.total == 5000 * 777 and buf.truncated
    text = buf.text()
    assert text.startswith("A" * 500) and text.endswith(chr(65 + 4999 % 26) * 500)


async def test_binary_output_is_decoded_safely_and_says_so(run: Runner) -> None:
    out = await run(argv=["printf", "a\\377\\376b\\000c\\033[31mred\\033[0m\\t\\n"])
    assert out.stdout == "a\ufffd\ufffdb\ufffdcred\t\n" and out.stdout_bytes == 20
    assert "not UTF-8 text or are control characters" in out.note


async def test_progress_forwards_output_lines(run: Runner) -> None:
    out = await run(argv=["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"])
    assert out.exit_code == 0
    messages = [m for _, _, m in run.progress]
    assert messages[:3] == ["line1", "line2", "line3"]


async def test_progress_is_rate_limited(run: Runner) -> None:
    out = await run(argv=["seq", "1", "200000"])
    assert out.stdout_bytes > 1_000_000 and out.stdout_truncated
    assert 1 <= len(run.progress) <= 20


async def test_missing_program_is_a_clear_error(run: Runner) -> None:
    with pytest.raises(ToolError, match="'no-such-program-q' was not found on PATH"):
        await run(argv=["no-such-program-q"])
    with pytest.raises(ToolError, match="does not exist"):
        await run(argv=["./nothing-here", "x"])


async def test_non_executable_program_is_a_clear_error(run: Runner, ws: Path) -> None:
    (ws / "script").write_text("#!/bin/sh\n")
    with pytest.raises(ToolError, match="not executable"):
        await run(argv=["./script"])


async def test_cwd_inside_and_outside(run: Runner, ws: Path) -> None:
    (ws / "sub").mkdir()
    out = await run(argv=["pwd"], cwd="sub")
    assert out.stdout.strip() == str((ws / "sub").resolve())
    with pytest.raises(ToolError, match="outside the workspace"):
        await run(argv=["pwd"], cwd="../")
    (ws / "file").write_text("x")
    with pytest.raises(ToolError, match="is not a folder"):
        await run(argv=["pwd"], cwd="file")


async def test_canary_secret_never_reaches_the_child(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_CANARY_SECRET", "canary-7d1e0f")
    monkeypatch.setenv("PASSED_BY_NAME", "visible-1")
    run = Runner(make_config(ws, '[shell]\npass_env = ["PASSED_BY_NAME"]\nallow_env = ["FOO"]\n'))
    out = await run(argv=["env"], env={"FOO": "bar"})
    names = sorted(line.split("=", 1)[0] for line in out.stdout.splitlines())
    assert "canary-7d1e0f" not in out.stdout and "canary-7d1e0f" not in repr(run.facts)
    # Plus the pinned config of git and ruff (pins.py), and nothing else.
    pins = ["GIT_CEILING_DIRECTORIES", "GIT_CONFIG_COUNT", "RUFF_CACHE_DIR"]
    pins += [f"GIT_CONFIG_{kind}_{i}" for i in range(3) for kind in ("KEY", "VALUE")]
    assert names == sorted(["FOO", "HOME", "LANG", "PASSED_BY_NAME", "PATH", "TERM", *pins])


async def test_env_names_need_the_operator(run: Runner) -> None:
    with pytest.raises(PolicyDenied) as info:
        await run(argv=["env"], env={"LD_PRELOAD": "/x.so"})
    assert info.value.rule == "shell.allow_env" and "allow_env" in str(info.value)
    with pytest.raises(ToolError, match="may not set PATH"):
        await run(argv=["env"], env={"PATH": "/tmp"})


async def test_shell_mode_runs_with_sh_when_policy_allowed_it(run: Runner) -> None:
    out = await run(command="echo abc | tr a x")
    assert (
        out.mode == "shell"
        and out.stdout == "xbc\n"
        and run.facts["argv"] == ["/bin/sh", "-c", "echo abc | tr a x"]
    )


async def test_bad_shell_settings_are_clear_errors(ws: Path) -> None:
    run = Runner(make_config(ws, '[shell]\nsandbox = "docker"\n'))
    with pytest.raises(ToolError, match=r'shell\.sandbox must be "none" or "bwrap"'):
        await run(argv=["true"])


async def test_a_process_escaping_the_group_is_killed_and_reported(run: Runner, ws: Path) -> None:
    started = time.monotonic()
    out = await run(argv=["sh", "-c", "setsid sleep 30 & echo $! > escaped; sleep 0.2; echo done"])
    assert out.exit_code == 0 and out.stdout == "done\n" and not out.timed_out
    assert time.monotonic() - started < 2.0
    assert out.note == (
        "1 process the command started outlived it and was killed by the call's supervisor, whatever "
        "process group or session it had moved to"
    )
    assert run.facts["leftovers_killed"] == 1 and run.facts["contained"] is True
    assert run.facts["output_held_open"] is False
    await wait_dead(int((ws / "escaped").read_text()), within=0.5)
    quiet = await run(argv=["true"])
    assert quiet.note is None and run.facts["leftovers_killed"] == 0


async def test_without_the_supervisor_an_escapee_is_reported_not_waited_for(
    run: Runner, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tollhouse.tools.shell import runner

    monkeypatch.setattr(runner, "SUPERVISE", False)
    try:
        out = await run(argv=["sh", "-c", "setsid sleep 30 & echo $! > escaped; sleep 0.2; echo done"])
        assert out.exit_code == 0 and out.stdout == "done\n" and not out.timed_out
        assert "left its process group (setsid)" in out.note and 'sandbox = "bwrap"' in out.note
        assert run.facts["output_held_open"] is True
    finally:
        os.kill(int((ws / "escaped").read_text()), 9)
    quiet = await run(argv=["true"])
    assert quiet.note is None and run.facts["output_held_open"] is False
