"""The supervisor pool: the zygote does nothing per call, and a call never waits for a busy supervisor."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import anyio
import pytest

from tollhouse.tools.shell import runner, supervised
from tollhouse.tools.shell.runner import run_process

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not runner.SUPERVISE, reason="the supervisor runs on Linux only"),
]

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


async def run(argv: list[str], cwd: Path, **kw: object) -> runner.RunResult:
    options: dict[str, object] = {"stdin": None, "timeout_s": 20.0, "cap": 1 << 20, **kw}
    return await run_process(argv, cwd=cwd, env=ENV, **options)  # type: ignore[arg-type]


def _zygote() -> supervised._Zygote:
    zygote = supervised._Zygote.current
    assert zygote is not None and zygote.proc.poll() is None
    return zygote


def _wakeups(pid: int) -> int:
    """How often the process went to sleep and was woken again (it sleeps in poll between events)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc status")


def _supervisors(zygote: supervised._Zygote) -> list[int]:
    pid = zygote.proc.pid
    return sorted(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


async def test_the_zygote_sleeps_through_call_after_call(tmp_path: Path) -> None:
    await run(["true"], tmp_path)
    zygote = _zygote()
    before = _wakeups(zygote.proc.pid)
    for _ in range(30):  # until its start-up (forking the pool) and any earlier test's news are over
        await anyio.sleep(0.1)
        before, settled = _wakeups(zygote.proc.pid), before
        if before == settled:
            break
    supervisors = _supervisors(zygote)
    for i in range(20):
        done = await run(["sh", "-c", f"echo {i}"], tmp_path)
        assert bytes(done.stdout.head) == f"{i}\n".encode() and done.contained
    assert _wakeups(zygote.proc.pid) == before  # not woken once: the calls went to the supervisors
    assert _supervisors(zygote) == supervisors and zygote.in_flight == 0


async def test_more_calls_at_once_than_waiting_supervisors_all_run_at_once(tmp_path: Path) -> None:
    await run(["true"], tmp_path)
    zygote = _zygote()
    n = len(_supervisors(zygote)) + 3
    # Each command waits until all n have started: a call left waiting for a busy supervisor would
    # leave the others waiting until their timeout.
    script = f'touch "started.$0"; while [ "$(ls | grep -c "^started")" -lt {n} ]; do sleep 0.01; done'
    results: dict[int, runner.RunResult] = {}

    async def one(i: int) -> None:
        results[i] = await run(["sh", "-c", script, str(i)], tmp_path, timeout_s=10.0)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    assert {i: (r.exit_code, r.timed_out) for i, r in results.items()} == {i: (0, False) for i in range(n)}
    assert len(_supervisors(zygote)) >= n and zygote.in_flight == 0
    grown = _supervisors(zygote)
    await run(["true"], tmp_path)  # the grown pool serves on; nothing more is forked for one call
    assert _supervisors(zygote) == grown


async def test_every_way_a_call_ends_frees_its_supervisor(tmp_path: Path) -> None:
    await run(["true"], tmp_path)
    zygote = _zygote()
    with pytest.raises(Exception, match="was not found"):
        await run(["no-such-program-here"], tmp_path)
    timed = await run(["sleep", "30"], tmp_path, timeout_s=0.2)
    assert timed.timed_out
    with anyio.move_on_after(0.2):
        await run(["sleep", "30"], tmp_path)
    await run(["sh", "-c", "sleep 30 & echo $!"], tmp_path)
    assert zygote.in_flight == 0
    before = _supervisors(zygote)
    await run(["true"], tmp_path)
    assert _supervisors(zygote) == before


async def test_a_request_that_cannot_be_sent_is_refused_and_leaves_nothing_counted_or_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tollhouse.tools.base import ToolError

    await run(["true"], tmp_path)
    old = _zygote()
    before = len(os.listdir("/proc/self/fd"))

    def refuse(self: supervised._Zygote, request: bytes, fds: list[int]) -> None:
        raise OSError(errno.ENOBUFS, os.strerror(errno.ENOBUFS))

    monkeypatch.setattr(supervised._Zygote, "send", refuse)
    with pytest.raises(ToolError, match=r"^program 'true' could not be started: No buffer space available$"):
        await run(["true"], tmp_path)
    monkeypatch.undo()
    fresh = _zygote()  # one retry on a fresh zygote, after letting the old one go
    assert fresh is not old and fresh.in_flight == 0 and old.grow == -1
    assert len(os.listdir("/proc/self/fd")) == before  # the fresh zygote's two in place of the old's
    done = await run(["sh", "-c", "echo ok"], tmp_path)
    assert bytes(done.stdout.head) == b"ok\n" and done.contained and fresh.in_flight == 0
    old.proc.wait(5)  # the old zygote saw its socket end and exited
