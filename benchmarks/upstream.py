"""Upstream overhead: a call to an upstream MCP server through `tollhouse serve` vs calling the same
server directly, same client, same run, over stdio.

    python benchmarks/upstream.py [--calls 500] [--server python|everything]

`python` is a bare Python SDK server with one no-op tool; `everything` is the npm reference server
(`tests/node/upstreams`, installed with `npm ci` there) and its `echo` tool. The direct and gated
sessions are measured in alternating rounds so that load on the machine hits both alike. Target:
gated p50 <= 1.3x direct. Prints p50/p99 in ms and the ratio. A third session (`noop`) times
tollhouse's own no-op built-in over the same stdio: a call through tollhouse to an upstream is two MCP
hops, so that round trip plus the direct one is the floor the gated call is compared with.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import anyio  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

REPO = HERE.parent
ROUNDS = 4

BARE = '''
from mcp.server import MCPServer
from mcp_types import ToolAnnotations

mcp = MCPServer("bare", log_level="WARNING")


@mcp.tool(structured_output=False, annotations=ToolAnnotations(read_only_hint=True))
async def noop() -> str:
    """Do nothing and return ok."""
    return "ok"


if __name__ == "__main__":
    mcp.run()
'''


def _server(kind: str, root: Path) -> tuple[list[str], str, dict]:
    if kind == "python":
        (root / "bare.py").write_text(BARE, encoding="utf-8")
        return [sys.executable, str(root / "bare.py")], "noop", {}
    entry = REPO / "tests/node/upstreams/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    if not entry.is_file():
        raise SystemExit("run `npm ci` in tests/node/upstreams first")
    return ["node", str(entry), "stdio"], "echo", {"message": "hi"}


def _setup(kind: str, root: Path) -> tuple[StdioServerParameters, StdioServerParameters, str, str, dict]:
    argv, tool, args = _server(kind, root)
    home = root.parent / "home"
    home.mkdir()
    os.environ["TOLLHOUSE_HOME"] = str(home)
    (root / "tollhouse.toml").write_text(
        '[tools]\nfamilies = []\nmodules = ["tollhouse.server.demo_tools"]\n\n'
        + f'[[upstreams]]\nname = "up"\ncommand = {argv!r}\n\n'.replace("'", '"')
        + '[[rules]]\nid = "bench"\ntools = ["up_*", "demo_noop"]\neffect = "allow"\n',
        encoding="utf-8",
    )
    sys.path.insert(0, str(REPO))
    from tollhouse.config import load_config
    from tollhouse.trust import record_trust
    from tollhouse.upstreams import admin

    record_trust(root / "tollhouse.toml", (root / "tollhouse.toml").read_text())
    config = load_config(root / "tollhouse.toml")
    spec = admin.find_spec(config, "up")
    probed = anyio.run(admin.probe, config, spec)
    admin.trust(config, admin.review(config, spec, probed, set()))
    env = {
        "PYTHONPATH": str(REPO),
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "TOLLHOUSE_HOME": str(home),
    }
    direct = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(root))
    gated = StdioServerParameters(
        command=sys.executable, args=["-m", "tollhouse", "--config", str(root / "tollhouse.toml"), "serve"],
        env=env, cwd=str(root),
    )  # fmt: skip
    from tollhouse.upstreams.pins import published_name

    return direct, gated, tool, published_name("up", tool), args


async def _round(params: StdioServerParameters, tool: str, args: dict, n: int) -> list[float]:
    async with Client(params) as client:
        for _ in range(max(20, n // 10)):  # warm: starts the upstream behind tollhouse too
            await client.call_tool(tool, args)
        times = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            result = await client.call_tool(tool, args)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            assert not result.is_error, result
        return times


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--server", choices=("python", "everything"), default="everything")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"  # the operator home beside it, outside the workspace
        root.mkdir()
        direct, gated, tool, gated_tool, args = _setup(opts.server, root)
        per = max(50, opts.calls // ROUNDS)
        times: dict[str, list[float]] = {"direct": [], "tollhouse": [], "noop": []}
        for _ in range(ROUNDS):
            times["direct"] += anyio.run(_round, direct, tool, args, per)
            times["tollhouse"] += anyio.run(_round, gated, gated_tool, args, per)
            times["noop"] += anyio.run(_round, gated, "demo_noop", {}, per)
    base = statistics.median(times["direct"])
    load = os.getloadavg()[0]
    print(f"upstream: {opts.server} ({tool}), {len(times['direct'])} calls each, load {load:.1f}")
    print(f"{'path':<10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}")
    for name, values in times.items():
        p50 = statistics.median(values)
        print(f"{name:<10} {p50:>8.3f} {_pct(values, 99):>8.3f} {p50 / base:>6.2f}x")
    floor = statistics.median(times["noop"]) + base
    gated_p50 = statistics.median(times["tollhouse"])
    print(
        f"floor: tollhouse's own no-op round trip + direct = {floor:.3f} ms ({floor / base:.2f}x direct); "
        f"the gated call is {gated_p50 / floor:.2f}x that floor"
    )
    print("target: tollhouse p50 <= 1.30x direct")


if __name__ == "__main__":
    main()
