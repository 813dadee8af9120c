"""Real `tollhouse serve --http` processes shared by a test module (module scope: each start costs
about a second), each with its own operator home passed explicitly in the environment."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.server.conftest import CONFIG, make_workspace

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


class Replica:
    def __init__(self, proc: subprocess.Popen[str], url: str, token: str, lines: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.base = url.removesuffix("/mcp")
        self.token = token
        self.lines = lines

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@contextlib.contextmanager
def operator_home(home: Path) -> Iterator[None]:
    """TOLLHOUSE_HOME set to ``home`` for this process, for the duration."""
    old = os.environ.get("TOLLHOUSE_HOME")
    os.environ["TOLLHOUSE_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TOLLHOUSE_HOME", None)
        else:
            os.environ["TOLLHOUSE_HOME"] = old


def make_shared_workspace(root: Path, home: Path, extra: str = "") -> Path:
    """A workspace like the server tests' one, trusted in ``home``."""
    with operator_home(home):
        make_workspace(root, extra)
    return root


def start_replica(root: Path, home: Path, *extra: str, env: dict[str, str] | None = None) -> Replica:
    proc = subprocess.Popen(
        tollhouse_cmd("--config", str(root / "tollhouse.toml"), "serve", "--http", "127.0.0.1:0", *extra),
        cwd=root,
        env=subprocess_env(TOLLHOUSE_HOME=str(home), **(env or {})),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 30
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if m := re.search(r"serving MCP over HTTP at (\S+)", line):
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        proc.wait()
        raise AssertionError("server did not start:\n" + "".join(lines) + (proc.stderr.read() or ""))
    from tollhouse.opdirs import secrets_dir

    with operator_home(home):
        token_file = secrets_dir(root / ".tollhouse") / "http-token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    return Replica(proc, url, token, lines)


def stop_replica(replica: Replica, timeout: float = 10) -> int:
    proc = replica.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        replica.lines.append(proc.stderr.read())
        proc.stderr.close()
    return proc.returncode


__all__ = [
    "CONFIG",
    "HEADERS",
    "MODERN_META",
    "Replica",
    "make_shared_workspace",
    "start_replica",
    "stop_replica",
]
