"""Workspace.resolve as an attacker probes it: the string fast path must agree with realpath."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tollhouse.workspace import PathError, Workspace


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Workspace, Path]:
    ws = tmp_path / "ws"
    evil = tmp_path / "ws-evil"
    (ws / "src" / "pkg").mkdir(parents=True)
    evil.mkdir()
    (ws / "src" / "pkg" / "a.py").write_text("x")
    (evil / "secret").write_text("s")
    os.symlink(evil, ws / "out")  # a link to a sibling with a prefix-sharing name
    os.symlink(ws / "src", ws / "inner")  # a link that stays inside
    os.symlink(ws / "nowhere", ws / "dangling")
    return Workspace([ws]), tmp_path


@pytest.mark.parametrize(
    ("raw", "rel"),
    [
        ("src/pkg/a.py", "src/pkg/a.py"),
        ("src/pkg/new/deeper.txt", "src/pkg/new/deeper.txt"),
        ("inner/pkg/a.py", "src/pkg/a.py"),
        ("src/./pkg//a.py", "src/pkg/a.py"),
        ("src/pkg/../pkg/a.py", "src/pkg/a.py"),
        (".", "."),
        ("./", "."),
        ("src/.", "src"),
        ("src//pkg/", "src/pkg"),
        ("./inner/./pkg", "src/pkg"),
        ("inner/.", "src"),
    ],
)
def test_inside_paths_resolve_to_their_real_place(tree, raw: str, rel: str) -> None:
    ws, _ = tree
    got = ws.resolve(raw)
    assert got.rel == rel
    # The fast path for "." and empty components agrees with realpath on where the path is.
    assert got.abs == Path(os.path.realpath(ws.root / raw)) and got.root == ws.root


@pytest.mark.parametrize(
    "raw",
    [
        "../ws-evil/secret",
        "out/secret",
        "out/new-file",
        "src/../../ws-evil/secret",
        "/etc/passwd",
        "dangling/../../x",
    ],
)
def test_escapes_are_refused(tree, raw: str) -> None:
    ws, _ = tree
    with pytest.raises(PathError, match="outside the workspace roots"):
        ws.resolve(raw)


def test_absolute_paths_inside_a_root_are_accepted(tree) -> None:
    ws, tmp = tree
    assert ws.resolve(str(tmp / "ws" / "src" / "pkg" / "a.py")).rel == "src/pkg/a.py"
    with pytest.raises(PathError):
        ws.resolve(str(tmp / "ws-evil" / "secret"))


def test_dangling_link_resolves_to_its_target_inside(tree) -> None:
    ws, _ = tree
    assert ws.resolve("dangling").rel == "nowhere"


def test_a_file_used_as_a_directory_is_a_clear_error(tree) -> None:
    ws, _ = tree
    with pytest.raises(PathError, match="cannot be resolved"):
        ws.resolve("src/pkg/a.py/child")


@pytest.mark.parametrize(
    ("raw", "why"), [("a\x00b", "NUL"), ("x" * 5000, "longer than 4096"), ("", "non-empty")]
)
def test_malformed_paths(tree, raw: str, why: str) -> None:
    ws, _ = tree
    with pytest.raises(PathError, match=why):
        ws.resolve(raw)


def test_client_roots_only_narrow(tree) -> None:
    ws, tmp = tree
    assert ws.effective_roots((str(tmp / "ws" / "src"),)) == (tmp / "ws" / "src",)
    assert ws.effective_roots((str(tmp),)) == (tmp / "ws",)
    assert ws.effective_roots((str(tmp / "ws-evil"),)) == ()


@pytest.mark.parametrize(
    ("client", "raw"),
    [
        ("ws/src", "pkg/a.py"),  # the plain fast path under a client root
        ("ws/src", "./pkg//a.py"),
        ("ws/inner", "pkg/a.py"),  # a client root announced through a link
        ("ws/src/pkg/..", "pkg/a.py"),
        ("ws/src", "../src/pkg/a.py"),  # realpath's slow path
        ("ws/src/pkg", "a.py"),
        ("ws", "src/pkg/a.py"),
    ],
)
def test_paths_under_a_client_root_are_named_from_the_operator_root(tree, client: str, raw: str) -> None:
    ws, tmp = tree
    roots = ws.effective_roots((str(tmp / client),))
    got = ws.resolve(raw, roots)
    assert (got.root, got.rel, got.abs) == (tmp / "ws", "src/pkg/a.py", tmp / "ws" / "src" / "pkg" / "a.py")
