"""Shared fixtures: a real temporary workspace with a tollhouse.toml, and subprocess helpers."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running `python -m tollhouse` from this checkout, installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TOLLHOUSE_CONFIG", None)
    env.update(extra)
    return env


def tollhouse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tollhouse", *args]


def write_config(root: Path, body: str) -> Path:
    path = root / "tollhouse.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root
