"""File tools: files_read over stdio vs the reference filesystem server, and files_search on 20,000 files.

Part 1 reads one 4 KiB file N times through `tollhouse serve` (stdio, gate and receipts included) and
through the reference server (`npx -y @modelcontextprotocol/server-filesystem DIR`, tool
read_text_file), with the same `mcp.Client`, in the same run. Target: tollhouse p50 <= 1.5x the
reference. A bare Python SDK server reading the same file (no gate) is timed too, to show the floor
the SDK itself sets, once on the SDK's stdio and once on tollhouse's event-loop stdio. If `tollhouse
serve` is not available in this checkout, its row says so.

Part 2 searches a generated 20,000-file tree for a literal, in-process through the tool, and runs
`grep -rn` over the same tree as a baseline.

Run: python benchmarks/files.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import anyio

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, this file's folder is sys.path[0] and its sibling "mcp.py" would shadow the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))

from mcp import Client, StdioServerParameters  # noqa: E402

from tollhouse.gate.types import Call  # noqa: E402
from tollhouse.tools import build_registry  # noqa: E402
from tollhouse.tools.base import ToolContext  # noqa: E402
from tollhouse.workspace import Workspace  # noqa: E402

N = 400
WARMUP = 40
FILES = 20_000

CONFIG = """
[tools]
families = ["files"]

[[rules]]
id = "bench-read"
tools = ["files_read"]
effect = "allow"
"""


BARE = '''
import sys
from pathlib import Path
from mcp.server import MCPServer

ROOT = Path(sys.argv[1])
mcp = MCPServer("bare-files", log_level="WARNING")


@mcp.tool(structured_output=False)
def read_text_file(path: str) -> str:
    """Read a file (no policy, no receipts, no confinement): the SDK's own floor."""
    return (ROOT / path).read_text()


mcp.run()
'''

# The same server on the stdio transport tollhouse uses for pipes: the floor of the SDK itself once
# the worker-thread hops per message are gone; tollhouse minus this is what the gate costs.
BARE_LOOP = BARE.replace(
    "mcp.run()",
    """async def main():
    from mcp.server.stdio import stdio_server
    from tollhouse.server.stdio_loop import MIN_MESSAGE_BYTES, loop_stdio

    server = mcp._lowlevel_server
    async with loop_stdio(MIN_MESSAGE_BYTES) as (lines, out):
        async with stdio_server(lines, out) as (read, write):
            await server.run(read, write, server.create_initialization_options())


import anyio

anyio.run(main)""",
)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def time_calls(params: StdioServerParameters, tool: str, args: dict) -> tuple[float, float, float]:
    start = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        started = time.perf_counter() - start
        for _ in range(WARMUP):
            await client.call_tool(tool, args)
        samples = []
        for _ in range(N):
            t0 = time.perf_counter_ns()
            result = await client.call_tool(tool, args)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
    return statistics.median(samples), pct(samples, 0.99), started


def serve_available() -> bool:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    probe = subprocess.run(
        [sys.executable, "-m", "tollhouse", "serve", "--help"], env=env, capture_output=True, timeout=30
    )
    return probe.returncode == 0


async def stdio_part(rows: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        (root / "file.txt").write_text(("0123456789abcdef" * 4 + "\n") * 63 + "\n")  # 4 KiB
        assert (root / "file.txt").stat().st_size == 4096
        ref = StdioServerParameters(
            command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", str(root)]
        )
        ref_p50, ref_p99, ref_start = await time_calls(
            ref, "read_text_file", {"path": str(root / "file.txt")}
        )
        rows.append(
            (
                "reference read_text_file 4 KiB",
                f"p50 {ref_p50:.3f} ms  p99 {ref_p99:.3f} ms  start {ref_start:.2f} s",
            )
        )
        (root / "bare_server.py").write_text(BARE)
        bare = StdioServerParameters(
            command=sys.executable, args=[str(root / "bare_server.py"), str(root)], cwd=str(root)
        )
        bare_p50, bare_p99, bare_start = await time_calls(bare, "read_text_file", {"path": "file.txt"})
        rows.append(
            (
                "bare Python SDK server 4 KiB",
                f"p50 {bare_p50:.3f} ms  p99 {bare_p99:.3f} ms  start {bare_start:.2f} s"
                f"  ({bare_p50 / ref_p50:.2f}x reference)",
            )
        )
        (root / "bare_loop.py").write_text(BARE_LOOP)
        loop_env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")}
        bare_loop = StdioServerParameters(
            command=sys.executable, args=[str(root / "bare_loop.py"), str(root)], cwd=str(root), env=loop_env
        )
        loop_p50, loop_p99, _ = await time_calls(bare_loop, "read_text_file", {"path": "file.txt"})
        rows.append(
            (
                "bare Python SDK server, loop stdio",
                f"p50 {loop_p50:.3f} ms  p99 {loop_p99:.3f} ms  ({loop_p50 / ref_p50:.2f}x reference)",
            )
        )
        if not serve_available():
            rows.append(("tollhouse files_read 4 KiB", "not run: `tollhouse serve` is not in this checkout"))
            return
        (root / "tollhouse.toml").write_text(CONFIG)
        ours = StdioServerParameters(
            command=sys.executable,
            args=["-m", "tollhouse", "serve"],
            cwd=str(root),
            env={
                "PYTHONPATH": str(REPO),
                "PATH": os.environ.get("PATH", ""),
                "HOME": os.environ.get("HOME", ""),
            },
        )
        p50, p99, start = await time_calls(ours, "files_read", {"path": "file.txt"})
        rows.append(
            ("tollhouse files_read 4 KiB", f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  start {start:.2f} s")
        )
        rows.append(("ratio p50 vs reference (target <= 1.5x)", f"{p50 / ref_p50:.2f}x"))
        rows.append(("ratio p50 vs bare Python SDK server", f"{p50 / bare_p50:.2f}x"))
        rows.append(("ratio p50 vs bare server on loop stdio", f"{p50 / loop_p50:.2f}x (the gate's share)"))


def make_tree(root: Path) -> None:
    for d in range(200):
        sub = root / f"pkg{d:03d}" / "mod"
        sub.mkdir(parents=True)
        for f in range(FILES // 200):
            body = "".join(f"def fn_{d}_{f}_{i}(x):\n    return x + {i}\n" for i in range(20))
            if f % 50 == 0:
                body += "# NEEDLE marker\n"
            (sub / f"f{f:03d}.py").write_text(body)


async def search_part(rows: list[tuple[str, str]]) -> None:
    tool = build_registry(["files"]).get("files_search")
    assert tool is not None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        make_tree(root)
        args = tool.input_model.model_validate({"pattern": "NEEDLE", "literal": True, "limit": 2000})
        walls = []
        for _ in range(3):
            ctx = ToolContext(
                call=Call(tool=tool.name, arguments={}), tool=tool, workspace=Workspace([root]),
                services=types.SimpleNamespace(),
            )  # fmt: skip
            t0 = time.perf_counter()
            out = await tool.run(args, ctx)
            walls.append(time.perf_counter() - t0)
        assert len(out.matches) == FILES // 50 and out.files_scanned == FILES, (
            len(out.matches),
            out.files_scanned,
        )
        ours = statistics.median(walls)
        rows.append(
            (f"files_search {FILES} files (median of 3)", f"{ours:.3f} s, {len(out.matches)} matches")
        )
        if shutil.which("grep"):
            t0 = time.perf_counter()
            subprocess.run(["grep", "-rn", "NEEDLE", str(root)], capture_output=True, check=True)
            grep = time.perf_counter() - t0
            rows.append(("grep -rn baseline", f"{grep:.3f} s  (files_search / grep = {ours / grep:.1f}x)"))


async def main() -> None:
    rows: list[tuple[str, str]] = []
    await stdio_part(rows)
    await search_part(rows)
    width = max(len(r[0]) for r in rows)
    print(f"files benchmark (N={N} reads after {WARMUP} warm-up)")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    anyio.run(main)
