"""How `tollhouse call` shows a result to a person at a terminal.

Into a pipe or a file, and with --json, the output stays what scripts read (the result as JSON).
On a terminal a person reads it: a file's contents as text, a command's output as its own streams
while it runs and after, anything else as indented JSON. Text a tool returned can hold what an
agent wrote, so control and invisible characters are shown escaped (``display.block``), as
everywhere else a person reads such text.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from tollhouse import display


def human(stream: TextIO | None = None) -> bool:
    """A person is reading: stdout is a terminal."""
    isatty = getattr(stream or sys.stdout, "isatty", None)
    return bool(isatty and isatty())


class LiveLine:
    """The newest output line of a running command, redrawn in place on stderr (a terminal only),
    cleared before the result is printed. The shell tool sends a line at most every 0.1 s: this is
    a view of progress, and the whole captured output follows when the command ends."""

    def __init__(self, err: TextIO | None = None) -> None:
        self.err = err or sys.stderr
        self.shown = False

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        if message is None:
            return
        width = 100
        text = display.line(message)
        text = text if len(text) <= width else text[: width - 1] + "…"
        self.err.write(f"\r\x1b[2K\x1b[2m… {text}\x1b[0m")
        self.err.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self.shown = False


def print_result(tool: str, result: Any, out: TextIO | None = None, err: TextIO | None = None) -> None:
    """Print a successful call's result for a person (text, streams) or for a script (JSON)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if not human(out):
        out.write(
            (result if isinstance(result, str) else json.dumps(result, indent=2, ensure_ascii=False)) + "\n"
        )
        return
    if isinstance(result, str):
        out.write(display.block(result) + ("" if result.endswith("\n") else "\n"))
    elif isinstance(result, dict) and isinstance(result.get("content"), str) and "path" in result:
        _file(result, out, err)
    elif isinstance(result, dict) and isinstance(result.get("files"), list):
        for item in result["files"]:
            if isinstance(item, dict) and isinstance(item.get("content"), str):
                err.write(f"==> {display.line(item.get('path', '?'))} <==\n")
                err.flush()
                _file(item, out, err, trailer=False)
            else:
                path, error = display.line(item.get("path", "?")), display.line(item.get("error") or "")
                err.write(f"==> {path} <== {error}\n")
    elif isinstance(result, dict) and "exit_code" in result and "stdout" in result:
        _command(result, out, err)
    else:
        out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    out.flush()


def _file(result: dict[str, Any], out: TextIO, err: TextIO, trailer: bool = True) -> None:
    content = result["content"]
    out.write(display.block(content))
    if content and not content.endswith("\n"):
        out.write("\n")
    out.flush()
    if not trailer:
        return
    lines = ""
    if result.get("start_line") is not None:
        lines = f" lines {result['start_line']}-{result.get('end_line')} of {result.get('total_lines')}"
    more = f"; more from offset {result['next_offset']}" if result.get("truncated") else ""
    err.write(f"({display.line(result['path'])}{lines}{more})\n")


def _command(result: dict[str, Any], out: TextIO, err: TextIO) -> None:
    for name, stream in (("stdout", out), ("stderr", err)):
        text = result.get(name) or ""
        if text:
            stream.write(display.block(text) + ("" if text.endswith("\n") else "\n"))
            stream.flush()
    how = f"exit {result['exit_code']}" if result.get("exit_code") is not None else "no exit code"
    if result.get("signal"):
        how += f", signal {result['signal']}"
    if result.get("timed_out"):
        how += ", timed out"
    if result.get("duration_ms") is not None:
        how += f" · {result['duration_ms']} ms"
    note = f"; {display.line(result['note'])}" if result.get("note") else ""
    err.write(f"({how}{note})\n")
