"""A stand-in coding agent for the action tests: it reads the MCP config the action wrote
($TOLLHOUSE_MCP_CONFIG), starts the server from it as an MCP client does (the SDK passes only a few
variables of its own environment on, plus the entry's env), and makes the calls given as JSON:
``agent.py '[["files_read", {"path": "a.txt"}], ...]'``. Like a real agent, a denied call is just
a result it reads; it exits 0 when it ran to the end."""

from __future__ import annotations

import json
import os
import sys

import anyio
from mcp import Client, StdioServerParameters


async def main(calls: list[list]) -> None:
    config = json.loads(open(os.environ["TOLLHOUSE_MCP_CONFIG"], encoding="utf-8").read())
    entry = config["mcpServers"]["tollhouse"]
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry.get("env"))
    async with Client(params) as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text if result.content else ""
            print(f"{tool}: {'error' if result.is_error else 'ok'}: {text[:80]}")


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
