"""`tollhouse serve --root DIR --profile readonly` with no config file: the one-block setup. The
policy is generated in memory and trusted as such; DIR is left exactly as it was (receipts go to the
operator's folder). A real MCP stdio session, as a client configured with that one line runs it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import subprocess_env, tollhouse_cmd
from tollhouse.opdirs import workspace_dir

pytestmark = pytest.mark.anyio


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / ".env").write_text("API_KEY=never-shown\n")
    return root


async def test_a_readonly_server_for_a_folder_without_a_config(folder: Path, tmp_path: Path) -> None:
    before = snapshot(folder)
    env = {k: v for k, v in subprocess_env().items() if k in ("PATH", "HOME", "PYTHONPATH", "TOLLHOUSE_HOME")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-P", "-m", "tollhouse", "serve", "--root", str(folder), "--profile", "readonly"],
        env=env, cwd=str(tmp_path),
    )  # fmt: skip
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        read = await client.call_tool("files_read", {"path": "src/app.py"})
        secret = await client.call_tool("files_read", {"path": ".env"})
        write = await client.call_tool("files_write", {"path": "src/x.py", "content": "x"})
    assert "files_read" in tools and "files_write" not in tools and "shell_run" not in tools
    assert not read.is_error and "print('hi')" in read.content[0].text
    assert secret.is_error and "never-shown" not in secret.content[0].text
    assert write.is_error and "not served" in write.content[0].text
    assert snapshot(folder) == before  # no tollhouse.toml, no .tollhouse/, nothing changed
    db = workspace_dir(folder) / "state" / "receipts.db"
    rows = sqlite3.connect(db).execute("SELECT tool, outcome FROM receipts ORDER BY seq").fetchall()
    assert rows == [("files_read", "ok"), ("files_read", "denied"), ("files_write", "error")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "missing"], "--root missing: not a folder"),
        (["--root", "."], "tollhouse.toml exists: serve it with `tollhouse serve --config"),
        (["--root", ".", "--config", "tollhouse.toml"], "drop --config"),
        (["--profile", "admin"], "invalid choice: 'admin'"),
    ],
    ids=["no-folder", "has-config", "with-config", "bad-profile"],
)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "tollhouse.toml").write_text("# someone's own\n")
    before = snapshot(tmp_path)
    out = subprocess.run(
        tollhouse_cmd("serve", *args), cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert snapshot(tmp_path) == before
    assert not workspace_dir(tmp_path).exists()
