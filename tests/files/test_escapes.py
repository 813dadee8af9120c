"""Attacks on confinement, written as an attacker would try them, against every file tool.

Each attack must be refused with a clear error, leak nothing from outside, and change nothing outside.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.files.conftest import SECRET
from tollhouse.tools.base import PolicyDenied, ToolError

pytestmark = pytest.mark.anyio


def calls_for(path: str) -> list[tuple[str, dict]]:
    """Every tool, aimed at ``path`` in each argument that takes a path."""
    return [
        ("files_read", {"path": path}),
        ("files_read", {"path": path, "as_base64": True}),
        ("files_stat", {"path": path}),
        ("files_list", {"path": path}),
        ("files_find", {"pattern": "*", "path": path}),
        ("files_search", {"pattern": "SECRET", "path": path}),
        ("files_write", {"path": path, "content": "pwned", "overwrite": True}),
        ("files_write", {"path": path, "content": "pwned"}),
        ("files_edit", {"path": path, "edits": [{"old_text": "TOP", "new_text": "PWN"}]}),
        ("files_mkdir", {"path": path}),
        ("files_move", {"source": path, "destination": "moved"}),
        ("files_move", {"source": "inside.txt", "destination": path, "overwrite": True}),
        ("files_delete", {"path": path, "recursive": True}),
    ]


def plant(env) -> None:
    """The attacker's links inside the workspace."""
    root, out = env.root, env.outside
    (root / "inside.txt").write_text("inside\n")
    os.symlink(out / "secret.txt", root / "file_link")  # symlinked file
    os.symlink(out, root / "dir_link")  # symlinked directory
    os.symlink(out / "nothing-yet.txt", root / "dangling")  # dangling link to outside
    os.symlink(out / "newdir", root / "dangling_dir")  # dangling ancestor of a future target
    os.symlink("chain2", root / "chain1")  # a chain: inside -> inside -> outside
    os.symlink(out / "secret.txt", root / "chain2")
    os.symlink("../outside", root / "rel_link")  # relative link climbing out
    (root / "sub").mkdir()
    os.symlink("../../outside/secret.txt", root / "sub" / "deep_link")


ATTACKS = [
    "../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "OUTSIDE_ABS",
    "EVIL_ABS",  # sibling-prefix directory: /x/ws-evil is not inside /x/ws
    "../ws-evil/secret.txt",
    "file_link",
    "dir_link/secret.txt",
    "dir_link/new.txt",  # symlinked ancestor of a non-existent target
    "dir_link",
    "dangling",
    "dangling_dir/a/b.txt",
    "chain1",
    "rel_link/secret.txt",
    "sub/deep_link",
    "/",
    "/etc/passwd",
]


def _concrete(env, attack: str) -> str:
    if attack == "OUTSIDE_ABS":
        return str(env.outside / "secret.txt")
    if attack == "EVIL_ABS":
        return str(env.evil / "secret.txt")
    return attack


@pytest.mark.parametrize("attack", ATTACKS)
async def test_every_tool_refuses_every_escape(env, attack):
    plant(env)
    before = env.outside_state()
    inside_before = (env.root / "inside.txt").read_bytes()
    path = _concrete(env, attack)
    for name, args in calls_for(path):
        with pytest.raises(ToolError) as info:
            await env.run(name, **args)
        message = str(info.value)
        assert "outside the workspace roots" in message, (name, args, message)
        assert "TOP-SECRET" not in message
        assert env.outside_state() == before, (name, args)
        assert (env.root / "inside.txt").read_bytes() == inside_before, (name, args)
    # the attacker's links themselves are still there: nothing was replaced through them
    assert os.readlink(env.root / "file_link") == str(env.outside / "secret.txt")


@pytest.mark.parametrize("attack", ATTACKS)
async def test_read_many_refuses_each_escape_per_file(env, attack):
    plant(env)
    out = await env.run("files_read_many", paths=["inside.txt", _concrete(env, attack)])
    assert out.files[0].ok and out.files[0].content == "inside\n"
    assert not out.files[1].ok and "outside the workspace roots" in out.files[1].error
    assert all("TOP-SECRET" not in (f.content or "") for f in out.files)


async def test_walks_never_enter_links_to_outside(env):
    plant(env)
    listing = await env.run("files_list", depth=10, gitignore=False)
    kinds = {e.path: e.type for e in listing.entries}
    assert kinds["dir_link"] == "symlink" and not any(p.startswith("dir_link/") for p in kinds)
    found = await env.run("files_find", pattern="secret*")
    assert found.matches == []
    hits = await env.run("files_search", pattern="TOP-SECRET")
    assert hits.matches == [] and hits.files_scanned == 1  # only inside.txt; links are not read


async def test_links_that_stay_inside_work(env):
    (env.root / "real").mkdir()
    (env.root / "real/f.txt").write_text("ok\n")
    os.symlink("real", env.root / "alias")
    os.symlink("real/f.txt", env.root / "flink")
    assert (await env.run("files_read", path="alias/f.txt")).content == "ok\n"
    out = await env.run("files_write", path="flink", content="new\n", overwrite=True)
    assert out.path == "real/f.txt"  # written through to the target, which stays inside
    assert os.path.islink(env.root / "flink") and (env.root / "real/f.txt").read_text() == "new\n"
    await env.run("files_delete", path="flink")  # deletes the link, not the target
    assert not os.path.lexists(env.root / "flink") and (env.root / "real/f.txt").exists()


async def test_hard_link_to_outside_file_is_read_but_never_written_through(env):
    """Documented: a hard link is the same inode, so reading it reads that content. Writes replace the
    directory entry with a new inode (atomic rename), so the outside name keeps its content."""
    os.link(env.outside / "secret.txt", env.root / "hl")
    before = env.outside_state()
    assert (await env.run("files_read", path="hl")).content == SECRET
    assert (await env.run("files_stat", path="hl")).links == 2
    await env.run("files_write", path="hl", content="replaced\n", overwrite=True)
    assert env.outside_state() == before
    os.link(env.outside / "secret.txt", env.root / "hl2")
    await env.run("files_edit", path="hl2", edits=[{"old_text": "TOP", "new_text": "PWN"}])
    assert (env.root / "hl2").read_text() == "PWN-SECRET-OUTSIDE\n"
    assert env.outside_state() == before
    await env.run("files_delete", path="hl2")
    assert env.outside_state() == before


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a\x00b", "NUL byte"),
        ("a" * 5000, "longer than 4096 bytes"),
        ("d/" + "n" * 300, "longer than 255 bytes"),
        ("bad\udcff", "not valid UTF-8"),
        ("evil\u202etxt.exe", "U+202E"),
        ("line\nbreak", "U+000A"),
        ("", "non-empty"),
    ],
)
async def test_malformed_paths_are_clear_errors(env, path, message):
    for name, args in calls_for(path):
        if name == "files_move" and args["source"] == "inside.txt":
            (env.root / "inside.txt").write_text("x")
        with pytest.raises(ToolError, match=re.escape(message)):
            await env.run(name, **args)
    assert sorted(p.name for p in env.root.iterdir()) in ([], ["inside.txt"])


@pytest.mark.parametrize(
    "lookalike",
    [
        "\uff0e\uff0e/outside/secret.txt",
        "\u2025/outside/secret.txt",
        "..\u2215outside\u2215secret.txt",
        "‥/secret.txt",
    ],
)
async def test_unicode_lookalikes_are_plain_names_inside(env, lookalike):
    before = env.outside_state()
    with pytest.raises(ToolError, match="does not exist"):
        await env.run("files_read", path=lookalike)
    out = await env.run("files_write", path=lookalike, content="x")
    assert (env.root / out.path).read_text() == "x"
    assert (env.root / out.path).resolve().is_relative_to(env.root.resolve())
    assert env.outside_state() == before


IMMUTABLE_CALLS = [
    ("files_write", {"path": ".git/config", "content": "x", "overwrite": True}),
    ("files_write", {"path": "policy.toml", "content": "[rules]", "overwrite": True}),
    ("files_write", {"path": ".tollhouse/receipts.db", "content": "x", "overwrite": True}),
    ("files_write", {"path": "innocent", "content": "x", "overwrite": True}),  # link into .git
    ("files_edit", {"path": ".git/config", "edits": [{"old_text": "core", "new_text": "x"}]}),
    ("files_edit", {"path": "innocent", "edits": [{"old_text": "core", "new_text": "x"}], "dry_run": True}),
    ("files_mkdir", {"path": ".git/hooks"}),
    ("files_move", {"source": ".git/config", "destination": "stolen"}),
    ("files_move", {"source": "plain.txt", "destination": ".git/config", "overwrite": True}),
    ("files_move", {"source": "plain.txt", "destination": "policy.toml", "overwrite": True}),
    ("files_move", {"source": "vendor", "destination": "elsewhere"}),  # tree holds an immutable path
    ("files_move", {"source": "stuff", "destination": "vendor/locked/stuff"}),
    ("files_move", {"source": "stuff", "destination": "vendor/locked"}),
    ("files_delete", {"path": ".git", "recursive": True}),
    ("files_delete", {"path": "policy.toml"}),
    ("files_delete", {"path": "vendor", "recursive": True}),
    ("files_delete", {"path": ".tollhouse", "recursive": True}),
]


@pytest.mark.parametrize(("name", "args"), IMMUTABLE_CALLS)
async def test_immutable_paths_are_never_changed(env, name, args):
    from tests.files.conftest import tree_state

    (env.root / ".git").mkdir()
    (env.root / ".git/config").write_text("[core]\n")
    (env.root / "policy.toml").write_text("[rules]\n")
    (env.root / ".tollhouse").mkdir()
    (env.root / ".tollhouse/receipts.db").write_text("chain")
    (env.root / "vendor/locked").mkdir(parents=True)
    (env.root / "vendor/locked/lib.c").write_text("int x;")
    (env.root / "stuff").mkdir()
    (env.root / "plain.txt").write_text("plain")
    os.symlink(".git/config", env.root / "innocent")
    before = tree_state(env.root)
    with pytest.raises(PolicyDenied) as info:
        await env.run(name, **args)
    assert info.value.rule == "workspace.immutable"
    assert "immutable" in str(info.value)
    assert tree_state(env.root) == before


async def test_root_itself_is_never_deleted_or_moved(env):
    (env.root / "keep").write_text("k")
    with pytest.raises(ToolError, match="workspace root itself"):
        await env.run("files_delete", path=".", recursive=True)
    with pytest.raises(ToolError, match="workspace root itself"):
        await env.run("files_delete", path=str(env.root), recursive=True)
    with pytest.raises(ToolError, match="workspace root itself"):
        await env.run("files_move", source=".", destination="x")
    assert (env.root / "keep").read_text() == "k"


async def test_client_roots_only_narrow(env):
    (env.root / "top.txt").write_text("top\n")
    (env.root / "sub").mkdir()
    (env.root / "sub/in.txt").write_text("in\n")
    wider = (str(env.tmp),)
    out = await env.run("files_read", client_roots=wider, path="top.txt")
    assert out.content == "top\n"
    with pytest.raises(ToolError, match="outside the workspace roots"):
        await env.run("files_read", client_roots=wider, path=str(env.outside / "secret.txt"))
    narrow = (str(env.root / "sub"),)
    assert (await env.run("files_read", client_roots=narrow, path="in.txt")).content == "in\n"
    with pytest.raises(ToolError, match="outside the workspace roots"):
        await env.run("files_read", client_roots=narrow, path="../top.txt")
    with pytest.raises(ToolError, match="outside the workspace roots"):
        await env.run(
            "files_write", client_roots=narrow, path=str(env.root / "top.txt"), content="x", overwrite=True
        )
    assert (env.root / "top.txt").read_text() == "top\n"
    with pytest.raises(ToolError, match="no workspace root is available"):
        await env.run("files_read", client_roots=(str(env.outside),), path="secret.txt")
