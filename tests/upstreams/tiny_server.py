"""A small MCP server (the official SDK) that misbehaves on request, run as a real stdio upstream.

Its tools: ``echo``, ``hang`` (never answers), ``crash`` (the process exits mid-call), ``leak`` (returns
the value of $TINY_SECRET), ``flood`` (returns N bytes), ``write_note`` (not read-only), ``slow``
(reports progress, then answers). ``echo``'s description is read from the file named by
$TINY_DESCRIPTION_FILE when the server starts, so a test can change it between starts. The server
writes its pid to $TINY_PID_FILE (one line per start).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

mcp = MCPServer("tiny", version="1.2.3", log_level="WARNING")
READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)

if os.environ.get("TINY_PID_FILE"):
    with open(os.environ["TINY_PID_FILE"], "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")

_desc_file = os.environ.get("TINY_DESCRIPTION_FILE")
ECHO_DESCRIPTION = Path(_desc_file).read_text(encoding="utf-8") if _desc_file else "Echo the text back."


@mcp.tool(description=ECHO_DESCRIPTION, annotations=READ)
def echo(text: str) -> str:
    return text


@mcp.tool(description="Never answers.", annotations=READ)
async def hang(seconds: float = 3600) -> str:
    await anyio.sleep(seconds)
    return "woke"


@mcp.tool(description="Exits the process in the middle of the call.", annotations=READ)
async def crash() -> str:
    await anyio.sleep(0.05)
    os._exit(3)


@mcp.tool(description="Returns the secret it was given.", annotations=READ)
def leak() -> str:
    return f"the token is {os.environ.get('TINY_SECRET', 'unset')} ok"


@mcp.tool(description="Names of the environment variables the server was given.", annotations=READ)
def env_names() -> list[str]:
    return sorted(os.environ)


@mcp.tool(description="Returns n bytes of text.", annotations=READ)
def flood(n: int) -> str:
    return "x" * n


@mcp.tool(description="Starts a long sleep in the background and returns its pid.", annotations=READ)
def spawn_child() -> int:
    import subprocess

    return subprocess.Popen(["sleep", "300"]).pid


@mcp.tool(description="Fails with n bytes of error text.", annotations=READ)
def fail_flood(n: int) -> str:
    raise ToolError("y" * n)


@mcp.tool(
    description="Writes a note.", annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False)
)
def write_note(path: str, text: str) -> str:
    return f"would write {len(text)} bytes to {path}"


@mcp.tool(description="Reports progress, then answers.", annotations=READ)
async def slow(steps: int, ctx: Context) -> str:
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
        await anyio.sleep(0.01)
    return f"done {steps} at {time.time():.0f}"


@mcp.tool(description="The Authorization header this request carried (HTTP only).", annotations=READ)
def auth_header(ctx: Context) -> str:
    headers = ctx.headers or {}
    return f"authorization: {headers.get('authorization', 'none')}"


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()
