"""The bwrap sandbox: a clear refusal when it cannot work, and the real thing when it can.

Whether bubblewrap works is probed, not assumed: on a machine where it does, the real-sandbox test
checks a read-only system, a writable workspace and no network; where it does not, the same test checks
that the tool refuses with the probe's reason instead of running unsandboxed.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import anyio
import pytest

from tests.shell.conftest import Runner, make_config
from tollhouse.tools.base import ToolError
from tollhouse.tools.shell import sandbox_status

pytestmark = pytest.mark.anyio
SANDBOXED = '[shell]\nsandbox = "bwrap"\n'


def test_status_when_bwrap_is_absent(tmp_path: Path) -> None:
    status = sandbox_status(str(tmp_path))
    assert not status.available and status.bwrap is None
    assert "not installed or not on PATH" in status.detail and 'sandbox = "none"' in status.detail


def test_status_when_bwrap_cannot_create_namespaces(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    status = sandbox_status(str(tmp_path))
    assert not status.available
    assert "No permissions to create new namespace" in status.detail and "user namespaces" in status.detail


async def test_tool_refuses_rather_than_running_unsandboxed(
    tmp_path: Path, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "touch").symlink_to(shutil.which("touch"))
    monkeypatch.setenv("PATH", str(tools))  # touch is here, bwrap is not
    marker = tmp_path / "MARKER"
    run = Runner(make_config(ws, SANDBOXED))
    with pytest.raises(ToolError) as info:
        await run(argv=["touch", str(marker)])
    assert "never falls back to running unsandboxed" in str(info.value) and "not installed" in str(info.value)
    assert not marker.exists()


async def test_real_sandbox_or_honest_refusal(tmp_path: Path, ws: Path) -> None:
    status = sandbox_status()
    run = Runner(make_config(ws, SANDBOXED))
    outside = tmp_path / "outside-marker"
    script = f"echo ok > inside.txt; touch {outside}; touch /etc/tollhouse-sandbox-test"
    if not status.available:
        with pytest.raises(ToolError, match="sandbox cannot work on this machine"):
            await run(argv=["sh", "-c", script])
        assert not (ws / "inside.txt").exists()
        return
    out = await run(argv=["sh", "-c", script])
    assert out.sandboxed and (ws / "inside.txt").read_text() == "ok\n"
    assert not outside.exists() and not os.path.exists("/etc/tollhouse-sandbox-test")
    assert "Read-only file system" in out.stderr


async def test_sandbox_has_no_network_and_protects_state(ws: Path) -> None:
    status = sandbox_status()
    if not status.available:
        if os.environ.get("CI"):  # .ci/run installs bubblewrap: a CI without it must not pass quietly
            pytest.fail(f"bubblewrap does not work on this CI machine: {status.detail}")
        pytest.skip(f"bubblewrap does not work on this machine: {status.detail}")
    (ws / ".tollhouse").mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    probe = f"echo > /dev/tcp/127.0.0.1/{port} && echo connected"
    try:
        plain = await Runner(make_config(ws))(argv=["bash", "-c", probe], timeout_s=5)
        assert plain.stdout == "connected\n"  # control: the same probe reaches the port unsandboxed
        run = Runner(make_config(ws, SANDBOXED))
        boxed = await run(argv=["bash", "-c", probe], timeout_s=5)
        assert boxed.stdout == "" and boxed.exit_code != 0
        state = await run(argv=["sh", "-c", "touch .tollhouse/x tollhouse.toml"])
        assert state.exit_code != 0 and not (ws / ".tollhouse" / "x").exists()
        home = await run(argv=["sh", "-c", 'ls -A "$HOME" | grep -c ssh || true'])
        assert home.stdout.strip() == "0"
    finally:
        listener.close()
    await anyio.sleep(0)


async def test_a_program_under_tmp_stays_runnable_and_nothing_else_there_shows(
    tmp_path: Path, ws: Path
) -> None:
    """The sandbox mounts an empty /tmp; a program installed below it (a CI job's virtual environment)
    comes back read-only, its own top folder only. The workspace (also under /tmp here) stays writable."""
    status = sandbox_status()
    if not status.available:
        if os.environ.get("CI"):
            pytest.fail(f"bubblewrap does not work on this CI machine: {status.detail}")
        pytest.skip(f"bubblewrap does not work on this machine: {status.detail}")
    tools = Path(tempfile.mkdtemp(prefix="tollhouse-prog-", dir="/tmp")) / "bin"
    tools.mkdir()
    neighbour = Path(tempfile.mkdtemp(prefix="tollhouse-neighbour-", dir="/tmp"))
    try:
        (neighbour / "private.txt").write_text("not for the sandbox")
        prog = tools / "hello"
        prog.write_text(f"#!/bin/sh\necho hello; cat {neighbour}/private.txt; touch {tools}/planted\n")
        prog.chmod(0o755)
        out = await Runner(make_config(ws, SANDBOXED))(argv=[str(prog)])
        assert out.sandboxed and out.stdout == "hello\n", out.stderr
        assert "No such file" in out.stderr and not (tools / "planted").exists()
    finally:
        shutil.rmtree(tools.parent)
        shutil.rmtree(neighbour)
