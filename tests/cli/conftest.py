"""A workspace made by `tollhouse init`, and a way to run commands as a person would."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd


def th(cwd: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True,
        input=stdin, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print('hi')\nprint('there')\n")
    out = th(workspace, "init")
    assert out.returncode == 0, out.stderr
    return workspace
