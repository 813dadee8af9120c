"""The process runner under shell_run: both ways of seeing a child exit (a pidfd, or a waiting thread
where the kernel has none), stdin, descriptors, and a progress sink that fails mid-run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import anyio
import pytest

from tests.shell.conftest import alive
from tests.shell.test_runner import wait_dead
from tollhouse.tools.base import ToolError
from tollhouse.tools.shell import runner
from tollhouse.tools.shell.runner import run_process

pytestmark = pytest.mark.anyio

ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "supervised" and not runner.SUPERVISE:
        pytest.skip("this platform has no supervisor (Linux only); the direct paths are in use")
    if request.param == "pidfd" and not hasattr(os, "pidfd_open"):
        pytest.skip("this platform has no pidfd; the thread path is the one in use")
    # "pidfd" and "thread" are the direct paths, without the supervisor (where it cannot run).
    monkeypatch.setattr(runner, "SUPERVISE", request.param == "supervised")
    monkeypatch.setattr(runner, "USE_PIDFD", request.param == "pidfd")
    return request.param


@pytest.fixture(params=["supervised", "pidfd", "thread"])
def exit_watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    return _watch(request, monkeypatch)


@pytest.fixture(params=["pidfd", "thread"])
def direct_watch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Only the paths without the supervisor: what holds where it cannot run."""
    return _watch(request, monkeypatch)


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


async def run(argv: list[str], tmp_path: Path, **kw: object) -> runner.RunResult:
    options: dict[str, object] = {"stdin": None, "timeout_s": 10.0, "cap": 1 << 20, **kw}
    return await run_process(argv, cwd=tmp_path, env=ENV, **options)  # type: ignore[arg-type]


async def test_exit_status_signal_output_and_stdin(exit_watch: str, tmp_path: Path) -> None:
    done = await run(["sh", "-c", "cat; echo err >&2; exit 3"], tmp_path, stdin="in\n")
    assert (done.exit_code, done.signal, bytes(done.stdout.head), bytes(done.stderr.head)) == (
        3,
        None,
        b"in\n",
        b"err\n",
    )
    killed = await run(["sh", "-c", "kill -9 $$"], tmp_path)
    assert (killed.exit_code, killed.signal, killed.timed_out) == (None, "SIGKILL", False)


async def test_timeout_kills_the_group(exit_watch: str, tmp_path: Path) -> None:
    script = "(trap '' TERM; sleep 30) & echo $! > gpid; echo $$ > pid; wait"
    started = time.monotonic()
    done = await run(["sh", "-c", script], tmp_path, timeout_s=0.3)
    assert done.timed_out and done.signal in ("SIGTERM", "SIGKILL")
    assert time.monotonic() - started < 3.0
    await wait_dead(*(int((tmp_path / name).read_text()) for name in ("pid", "gpid")))


async def test_cancellation_kills_the_group(exit_watch: str, tmp_path: Path) -> None:
    with anyio.move_on_after(0.3) as scope:
        await run(["sh", "-c", "echo $$ > pid; sleep 30"], tmp_path)
    assert scope.cancelled_caught
    await wait_dead(int((tmp_path / "pid").read_text()))


async def test_large_stdin_is_written_as_the_child_reads(exit_watch: str, tmp_path: Path) -> None:
    data = "0123456789abcdef" * 65536  # 1 MiB: sixteen times a pipe's buffer
    done = await run(["sha256sum"], tmp_path, stdin=data)
    import hashlib

    assert done.exit_code == 0
    assert bytes(done.stdout.head).split()[0].decode() == hashlib.sha256(data.encode()).hexdigest()


async def test_a_child_that_never_reads_stdin_does_not_hang_the_call(exit_watch: str, tmp_path: Path) -> None:
    started = time.monotonic()
    done = await run(["true"], tmp_path, stdin="x" * (4 << 20))
    assert done.exit_code == 0 and time.monotonic() - started < 5.0


async def test_no_descriptor_outlives_a_run(exit_watch: str, tmp_path: Path) -> None:
    await run(["true"], tmp_path)  # let lazily opened descriptors (the loop's, the interpreter's) appear
    before = open_fds()
    for _ in range(5):
        await run(["echo", "hi"], tmp_path)
        await run(["cat"], tmp_path, stdin="x" * 200_000)
        await run(["sleep", "5"], tmp_path, timeout_s=0.05)
        with pytest.raises(ToolError, match="was not found"):
            await run(["/nonexistent/program"], tmp_path)
        with anyio.move_on_after(0.05):
            await run(["sleep", "5"], tmp_path)
    assert open_fds() == before


async def test_a_pidfd_run_starts_no_thread(tmp_path: Path) -> None:
    if not runner.USE_PIDFD:
        pytest.skip("this platform has no pidfd")
    seen: list[int] = []

    async def watch() -> None:
        while True:
            seen.append(threading.active_count())
            await anyio.sleep(0)

    baseline = threading.active_count()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await run(["sleep", "0.2"], tmp_path)
        tg.cancel_scope.cancel()
    assert seen and max(seen) <= baseline  # a thread of an earlier test may end meanwhile; none may start


async def test_a_failing_progress_sink_ends_the_run_and_its_group(exit_watch: str, tmp_path: Path) -> None:
    calls: list[str] = []

    async def sink(done: int, line: str) -> None:
        calls.append(line)
        raise BrokenPipeError("the client went away")

    script = "echo $$ > pid; sleep 30 & echo $! > gpid; echo first; wait"
    started = time.monotonic()
    with pytest.raises(BrokenPipeError):
        await run(["sh", "-c", script], tmp_path, on_line=sink, line_interval_s=0.0)
    assert calls == ["first"] and time.monotonic() - started < 3.0
    pids = [int((tmp_path / name).read_text()) for name in ("pid", "gpid")]
    await wait_dead(*pids)
    assert not any(alive(p) for p in pids)


async def test_a_grandchild_holding_the_pipes_is_killed_when_the_child_exits(
    exit_watch: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    done = await run(["sh", "-c", "sleep 30 & echo $! > gpid; echo done"], tmp_path)
    assert done.exit_code == 0 and bytes(done.stdout.head) == b"done\n" and not done.timed_out
    assert time.monotonic() - started < 3.0
    await wait_dead(int((tmp_path / "gpid").read_text()))


async def test_no_thread_to_watch_the_child_stops_it_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "SUPERVISE", False)  # a supervised run needs no thread to watch
    monkeypatch.setattr(runner, "USE_PIDFD", False)

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    spawned: list[int] = []
    spawn = runner._spawn

    def spy(*args: object) -> object:
        started = spawn(*args)  # type: ignore[arg-type]
        spawned.append(started[0].pid)
        return started

    await run(["true"], tmp_path)
    before = open_fds()
    monkeypatch.setattr(threading.Thread, "start", refuse)
    monkeypatch.setattr(runner, "_spawn", spy)
    with pytest.raises(ToolError, match="was stopped at once: it could not be watched"):
        await run(["sleep", "30"], tmp_path)
    assert open_fds() == before
    assert len(spawned) == 1 and not alive(spawned[0])


async def test_running_out_of_descriptors_is_a_clear_error_and_leaks_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await run(["true"], tmp_path)
    before = open_fds()
    real_pipe = os.pipe
    made: list[int] = []

    def second_fails() -> tuple[int, int]:
        made.append(1)
        if len(made) == 2:
            raise OSError(24, "Too many open files")
        return real_pipe()

    monkeypatch.setattr(os, "pipe", second_fails)
    with pytest.raises(ToolError, match="'true' could not be started: Too many open files"):
        await run(["true"], tmp_path)
    assert len(made) == 2 and open_fds() == before


async def test_concurrent_runs_each_get_their_own_status_and_output(exit_watch: str, tmp_path: Path) -> None:
    await run(["true"], tmp_path)
    before = open_fds()
    results: dict[int, runner.RunResult] = {}

    async def one(i: int) -> None:
        results[i] = await run(["sh", "-c", f"sleep 0.{i % 3}; echo {i}; exit {i % 5}"], tmp_path)

    async with anyio.create_task_group() as tg:
        for i in range(24):
            tg.start_soon(one, i)
    assert {i: (r.exit_code, bytes(r.stdout.head)) for i, r in results.items()} == {
        i: (i % 5, f"{i}\n".encode()) for i in range(24)
    }
    assert open_fds() == before


async def test_output_held_open_by_a_process_that_left_the_group_ends_the_wait(
    direct_watch: str, tmp_path: Path
) -> None:
    # setsid takes the background job out of the command's process group, so the kill at exit misses
    # it; it keeps the output pipe open. The call must not wait for it (until the timeout, and then
    # claim everything was killed): it returns after a short grace and says the output was held.
    script = "setsid sleep 30 & echo $! > escaped; sleep 0.2; echo hi"
    started = time.monotonic()
    try:
        done = await run(["sh", "-c", script], tmp_path, timeout_s=20)
        took = time.monotonic() - started
        assert (done.exit_code, bytes(done.stdout.head), done.timed_out, done.held_open) == (
            0,
            b"hi\n",
            False,
            True,
        )
        assert runner.DRAIN_GRACE_S <= took < 3.0
    finally:
        os.kill(int((tmp_path / "escaped").read_text()), 9)
    plain = await run(["sh", "-c", "sleep 30 & echo hi"], tmp_path)
    assert not plain.held_open  # a grandchild still in the group is killed, and the pipes close
