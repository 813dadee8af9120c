"""The approval and cancellation flows over HTTP (stdio has them in test_stdio.py), and a cancelled
shell command over both transports: the receipt says cancelled and no process is left behind."""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import write_config
from tests.server.conftest import HttpServer, await_for, outcomes, receipts, start_http, stdio_params, stop

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]


def http_client(server: HttpServer, **kw: Any) -> Client:
    headers = {"Authorization": f"Bearer {server.token}"}
    return Client(streamable_http_client(server.url, http_client=httpx2.AsyncClient(headers=headers)), **kw)


def text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content)  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_http_decline_and_no_elicitation_do_not_run(
    ws: Path, http_server: HttpServer, mode: str
) -> None:
    async def decline(ctx: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with http_client(http_server, mode=mode, elicitation_callback=decline) as client:
        r = await client.call_tool("demo_note_write", {"path": "notes/d.txt", "text": "x"})
        assert r.is_error and "declined" in text(r) and "notes-write-asks" in text(r)
    async with http_client(http_server, mode=mode) as client:  # no elicitation capability
        r = await client.call_tool("demo_note_write", {"path": "notes/d.txt", "text": "x"})
        assert r.is_error and "tollhouse grant demo_note_write" in text(r)
    assert not (ws / "notes" / "d.txt").exists()
    assert [r["outcome"] for r in outcomes(ws, "demo_note_write")][-2:] == ["denied", "needs_approval"]
    assert not [r for r in receipts(ws) if r["kind"] == "intent" and r["tool"] == "demo_note_write"]


@pytest.mark.parametrize("mode", MODES)
async def test_http_cancellation_is_receipted_and_the_session_lives_on(
    ws: Path, http_server: HttpServer, mode: str
) -> None:
    async with http_client(http_server, mode=mode) as client:
        with anyio.move_on_after(0.7):
            await client.call_tool("demo_wait", {"seconds": 20, "steps": 20})
        cancelled = await await_for(
            lambda: [r for r in outcomes(ws, "demo_wait") if r["outcome"] == "cancelled"], 5
        )
        assert cancelled, [r["outcome"] for r in outcomes(ws, "demo_wait")]
        assert text(await client.call_tool("demo_noop", {})) == "ok"


SHELL_CONFIG = """\
[tools]
families = ["shell"]

[[rules]]
id = "sleep"
tools = ["shell_run"]
argv = ["sleep *", "seq *"]
effect = "allow"
"""


def sleepers(marker: str) -> list[int]:
    """Live processes whose command line is `... sleep <marker>` (zombies count as gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in argv and b"sleep" in b" ".join(argv) and state != "Z":
            found.append(int(entry.name))
    return found


@asynccontextmanager
async def connect(transport: str, root: Path, mode: str) -> AsyncIterator[Client]:
    if transport == "stdio":
        async with Client(stdio_params(root), mode=mode) as client:
            yield client
        return
    server = start_http(root)
    try:
        async with http_client(server, mode=mode) as client:
            yield client
    finally:
        stop(server.proc)


@pytest.mark.parametrize(("transport", "mode"), [("stdio", "auto"), ("stdio", "legacy"), ("http", "auto")])
async def test_cancelled_shell_command_leaves_no_process(workspace: Path, transport: str, mode: str) -> None:
    write_config(workspace, SHELL_CONFIG)
    marker = f"{random.randint(100, 999)}.{random.randint(1000, 9999)}"
    intent: Callable[[], list[dict[str, Any]]] = lambda: [  # noqa: E731
        r for r in receipts(workspace) if r["kind"] == "intent" and r["tool"] == "shell_run"
    ]
    async with connect(transport, workspace, mode) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "shell_run", {"argv": ["sleep", marker]})
            assert await await_for(lambda: (workspace / ".tollhouse" / "receipts.db").exists() and intent())
            assert await await_for(lambda: sleepers(marker), 5), "the command never started"
            tg.cancel_scope.cancel()
        final = await await_for(lambda: outcomes(workspace, "shell_run"), 5)
        assert [r["outcome"] for r in final] == ["cancelled"]
        deadline = time.monotonic() + 5
        while sleepers(marker) and time.monotonic() < deadline:
            await anyio.sleep(0.05)
        assert sleepers(marker) == [], "the cancelled command is still running"
        assert not (await client.call_tool("shell_run", {"argv": ["sleep", "0"]})).is_error  # still usable


@pytest.mark.parametrize(("transport", "mode"), [("stdio", "auto"), ("stdio", "legacy"), ("http", "auto")])
async def test_shell_output_lines_arrive_as_progress_while_it_runs(
    workspace: Path, transport: str, mode: str
) -> None:
    write_config(workspace, SHELL_CONFIG)
    seen: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, message))

    async with connect(transport, workspace, mode) as client:
        args = {"argv": ["seq", "1", "300000"]}
        r = await client.call_tool("shell_run", args, progress_callback=on_progress)
    assert not r.is_error, text(r)
    assert seen, "no output line reached the client as progress"
    # Each message is one whole line of the output, and the byte counts only grow.
    assert all(m is not None and m.isdigit() and 1 <= int(m) <= 300000 for _, m in seen), seen[:5]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] <= len(
        "".join(f"{i}\n" for i in range(1, 300001))
    )


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_large_result_fits_the_python_clients_event_limit(workspace: Path, transport: str) -> None:
    # 300,000 lines is about 2 MB. Over stdio the shell keeps 512 KiB of it (its output cap). Over HTTP
    # it keeps an eighth of [http] max_event_bytes per stream, so the result, written as
    # structuredContent and again as text, fits the Python client's 1 MiB limit on one event.
    write_config(workspace, SHELL_CONFIG)
    async with connect(transport, workspace, "auto") as client:
        r = await client.call_tool("shell_run", {"argv": ["seq", "1", "300000"]})
    assert not r.is_error, text(r)
    stdout = r.structured_content["stdout"]
    assert stdout.startswith("1\n2\n3\n") and stdout.endswith("299999\n300000\n")
    assert r.structured_content["stdout_truncated"] and "bytes omitted from the middle" in stdout
    kept = len(stdout.encode()) - 200  # less the marker
    assert 500_000 < kept <= 512 * 1024 if transport == "stdio" else 120_000 < kept <= 128 * 1024
    assert json.loads(text(r))["stdout"] == stdout  # the text copy is whole: nothing needed cutting
