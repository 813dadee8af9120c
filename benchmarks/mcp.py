"""MCP face overhead: `tollhouse serve` vs a bare `MCPServer`, same client, same run, over stdio.

    python benchmarks/mcp.py [--calls 1000] [--starts 15]

Prints a table: no-op call p50/p99 (client-observed round trip; tollhouse's includes policy, the
intent and outcome receipts), cold start to the first tools/list answer, and the idle RSS of the
server process. Targets: call p50 <= 1.15x bare, start <= 1.15x bare, idle RSS <= 80 MiB. A last
line times the bare server on tollhouse's own stdio transport too, which isolates the gate's cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Run as a script, this file's folder is sys.path[0] and "mcp.py" would shadow the SDK itself.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

REPO = HERE.parent
ROUNDS = 4
KINDS = ("bare", "bare_loop", "tollhouse")

BARE = '''
from mcp.server import MCPServer

mcp = MCPServer("bare", log_level="WARNING")


@mcp.tool(structured_output=False)
async def demo_noop() -> str:
    """Do nothing and return ok."""
    return "ok"


if __name__ == "__main__":
    mcp.run()
'''

# The same bare server on the stdio transport tollhouse uses for pipes (event-loop reads and writes
# instead of the SDK's worker threads): the difference to tollhouse is what the gate itself costs.
BARE_LOOP = BARE.replace(
    """if __name__ == "__main__":
    mcp.run()""",
    """async def main():
    from tollhouse.server.stdio_loop import stdio_streams

    server = mcp._lowlevel_server
    async with stdio_streams() as (read, write, _):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    import anyio

    anyio.run(main)""",
)

CONFIG = """
[tools]
families = []
modules = ["tollhouse.server.demo_tools"]

[[rules]]
id = "bench"
tools = ["demo_noop"]
effect = "allow"
"""


def _params(kind: str, root: Path) -> StdioServerParameters:
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", ""), "HOME": str(root)}
    if kind.startswith("bare"):
        return StdioServerParameters(
            command=sys.executable, args=[str(root / f"{kind}.py")], env=env, cwd=str(root)
        )
    env["TOLLHOUSE_CONFIG"] = str(root / "tollhouse.toml")
    return StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "serve"], env=env, cwd=str(root)
    )


def _child_pids() -> set[int]:
    me = os.getpid()
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                out.add(int(entry.name))
    return out


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def calls(kind: str, root: Path, n: int, warmup: int) -> tuple[list[float], float]:
    before = _child_pids()
    async with Client(_params(kind, root), mode="auto") as client:
        server = (_child_pids() - before).pop()
        for _ in range(warmup):
            await client.call_tool("demo_noop", {})
        times = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            r = await client.call_tool("demo_noop", {})
            times.append((time.perf_counter_ns() - t0) / 1000)
            assert not r.is_error, r
        await anyio.sleep(1)
        rss = _rss_mib(server)
    return times, rss


async def cold_start(kind: str, root: Path) -> float:
    t0 = time.perf_counter()
    async with Client(_params(kind, root), mode="auto") as client:
        await client.list_tools()
        return (time.perf_counter() - t0) * 1000


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


async def main(n: int, starts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bare.py").write_text(textwrap.dedent(BARE))
        (root / "bare_loop.py").write_text(textwrap.dedent(BARE_LOOP))
        (root / "tollhouse.toml").write_text(CONFIG)
        # Alternate the two servers over several rounds: on a shared machine a burst of load then
        # lands on both sides instead of skewing the ratio.
        samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
        rss: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for _ in range(ROUNDS):
            for kind in KINDS:
                times, mib = await calls(kind, root, max(1, n // ROUNDS), warmup=min(200, n // 5))
                samples[kind] += times
                rss[kind].append(mib)
        res = {
            kind: {"p50": statistics.median(t), "p99": pct(t, 0.99), "rss": statistics.median(rss[kind])}
            for kind, t in samples.items()
        }
        for kind in ("bare", "tollhouse"):
            await cold_start(kind, root)  # warm the file cache
        started: dict[str, list[float]] = {"bare": [], "tollhouse": []}
        for _ in range(starts):
            for kind in ("bare", "tollhouse"):
                started[kind].append(await cold_start(kind, root))
        for kind, values in started.items():
            res[kind]["start"] = statistics.median(values)
    b, loop, t = res["bare"], res["bare_loop"], res["tollhouse"]
    print(
        f"MCP stdio, {n} sequential no-op calls per server ({ROUNDS} alternating rounds), "
        f"cold start median of {starts}"
    )
    print(f"{'measure':<30}{'bare MCPServer':>16}{'tollhouse':>12}{'ratio':>8}{'target':>10}")
    rows = [
        ("no-op call p50 (us)", b["p50"], t["p50"], "<= 1.15x"),
        ("no-op call p99 (us)", b["p99"], t["p99"], ""),
        ("cold start -> tools/list (ms)", b["start"], t["start"], "<= 1.15x"),
        ("idle RSS (MiB)", b["rss"], t["rss"], "<= 80"),
    ]
    for name, bv, tv, target in rows:
        print(f"{name:<30}{bv:>16.1f}{tv:>12.1f}{tv / bv:>7.2f}x{target:>10}")
    # Part of tollhouse's lead is its stdio transport; the same bare server on that transport
    # shows what the gate (policy, two durable receipts, redaction) adds on its own.
    print(
        f"same transport: bare MCPServer on tollhouse's loop stdio p50 {loop['p50']:.1f} us, "
        f"p99 {loop['p99']:.1f} us; tollhouse is {t['p50'] / loop['p50']:.2f}x that "
        f"(+{t['p50'] - loop['p50']:.0f} us per call for the gate)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--starts", type=int, default=15)  # start times scatter by +-10%: a wide median
    a = ap.parse_args()
    anyio.run(main, a.calls, a.starts)
