"""File tools: files_read over stdio vs the reference filesystem server, and files_search on 20,000 files.

Part 1 reads one 4 KiB file N times through `tollhouse serve` (stdio, gate and receipts included)
and through the reference server (`npx -y @modelcontextprotocol/server-filesystem DIR`, tool
read_text_file), with the same `mcp.Client`, in the same run: all servers open at once, each timed
in blocks of consecutive calls, the blocks alternating over four rounds. Targets: tollhouse p50 <=
1.25x a bare Python SDK `MCPServer` reading the same file (no gate), and <= 1.5x the reference. The
bare server is timed once on the SDK's stdio and once on tollhouse's event-loop stdio. If
`tollhouse serve` is not available in this checkout, its row says so; if `npx` cannot start the
reference server (offline), its rows say so. The policy file is trusted in a private TOLLHOUSE_HOME,
as `tollhouse init` would.

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
from contextlib import AsyncExitStack
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
ROUNDS = 4
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
    from tollhouse.server.stdio_loop import stdio_streams

    server = mcp._lowlevel_server
    async with stdio_streams() as (read, write, _):
        await server.run(read, write, server.create_initialization_options())


import anyio

anyio.run(main)""",
)


def _trust(config: Path, home: Path) -> None:
    """Trust the benchmark's policy as its operator would (``tollhouse init``), in a private home."""
    try:
        from tollhouse.trust import record_trust
    except ImportError:  # a checkout from before trust records: nothing to do
        return
    old = os.environ.get("TOLLHOUSE_HOME")
    os.environ["TOLLHOUSE_HOME"] = str(home)
    try:
        record_trust(config, config.read_text())
    finally:
        if old is None:
            os.environ.pop("TOLLHOUSE_HOME", None)
        else:
            os.environ["TOLLHOUSE_HOME"] = old


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_client(stack: AsyncExitStack, params: StdioServerParameters) -> tuple[Client, float]:
    start = time.perf_counter()
    client = await stack.enter_async_context(Client(params))
    await client.list_tools()
    return client, time.perf_counter() - start


async def alternate(servers: dict[str, tuple[Client, str, dict]]) -> dict[str, list[float]]:
    """Each server in turn runs a block of consecutive calls (after a few to warm it up again), over
    ROUNDS rounds in a rotating order: every server is timed in its own steady state, and drift in
    the machine's speed spreads over all of them instead of landing on one."""
    samples: dict[str, list[float]] = {name: [] for name in servers}
    names = list(servers)
    for r in range(ROUNDS):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            client, tool, args = servers[name]
            for _ in range(WARMUP // ROUNDS):
                await client.call_tool(tool, args)
            for _ in range(N // ROUNDS):
                t0 = time.perf_counter_ns()
                result = await client.call_tool(tool, args)
                samples[name].append((time.perf_counter_ns() - t0) / 1e6)
                if result.is_error:
                    raise RuntimeError(f"{name}: {tool} failed: {result.content}")
    return samples


def serve_available() -> bool:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    probe = subprocess.run(
        [sys.executable, "-m", "tollhouse", "serve", "--help"], env=env, capture_output=True, timeout=30
    )
    return probe.returncode == 0


async def stdio_part(rows: list[tuple[str, str]]) -> None:
    # The operator's home lies outside the workspace, as tollhouse requires (tools cannot reach it).
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as home_tmp:
        root = Path(tmp).resolve()
        (root / "file.txt").write_text(("0123456789abcdef" * 4 + "\n") * 63 + "\n")  # 4 KiB
        assert (root / "file.txt").stat().st_size == 4096
        (root / "bare_server.py").write_text(BARE)
        (root / "bare_loop.py").write_text(BARE_LOOP)
        (root / "tollhouse.toml").write_text(CONFIG)
        home = Path(home_tmp).resolve() / "operator-home"
        env = {
            "PYTHONPATH": str(REPO),
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "TOLLHOUSE_HOME": str(home),
        }
        _trust(root / "tollhouse.toml", home)
        params = {
            "reference": (
                StdioServerParameters(
                    command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", str(root)]
                ),
                "read_text_file",
                {"path": str(root / "file.txt")},
            ),
            "bare": (
                StdioServerParameters(
                    command=sys.executable, args=[str(root / "bare_server.py"), str(root)], cwd=str(root)
                ),
                "read_text_file",
                {"path": "file.txt"},
            ),
            "bare_loop": (
                StdioServerParameters(
                    command=sys.executable,
                    args=[str(root / "bare_loop.py"), str(root)],
                    cwd=str(root),
                    env=env,
                ),
                "read_text_file",
                {"path": "file.txt"},
            ),
        }
        if serve_available():
            params["tollhouse"] = (
                StdioServerParameters(
                    command=sys.executable, args=["-m", "tollhouse", "serve"], cwd=str(root), env=env
                ),
                "files_read",
                {"path": "file.txt"},
            )
        async with AsyncExitStack() as stack:
            servers, started = {}, {}
            for name, (server, tool, args) in params.items():
                try:
                    client, started[name] = await open_client(stack, server)
                except Exception as exc:
                    if name != "reference":
                        raise
                    rows.append(
                        ("reference read_text_file 4 KiB", f"not run: npx could not start it ({exc})")
                    )
                    continue
                servers[name] = (client, tool, args)
            samples = await alternate(servers)
        p50 = {name: statistics.median(values) for name, values in samples.items()}
        ref = p50.get("reference", float("nan"))

        def row(label: str, name: str, extra: str = "") -> None:
            values = samples[name]
            rows.append(
                (
                    label,
                    f"p50 {p50[name]:.3f} ms  p99 {pct(values, 0.99):.3f} ms  "
                    f"start {started[name]:.2f} s{extra}",
                )
            )

        if "reference" in samples:
            row("reference read_text_file 4 KiB", "reference")
        row("bare Python SDK server 4 KiB", "bare", f"  ({p50['bare'] / ref:.2f}x reference)")
        row("bare Python SDK server, loop stdio", "bare_loop", f"  ({p50['bare_loop'] / ref:.2f}x reference)")
        if "tollhouse" not in samples:
            rows.append(("tollhouse files_read 4 KiB", "not run: `tollhouse serve` is not in this checkout"))
            return
        row("tollhouse files_read 4 KiB", "tollhouse")
        ours = p50["tollhouse"]
        rows.append(("ratio p50 vs reference (target <= 1.5x)", f"{ours / ref:.2f}x"))
        ratio = ours / p50["bare"]
        verdict = "met" if ratio <= 1.25 else "MISSED"
        rows.append(("ratio p50 vs bare Python SDK server (target <= 1.25x)", f"{ratio:.2f}x {verdict}"))
        rows.append(
            ("ratio p50 vs bare server on loop stdio", f"{ours / p50['bare_loop']:.2f}x (the gate's share)")
        )


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
