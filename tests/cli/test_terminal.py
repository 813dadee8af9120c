"""On a terminal a person reads text: file contents as text, a command's output live and then
whole, tables in colour (never under NO_COLOR). Into a pipe, output stays what scripts read."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import th
from tests.conftest import subprocess_env, tollhouse_cmd, write_config

LOOP = 'for i in 1 2 3 4; do echo line $i; sleep 0.3; done; printf "\\033[31mred\\n" >&2; exit 3'


def on_terminal(cwd: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; everything it wrote, and its exit."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(TERM="xterm", **env),
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            pytest.fail("no output for 60 s")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.fixture
def shell_ws(workspace: Path) -> Path:
    (workspace / "notes.md").write_text('# Notes\n\nsay "hi"\tand \x1b[2Jgo\n')
    write_config(
        workspace,
        f"""
        [shell]
        sandbox = "none"

        [[rules]]
        id = "read"
        tools = ["files_read", "files_read_many", "files_list"]
        effect = "allow"

        [[rules]]
        id = "loop"
        tools = ["shell_run"]
        argv = [{json.dumps("sh -c '" + LOOP + "'")}]
        effect = "allow"
        """,
    )
    return workspace


def test_file_contents_are_text_on_a_terminal_and_json_in_a_pipe(shell_ws: Path) -> None:
    code, seen = on_terminal(shell_ws, "call", "files_read", '{"path": "notes.md"}')
    assert code == 0, seen
    assert '# Notes\n\nsay "hi"\tand \\x1b[2Jgo\n' in seen  # text, its ESC shown, not obeyed
    assert '"content"' not in seen and "(notes.md lines 1-3 of 3)" in seen
    piped = th(shell_ws, "call", "files_read", '{"path": "notes.md"}')
    assert json.loads(piped.stdout)["content"] == '# Notes\n\nsay "hi"\tand \x1b[2Jgo\n'
    code, seen = on_terminal(shell_ws, "call", "files_read_many", '{"paths": ["notes.md", "nope.md"]}')
    assert code == 0 and "==> notes.md <==\n# Notes" in seen and "==> nope.md <== " in seen


def test_shell_output_streams_live_on_a_terminal_then_shows_whole(shell_ws: Path) -> None:
    args = json.dumps({"argv": ["sh", "-c", LOOP]})
    _, seen = on_terminal(shell_ws, "call", "shell_run", args)
    live = [part for part in seen.split("\r") if part.startswith("\x1b[2K\x1b[2m… line")]
    assert len(live) >= 2, seen  # lines shown while the command ran
    final = seen.rsplit("\x1b[2K", 1)[1]
    assert final.startswith("line 1\nline 2\nline 3\nline 4\n"), seen
    assert "red\n" in final and "\x1b[31m" not in seen  # the command's ESC never reaches the terminal
    assert "(exit 3 · " in final
    piped = th(shell_ws, "call", "shell_run", args)
    assert "\x1b[2K" not in piped.stdout + piped.stderr
    assert json.loads(piped.stdout)["stdout"] == "line 1\nline 2\nline 3\nline 4\n"


def test_tables_are_coloured_only_on_a_terminal_without_no_color(shell_ws: Path) -> None:
    th(shell_ws, "call", "files_list", "{}")
    code, seen = on_terminal(shell_ws, "receipts", "tail")
    assert code == 0 and "\x1b[32mok\x1b[0m" in seen and "\x1b[1mCALL" in seen
    code, plain = on_terminal(shell_ws, "receipts", "tail", NO_COLOR="1")
    assert code == 0 and "\x1b" not in plain and " ok " in plain
    piped = th(shell_ws, "receipts", "tail")
    assert "\x1b" not in piped.stdout and piped.stdout.splitlines()[0].startswith("CALL")
