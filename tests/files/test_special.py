"""Special files (FIFO, socket, device) and size bounds: nothing blocks, nothing is unbounded."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.files.conftest import Env
from tollhouse.tools.base import ToolError
from tollhouse.tools.files import listing

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


def specials(env) -> None:
    os.mkfifo(env.root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(env.root / "sock"))
    sock.close()


@pytest.mark.parametrize(("name", "kind"), [("fifo", "FIFO"), ("sock", "socket")])
async def test_special_files_are_refused_by_every_tool(env, name, kind):
    specials(env)
    message = f"is a {kind}, not a regular file"
    for tool, args in [
        ("files_read", {"path": name}),
        ("files_read", {"path": name, "as_base64": True}),
        ("files_write", {"path": name, "content": "x", "overwrite": True}),
        ("files_edit", {"path": name, "edits": [{"old_text": "a", "new_text": "b"}]}),
        ("files_move", {"source": name, "destination": "elsewhere"}),
        ("files_delete", {"path": name}),
    ]:
        with pytest.raises(ToolError, match=message):
            await env.run(tool, **args)
    with pytest.raises(ToolError, match=message):
        await env.run("files_write", path=name, content="x")
    assert (await env.run("files_stat", path=name)).type == kind
    many = await env.run("files_read_many", paths=[name])
    assert message in many.files[0].error
    # walks list them and never open them (an open FIFO read would block)
    hits = await env.run("files_search", pattern="x")
    assert hits.files_scanned == 0
    assert {e.path: e.type for e in (await env.run("files_list")).entries}[name] == kind


async def test_devices_are_refused(tmp_path: Path):
    """A workspace rooted at /dev: every device is refused by type, nothing is opened for reading."""
    env = Env(tmp_path)
    from tollhouse.workspace import Workspace

    env.workspace = Workspace([Path("/dev")])
    for name, kind in [
        ("zero", "character device"),
        ("null", "character device"),
        ("urandom", "character device"),
    ]:
        with pytest.raises(ToolError, match=f"is a {kind}, not a regular file"):
            await env.run("files_read", path=name)
        with pytest.raises(ToolError, match=f"is a {kind}, not a regular file"):
            await env.run("files_edit", path=name, edits=[{"old_text": "a", "new_text": "b"}])


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
async def test_device_node_inside_workspace_is_refused(env):
    os.mknod(env.root / "zero", 0o666 | 0o020000, os.makedev(1, 5))
    with pytest.raises(ToolError, match="is a character device"):
        await env.run("files_read", path="zero")
    with pytest.raises(ToolError, match="is a character device"):
        await env.run("files_write", path="zero", content="x", overwrite=True)


async def test_huge_file_reads_are_capped_and_continue(env):
    line = "0123456789" * 10 + "\n"  # 101 bytes
    with open(env.root / "huge.txt", "w") as f:
        for _ in range(200_000):  # ~20 MiB: streamed, not decoded whole
            f.write(line)
    out = await env.run("files_read", path="huge.txt", limit=100_000)
    assert out.truncated and len(out.content.encode()) <= 256 * 1024
    assert out.next_offset == 1 + (256 * 1024) // 101 and out.total_lines is None
    nxt = await env.run("files_read", path="huge.txt", offset=out.next_offset, limit=3)
    assert nxt.content == line * 3 and nxt.start_line == out.next_offset
    tail = await env.run("files_read", path="huge.txt", tail=2)
    assert tail.content == line * 2
    hits = await env.run("files_search", pattern="0123")
    assert hits.files_skipped_large == 1 and hits.matches == []
    with pytest.raises(ToolError, match="not rewritten"):
        await env.run("files_edit", path="huge.txt", edits=[{"old_text": "0123", "new_text": "x"}])


async def test_huge_write_is_refused(env):
    with pytest.raises(ToolError, match="at most 10485760 bytes"):
        await env.run("files_write", path="big.txt", content="x" * (10 * 1024 * 1024 + 1))
    assert not (env.root / "big.txt").exists()


async def test_huge_directory_is_paged_and_scan_capped(env, monkeypatch):
    big = env.root / "big"
    big.mkdir()
    for i in range(3000):
        (big / f"f{i:05d}.txt").write_text("needle\n" if i % 2 else "hay\n")
    page = await env.run("files_list", path="big", limit=500)
    assert len(page.entries) == 500 and page.truncated and page.next_offset == 500
    assert page.entries[0].path == "big/f00000.txt"
    found = await env.run("files_find", pattern="*.txt", limit=5000)
    assert len(found.matches) == 3000 and not found.truncated
    hits = await env.run("files_search", pattern="needle")
    assert len(hits.matches) == 200 and hits.truncated and hits.next_offset == 200
    monkeypatch.setattr(listing, "MAX_SCAN", 1000)
    capped = await env.run("files_list", path="big", limit=5000)
    assert capped.scan_capped and len(capped.entries) == 1000 and "narrower path" in capped.hint


async def test_search_output_byte_cap(env):
    (env.root / "wide.txt").write_text(("needle " + "w" * 490 + "\n") * 1000)
    hits = await env.run("files_search", pattern="needle", limit=2000)
    assert hits.truncated and 200 < len(hits.matches) < 300
    assert all(len(m.text) <= 501 for m in hits.matches)
