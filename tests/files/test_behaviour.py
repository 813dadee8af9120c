"""What the file tools do for an honest caller: reads, windows, edits, moves, listings, searches."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import pytest

from tests.files.conftest import REGISTRY
from tollhouse.tools.base import ToolError
from tollhouse.tools.files.read import MAX_BASE64_BYTES

pytestmark = pytest.mark.anyio


async def test_write_then_read_back_600_lines_byte_identical(env):
    content = "".join(f"line {i:04d} — ünïcödé\t{'x' * (i % 40)}\n" for i in range(650))
    out = await env.run("files_write", path="deep/new/file.txt", content=content)
    assert out.created and out.bytes == len(content.encode())
    assert out.sha256_after == hashlib.sha256(content.encode()).hexdigest()
    assert (env.root / "deep/new/file.txt").read_bytes() == content.encode()
    read = await env.run("files_read", path="deep/new/file.txt")
    assert read.content == content and read.total_lines == 650 and read.next_offset is None


async def test_write_records_receipt_facts(env):
    await env.run("files_write", path="a.txt", content="one\n")
    assert env.last.facts["paths"] == ["a.txt"]
    assert env.last.facts["bytes"] == 4
    assert env.last.facts["sha256_before"] is None
    assert env.last.facts["sha256_after"] == hashlib.sha256(b"one\n").hexdigest()
    await env.run("files_write", path="a.txt", content="two\n", overwrite=True)
    assert env.last.facts["sha256_before"] == hashlib.sha256(b"one\n").hexdigest()
    assert env.last.facts["sha256_after"] == hashlib.sha256(b"two\n").hexdigest()


async def test_write_refuses_overwrite_without_flag(env):
    (env.root / "a.txt").write_text("keep")
    with pytest.raises(ToolError, match="already exists; pass overwrite=true"):
        await env.run("files_write", path="a.txt", content="new")
    assert (env.root / "a.txt").read_text() == "keep"


async def test_read_window_and_continuation(env):
    (env.root / "f.txt").write_text("".join(f"{i}\n" for i in range(1, 11)))
    out = await env.run("files_read", path="f.txt", offset=3, limit=4)
    assert out.content == "3\n4\n5\n6\n" and (out.start_line, out.end_line) == (3, 6)
    assert out.next_offset == 7 and "offset=7" in out.hint
    head = await env.run("files_read", path="f.txt", head=2)
    assert head.content == "1\n2\n"
    tail = await env.run("files_read", path="f.txt", tail=3)
    assert tail.content == "8\n9\n10\n" and tail.start_line == 8
    with pytest.raises(ToolError, match="past the end"):
        await env.run("files_read", path="f.txt", offset=50)


async def test_read_byte_cap_on_one_huge_line(env):
    (env.root / "big.txt").write_text("a" * (600 * 1024) + "\nnext\n")
    out = await env.run("files_read", path="big.txt")
    assert len(out.content) == 256 * 1024 and out.truncated and out.next_offset == 2
    rest = await env.run("files_read", path="big.txt", offset=2)
    assert rest.content == "next\n"


async def test_binary_refused_with_size_and_type_or_base64(env):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (env.root / "img.png").write_bytes(png)
    with pytest.raises(ToolError, match=r"binary file \(image/png, 1032 bytes\).*as_base64=true"):
        await env.run("files_read", path="img.png")
    out = await env.run("files_read", path="img.png", as_base64=True)
    assert base64.b64decode(out.base64) == png and out.mime_type == "image/png"
    (env.root / "huge.bin").write_bytes(b"\0" * (1024 * 1024 + 1))
    with pytest.raises(ToolError, match="base64 reads are limited"):
        await env.run("files_read", path="huge.bin", as_base64=True)


async def test_invalid_utf8_is_a_clear_error(env):
    (env.root / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ToolError, match=r"not valid UTF-8 text \(invalid byte at offset 3\)"):
        await env.run("files_read", path="latin.txt")


async def test_edit_zero_one_two_matches(env):
    path = env.root / "e.py"
    path.write_text("a = 1\nb = 2\na = 1\n")
    with pytest.raises(ToolError, match="edit 1: old_text was not found"):
        await env.run("files_edit", path="e.py", edits=[{"old_text": "zzz", "new_text": "y"}])
    with pytest.raises(ToolError, match=r"matches 2 times \(lines 1, 3\)"):
        await env.run("files_edit", path="e.py", edits=[{"old_text": "a = 1", "new_text": "a = 9"}])
    assert path.read_text() == "a = 1\nb = 2\na = 1\n"
    out = await env.run("files_edit", path="e.py", edits=[{"old_text": "b = 2", "new_text": "b = 3"}])
    assert out.applied and out.replacements == 1 and "-b = 2\n+b = 3\n" in out.diff
    assert path.read_text() == "a = 1\nb = 3\na = 1\n"
    out = await env.run(
        "files_edit", path="e.py", edits=[{"old_text": "a = 1", "new_text": "a = 0", "replace_all": True}]
    )
    assert out.replacements == 2 and path.read_text() == "a = 0\nb = 3\na = 0\n"


async def test_edit_is_all_or_nothing(env):
    path = env.root / "e.txt"
    path.write_text("x\ny\n")
    with pytest.raises(ToolError, match="edit 2"):
        await env.run(
            "files_edit",
            path="e.txt",
            edits=[{"old_text": "x", "new_text": "X"}, {"old_text": "q", "new_text": "Q"}],
        )
    assert path.read_text() == "x\ny\n"


async def test_edit_dry_run_changes_nothing_and_returns_diff(env):
    path = env.root / "d.txt"
    path.write_text("hello\n")
    out = await env.run(
        "files_edit", path="d.txt", edits=[{"old_text": "hello", "new_text": "bye"}], dry_run=True
    )
    assert not out.applied and "-hello\n+bye\n" in out.diff and out.diff.startswith("--- a/d.txt")
    assert path.read_text() == "hello\n"


async def test_crlf_bom_and_exec_bit_survive_edit(env):
    path = env.root / "run.sh"
    path.write_bytes(b"\xef\xbb\xbf#!/bin/sh\r\necho one\r\necho two\r\n")
    os.chmod(path, 0o751)
    out = await env.run(
        "files_edit", path="run.sh", edits=[{"old_text": "echo one\necho two", "new_text": "echo 1\necho 2"}]
    )
    assert out.applied
    assert path.read_bytes() == b"\xef\xbb\xbf#!/bin/sh\r\necho 1\r\necho 2\r\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o751


async def test_overwrite_keeps_mode(env):
    path = env.root / "x.sh"
    path.write_text("a")
    os.chmod(path, 0o700)
    await env.run("files_write", path="x.sh", content="b", overwrite=True)
    assert path.read_text() == "b" and stat.S_IMODE(path.stat().st_mode) == 0o700


async def test_move_onto_existing_file(env):
    (env.root / "a").write_text("A")
    (env.root / "b").write_text("B")
    with pytest.raises(ToolError, match="already exists; nothing was moved"):
        await env.run("files_move", source="a", destination="b")
    assert (env.root / "a").read_text() == "A" and (env.root / "b").read_text() == "B"
    out = await env.run("files_move", source="a", destination="b", overwrite=True)
    assert out.overwritten and not (env.root / "a").exists() and (env.root / "b").read_text() == "A"
    assert env.last.facts["sha256_before"] == hashlib.sha256(b"B").hexdigest()
    assert env.last.facts["paths"] == ["a", "b"]


async def test_move_directory_and_into_itself(env):
    (env.root / "d/sub").mkdir(parents=True)
    (env.root / "d/sub/f").write_text("f")
    with pytest.raises(ToolError, match="into itself"):
        await env.run("files_move", source="d", destination="d/sub/x")
    out = await env.run("files_move", source="d", destination="new/place")
    assert out.type == "directory" and (env.root / "new/place/sub/f").read_text() == "f"


async def test_delete_file_and_directory_needs_recursive(env):
    (env.root / "d").mkdir()
    (env.root / "d/f").write_text("f")
    with pytest.raises(ToolError, match="pass recursive=true"):
        await env.run("files_delete", path="d")
    out = await env.run("files_delete", path="d", recursive=True)
    assert out.entries_deleted == 2 and not (env.root / "d").exists()
    (env.root / "g").write_text("g")
    await env.run("files_delete", path="g")
    assert not (env.root / "g").exists()
    assert env.last.facts["sha256_before"] == hashlib.sha256(b"g").hexdigest()
    with pytest.raises(ToolError, match="does not exist"):
        await env.run("files_delete", path="g")


async def test_mkdir_idempotent(env):
    assert (await env.run("files_mkdir", path="a/b/c")).created
    assert not (await env.run("files_mkdir", path="a/b/c")).created
    (env.root / "file").write_text("")
    with pytest.raises(ToolError, match="not a directory"):
        await env.run("files_mkdir", path="file")


async def test_list_depth_sizes_gitignore_and_paging(env):
    (env.root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    (env.root / "src/pkg").mkdir(parents=True)
    (env.root / "src/pkg/mod.py").write_text("x" * 7)
    (env.root / "build").mkdir()
    (env.root / "build/out.o").write_text("")
    (env.root / "a.log").write_text("")
    (env.root / "keep.log").write_text("")
    (env.root / ".git").mkdir()
    (env.root / ".git/HEAD").write_text("")
    out = await env.run("files_list", depth=3)
    paths = [e.path for e in out.entries]
    assert paths == [".gitignore", "keep.log", "src", "src/pkg", "src/pkg/mod.py"]
    assert [e.size for e in out.entries if e.path == "src/pkg/mod.py"] == [7]
    shallow = await env.run("files_list", depth=1)
    assert [e.path for e in shallow.entries] == [".gitignore", "keep.log", "src"]
    everything = await env.run("files_list", depth=3, gitignore=False, limit=3)
    assert everything.truncated and everything.next_offset == 3
    rest = await env.run("files_list", depth=3, gitignore=False, offset=3, limit=100)
    paged = [e.path for e in everything.entries + rest.entries]
    assert paged == [
        ".git",
        ".git/HEAD",
        ".gitignore",
        "a.log",
        "build",
        "build/out.o",
        "keep.log",
        "src",
        "src/pkg",
        "src/pkg/mod.py",
    ]
    assert rest.next_offset is None


async def test_find_by_name_and_path(env):
    (env.root / "a/b").mkdir(parents=True)
    for p in ("x.py", "a/y.py", "a/b/z.py", "a/b/z.txt"):
        (env.root / p).write_text("")
    names = await env.run("files_find", pattern="*.py")
    assert [m.path for m in names.matches] == ["a/b/z.py", "a/y.py", "x.py"]
    deep = await env.run("files_find", pattern="b/*", path="a")
    assert [m.path for m in deep.matches] == ["a/b/z.py", "a/b/z.txt"]


async def test_search_contents_context_caps_and_binary(env):
    (env.root / "src").mkdir()
    (env.root / "src/a.py").write_text("one\ntwo\nneedle here\nthree\n")
    (env.root / "src/b.txt").write_text("needle too\n")
    (env.root / "src/c.bin").write_bytes(b"needle\0binary")
    out = await env.run("files_search", pattern="needle", context=1)
    assert [(m.path, m.line) for m in out.matches] == [("src/a.py", 3), ("src/b.txt", 1)]
    assert out.matches[0].before == ["two"] and out.matches[0].after == ["three"]
    assert out.files_skipped_binary == 1
    only_py = await env.run("files_search", pattern="NEEDLE", ignore_case=True, glob="*.py")
    assert [m.path for m in only_py.matches] == ["src/a.py"]
    lit = await env.run("files_search", pattern="e h", literal=True)
    assert [m.line for m in lit.matches] == [3]
    with pytest.raises(ToolError, match="invalid regular expression"):
        await env.run("files_search", pattern="(")
    page = await env.run("files_search", pattern="needle", limit=1)
    assert page.truncated and page.next_offset == 1
    page2 = await env.run("files_search", pattern="needle", offset=1, limit=1)
    assert [m.path for m in page2.matches] == ["src/b.txt"]


async def test_read_many_reports_per_file(env):
    (env.root / "a").write_text("A\n")
    out = await env.run("files_read_many", paths=["a", "missing", "../outside/secret.txt"])
    assert [f.ok for f in out.files] == [True, False, False]
    assert out.files[0].content == "A\n" and "does not exist" in out.files[1].error
    assert "outside the workspace roots" in out.files[2].error


async def test_stat(env):
    (env.root / "f").write_text("abc")
    os.chmod(env.root / "f", 0o640)
    os.symlink("f", env.root / "link")
    out = await env.run("files_stat", path="f")
    assert (out.type, out.size, out.mode, out.links) == ("file", 3, "0o640", 1)
    link = await env.run("files_stat", path="link")
    assert link.type == "symlink" and link.symlink_target == "f"


async def test_tool_metadata_is_honest():
    from tests.files.conftest import REGISTRY

    writers = {"files_write", "files_edit", "files_mkdir", "files_move", "files_delete"}
    for tool in REGISTRY:
        assert tool.read_only == (tool.name not in writers), tool.name
        assert tool.path_fields, tool.name
        assert tool.output_model is not None
    assert REGISTRY.get("files_delete").destructive and not REGISTRY.get("files_read").destructive
    assert REGISTRY.get("files_move").path_fields == ("source", "destination")


@pytest.mark.parametrize(
    ("lines", "limit", "cap"),
    [
        ([], 10, 100),
        (["a\n"], 1, 2),
        (["a\n", "b\n", "c"], 3, 5),
        (["é\n", "ü\n"], 2, 6),  # four UTF-8 bytes: the cap counts bytes, not characters
        (["é\n", "ü\n"], 2, 5),  # one byte short: the slow path cuts
        (["x\n"] * 5, 4, 100),  # more lines than the limit
    ],
)
def test_the_whole_file_window_agrees_with_line_by_line(lines: list[str], limit: int, cap: int) -> None:
    from tollhouse.tools.files import textio

    got = textio.window(lines, 1, limit, cap)
    if not lines:
        assert (got.content, got.start_line, got.end_line, got.next_offset, got.total_lines) == (
            "", None, None, None, 0,
        )  # fmt: skip
        return
    # The same window computed line by line, as every other offset is.
    want = textio.window(["pad\n", *lines], 2, limit, cap)
    shifted = [None if v is None else v - 1 for v in (want.start_line, want.end_line, want.next_offset)]
    assert (got.content, got.truncated, got.total_lines) == (want.content, want.truncated, len(lines))
    assert [got.start_line, got.end_line, got.next_offset] == shifted


async def test_base64_reads_fit_what_the_face_can_deliver(env):
    # Over HTTP one result is one server-sent event (1 MiB by default); base64 cannot be paged, so a
    # file whose encoding would not fit is refused before it is read, saying why.
    tool = REGISTRY.get("files_read")
    (env.root / "mid.bin").write_bytes(b"\1" * (900 * 1024))
    args = tool.input_model.model_validate({"path": "mid.bin", "as_base64": True})
    ctx = env.ctx("files_read", {"path": "mid.bin", "as_base64": True})
    ctx.call.result_budget = 1024 * 1024
    with pytest.raises(ToolError, match=r"limited to 783360 bytes on this connection \(one HTTP event"):
        await tool.run(args, ctx)
    ctx.call.result_budget = None  # stdio: only the tool's own limit
    out = await tool.run(args, ctx)
    assert len(base64.b64decode(out.base64)) == 900 * 1024 < MAX_BASE64_BYTES
