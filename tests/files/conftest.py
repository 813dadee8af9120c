"""Fixtures for the file tools: a workspace root, a sibling-prefix directory, an outside directory with
a secret, and a helper that runs a tool the way the gate would (validated input, a fresh context)."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from tollhouse.config import parse_config
from tollhouse.gate.types import Call
from tollhouse.tools import build_registry
from tollhouse.tools.base import ToolContext
from tollhouse.workspace import Workspace

REGISTRY = build_registry(["files"])
SECRET = "TOP-SECRET-OUTSIDE\n"


def tree_state(path: Path) -> dict[str, Any]:
    """Everything observable about a directory tree: names, types, modes and content digests."""
    state: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            st = full.lstat()
            rel = str(full.relative_to(path))
            if full.is_symlink():
                state[rel] = ("link", os.readlink(full))
            elif full.is_file():
                state[rel] = ("file", st.st_mode, hashlib.sha256(full.read_bytes()).hexdigest())
            else:
                state[rel] = ("other", st.st_mode)
    return state


class Env:
    def __init__(
        self, tmp: Path, immutable: tuple[str, ...] = (".git/**", "policy.toml", "vendor/locked/**")
    ) -> None:
        self.tmp = tmp
        self.root = tmp / "ws"
        self.evil = tmp / "ws-evil"
        self.outside = tmp / "outside"
        for d in (self.root, self.evil, self.outside):
            d.mkdir()
        (self.outside / "secret.txt").write_text(SECRET)
        (self.evil / "secret.txt").write_text(SECRET)
        self.workspace = Workspace([self.root], immutable=list(immutable))
        self.last: ToolContext | None = None

    def ctx(
        self, name: str, arguments: dict[str, Any], client_roots: tuple[str, ...] | None = None
    ) -> ToolContext:
        tool = REGISTRY.get(name)
        assert tool is not None
        call = Call(tool=name, arguments=arguments, client_roots=client_roots)
        return ToolContext(call=call, tool=tool, workspace=self.workspace, services=types.SimpleNamespace())

    async def run(self, name: str, client_roots: tuple[str, ...] | None = None, **arguments: Any) -> Any:
        tool = REGISTRY.get(name)
        assert tool is not None
        args = tool.input_model.model_validate(arguments)
        self.last = self.ctx(name, arguments, client_roots)
        return await tool.run(args, self.last)

    def outside_state(self) -> dict[str, Any]:
        return {"outside": tree_state(self.outside), "evil": tree_state(self.evil)}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# The file tools through the real gate (test_gate.py, test_gate_attacks.py): one rule allows them all.
TOOLS = [
    "files_read", "files_read_many", "files_stat", "files_list", "files_find", "files_search",
    "files_write", "files_edit", "files_mkdir", "files_move", "files_delete",
]  # fmt: skip

CONFIG = f"""
[tools]
families = ["files"]

[workspace]
immutable = [".git/**", "vendor/locked/**"]

[[rules]]
id = "files-all"
tools = {json.dumps(TOOLS)}
effect = "allow"
"""


@pytest.fixture
def setup(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET\n")
    path = root / "tollhouse.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return parse_config(path.read_text(), path), root, outside
