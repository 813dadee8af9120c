"""Every process a call starts ends with the call (issue 15), whatever it does to its process group
or session: the per-call supervisor (a child subreaper) kills what the command left behind when it
exits, on timeout and cancellation, and when the server process itself is SIGKILLed."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tests.shell.conftest import alive
from tollhouse.tools.shell import runner
from tollhouse.tools.shell.runner import run_process

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not runner.SUPERVISE, reason="the supervisor runs on Linux only"),
]

ESCAPE = str(Path(__file__).with_name("escape.py"))
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
PY_MODES = ["setpgid", "setsid", "double_fork", "daemon_closes_all_fds", "ignores_term", "reexec", "stay"]
SH_MODES = {
    "nohup_background": "nohup sleep 300 >/dev/null 2>&1 & echo $! > p.tmp; mv p.tmp p",
    "bash_disown": "exec bash -c 'sleep 300 </dev/null >/dev/null 2>&1 & disown; echo $! > p.tmp; mv p.tmp p'"
    "",
    "setsid_fork": "setsid -f sh -c 'echo $$ > p.tmp; mv p.tmp p; exec sleep 300' </dev/null >/dev/null 2>&1;"
    " while [ ! -e p ]; do sleep 0.01; done",
}


async def run(argv: list[str], cwd: Path, **kw: object) -> runner.RunResult:
    options: dict[str, object] = {"stdin": None, "timeout_s": 20.0, "cap": 1 << 20, **kw}
    return await run_process(argv, cwd=cwd, env=ENV, **options)  # type: ignore[arg-type]


def argv_for(mode: str, *extra: str) -> list[str]:
    if mode in SH_MODES:
        return ["sh", "-c", SH_MODES[mode] + ("; sleep 300" if extra else "")]
    return [sys.executable, ESCAPE, mode, "p", *extra]


@pytest.mark.parametrize("mode", PY_MODES + list(SH_MODES))
async def test_what_a_finished_command_left_running_is_killed_and_counted(mode: str, tmp_path: Path) -> None:
    started = time.monotonic()
    done = await run(argv_for(mode), tmp_path)
    escaped = int((tmp_path / "p").read_text())
    assert done.exit_code == 0 and not done.timed_out and done.contained
    assert time.monotonic() - started < 5.0
    assert not alive(escaped)  # gone when the call returns, not some time later
    if mode == "stay":
        assert done.killed == 1  # in the group still: the supervisor finds it first all the same
    else:
        assert done.killed >= 1
    assert not done.held_open


@pytest.mark.parametrize("mode", ["setpgid", "setsid", "double_fork", "ignores_term", "nohup_background"])
async def test_timeout_kills_the_command_and_every_escapee(mode: str, tmp_path: Path) -> None:
    started = time.monotonic()
    done = await run(argv_for(mode, "hang"), tmp_path, timeout_s=1.0)
    assert done.timed_out and done.exit_code is None and done.contained
    assert time.monotonic() - started < 1.0 + runner.TERM_GRACE_S + 2.0
    assert not alive(int((tmp_path / "p").read_text()))


async def test_cancellation_kills_every_escapee(tmp_path: Path) -> None:
    with anyio.move_on_after(1.0):
        await run(argv_for("double_fork", "hang"), tmp_path)
    assert not alive(int((tmp_path / "p").read_text()))


async def test_a_fork_storm_is_contained(tmp_path: Path) -> None:
    # Every process forks again as fast as it can, each in a new session, for a second.
    storm = (
        "import os,time\n"
        "end=time.time()+1\n"
        "while time.time()<end:\n"
        "    try:\n"
        "        if os.fork()==0: os.setsid()\n"
        "    except OSError: pass\n"
        "    time.sleep(0.05)\n"
        "open('p.tmp','w').write(str(os.getpid())); os.replace('p.tmp','p'); time.sleep(300)\n"
    )
    done = await run(["sh", "-c", f'{sys.executable} -c "$0" & sleep 0.3', storm], tmp_path)
    assert done.exit_code == 0 and done.killed >= 1
    mine = [p for p in _procs_with_cwd(tmp_path) if p != os.getpid()]
    assert mine == []


def _procs_with_cwd(cwd: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(cwd) and alive(int(entry)):
                    found.append(int(entry))
            except OSError:
                continue
    return found


async def test_a_quick_command_reports_nothing_killed(tmp_path: Path) -> None:
    done = await run(["sh", "-c", "echo hi; exit 3"], tmp_path)
    assert (done.exit_code, bytes(done.stdout.head), done.killed, done.contained) == (3, b"hi\n", 0, True)


def _reapers_of(pid: int) -> list[int]:
    """The supervisor zygote(s) a process started (its children running reaper.py)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"reaper.py" in cmd:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("mode", ["setsid", "double_fork", "stay"])
def test_sigkilled_tollhouse_call_leaves_nothing_running(mode: str, workspace: Path) -> None:
    argv = [sys.executable, ESCAPE, mode, "p", "hang"]
    # Policy names a program found on PATH by its bare name (an activated venv puts this one there).
    forms = [shlex.join(argv), shlex.join([os.path.basename(sys.executable), *argv[1:]])]
    write_config(
        workspace,
        f"""
        [tools]
        families = ["shell"]

        [[rules]]
        id = "escape"
        tools = ["shell_run"]
        argv = {json.dumps(forms)}
        effect = "allow"
        """,
    )
    call = subprocess.Popen(
        tollhouse_cmd("call", "shell_run", json.dumps({"argv": argv}), "--no-prompt"),
        cwd=workspace,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (workspace / "p").exists() and time.monotonic() < deadline:
            assert call.poll() is None, call.communicate()
            time.sleep(0.02)
        escaped = int((workspace / "p").read_text())
        zygotes = _reapers_of(call.pid)
        assert alive(escaped) and len(zygotes) == 1
        call.send_signal(signal.SIGKILL)
        call.wait(5)
        deadline = time.monotonic() + 3

        def left() -> bool:
            return alive(escaped) or any(map(alive, zygotes)) or bool(_procs_with_cwd(workspace))

        while left() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(escaped), "the escapee outlived the SIGKILLed tollhouse call"
        assert not any(map(alive, zygotes)), "the supervisor's zygote outlived the server"
        assert _procs_with_cwd(workspace) == []
    finally:
        if call.poll() is None:
            call.kill()
            call.wait()


async def test_a_command_that_kills_its_own_supervisor_still_leaves_nothing(tmp_path: Path) -> None:
    # Same user, so it may: SIGKILL its parent (the supervisor), then leave a daemon behind. The
    # zygote, the next subreaper up, adopts both and kills them.
    script = "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > p; kill -9 $PPID; sleep 300"
    started = time.monotonic()
    done = await run(["sh", "-c", script], tmp_path, timeout_s=20)
    assert time.monotonic() - started < 5.0
    assert done.signal == "SIGKILL" and not done.timed_out  # the supervisor's report never came
    escaped = int((tmp_path / "p").read_text())
    deadline = time.monotonic() + 3
    while alive(escaped) and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    assert not alive(escaped)
    assert [p for p in _procs_with_cwd(tmp_path) if p != os.getpid()] == []
    again = await run(["sh", "-c", "echo ok"], tmp_path)  # the zygote still serves
    assert bytes(again.stdout.head) == b"ok\n" and again.contained


async def test_where_the_supervisor_cannot_run_the_group_kill_remains_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tollhouse.tools.shell import supervised

    fake = tmp_path / "reaper.py"
    fake.write_text(
        "import socket, sys\nsocket.socket(fileno=int(sys.argv[1])).send(b'unsupported: no prctl')\n"
    )
    monkeypatch.setattr(supervised, "REAPER", fake)
    monkeypatch.setattr(supervised._Zygote, "current", None)
    monkeypatch.setattr(runner, "UNSUPERVISED", None)
    done = await run(["sh", "-c", "echo hi"], tmp_path)
    assert bytes(done.stdout.head) == b"hi\n" and not done.contained
    assert runner.UNSUPERVISED == "unsupported: no prctl"
    assert (
        "shell commands run without the process supervisor: unsupported: no prctl" in capsys.readouterr().err
    )
    monkeypatch.setattr(supervised._Zygote, "current", None)  # the next test starts a real one


def _fds_of_supervisors() -> dict[int, int]:
    from tollhouse.tools.shell import supervised

    zygote = supervised._Zygote.current
    assert zygote is not None
    kids = [p for p in _children_of(zygote.proc.pid)]
    return {p: len(os.listdir(f"/proc/{p}/fd")) for p in kids}


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


async def test_supervisors_serve_call_after_call_and_keep_nothing(tmp_path: Path) -> None:
    await run(["true"], tmp_path)
    await anyio.sleep(0.3)  # a supervisor closes the call's descriptors just after its report
    before = _fds_of_supervisors()
    assert len(before) >= 2
    for i in range(30):
        kind = i % 3
        if kind == 0:
            await run(["sh", "-c", "sleep 30 & echo $i"], tmp_path)
        elif kind == 1:
            await run(["cat"], tmp_path, stdin="x" * 1000)
        else:
            with pytest.raises(Exception, match="was not found"):
                await run(["no-such-program-here"], tmp_path)
    await anyio.sleep(0.3)
    assert _fds_of_supervisors() == before  # the same supervisors, holding no descriptor of a call
    assert [p for p in _procs_with_cwd(tmp_path) if p != os.getpid()] == []
