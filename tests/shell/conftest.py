"""Fixtures for the shell family: a real workspace with tollhouse.toml and a way to run shell_run
directly (the gate has its own tests in tests/shell/test_gate_cases.py)."""

from __future__ import annotations

import os
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from tollhouse.config import Config, parse_config
from tollhouse.gate.types import Call
from tollhouse.tools.base import ToolContext
from tollhouse.tools.shell import SHELL_RUN, ShellRunInput


def make_config(root: Path, shell: str = "") -> Config:
    text = textwrap.dedent(shell)
    path = root / "tollhouse.toml"
    path.write_text(text, encoding="utf-8")
    return parse_config(text, path)


class Runner:
    """Runs shell_run the way the gate would: validated input, a fresh context, recorded facts."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.facts: dict[str, Any] = {}

    def context(self, arguments: dict[str, Any]) -> ToolContext:
        async def sink(p: float, total: float | None, message: str | None) -> None:
            self.progress.append((p, total, message))

        return ToolContext(
            call=Call(tool="shell_run", arguments=arguments),
            tool=SHELL_RUN,
            workspace=self.config.workspace,
            services=types.SimpleNamespace(config=self.config),
            progress_sink=sink,
        )

    async def __call__(self, **arguments: Any) -> Any:
        args = ShellRunInput.model_validate(arguments)
        ctx = self.context(arguments)
        try:
            return await SHELL_RUN.run(args, ctx)
        finally:
            self.facts = dict(ctx.facts)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def run(ws: Path) -> Runner:
    return Runner(make_config(ws))


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
