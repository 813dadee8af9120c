"""HTTP face: `tollhouse serve --http` vs a bare `MCPServer` over streamable-http, same client, same run.

    python benchmarks/http.py [--calls 400]

Both servers run as separate processes on 127.0.0.1 (each its own uvicorn); one `mcp.Client` per
server and era reads one 4 KiB file with sequential `files_read` (tollhouse: gate, policy, two
durable receipts, bearer token) or `read_text_file` (bare: no gate) calls on a kept-alive
connection. Both eras are timed: 2026-07-28 (stateless POSTs, `mode="auto"`) and the handshake era
(2025-11-25 session, `mode="legacy"`). The four (server, era) pairs alternate in blocks over four
rounds so a burst of load on the shared machine lands on every side. Target: tollhouse p50 <= 1.3x
bare in each era.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# Run as a script, this file's folder is sys.path[0] and its sibling "mcp.py" would shadow the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402
import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

ROUNDS = 4
ERAS = {"2026-07-28": "auto", "2025-11-25": "legacy"}

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
    """Read a file (no policy, no receipts): the SDK's own floor."""
    return (ROOT / path).read_text()


mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
'''


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


def start_bare(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    (root / "bare.py").write_text(BARE)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(root / "bare.py"), str(root), str(port)], env=env, stderr=subprocess.DEVNULL
    )
    _wait_port(port, proc, "bare server")
    return proc, f"http://127.0.0.1:{port}/mcp"


def start_tollhouse(root: Path, home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TOLLHOUSE_HOME": str(home)}
    cmd = [sys.executable, "-m", "tollhouse", "--config", str(root / "tollhouse.toml")]
    proc = subprocess.Popen(
        [*cmd, "serve", "--http", "127.0.0.1:0"], env=env, cwd=root, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    url, token = None, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and url is None:
        line = proc.stderr.readline().decode()
        if not line:
            raise SystemExit("tollhouse serve --http exited")
        if m := re.search(r"Authorization: Bearer (\S+)", line):
            token = m.group(1)
        if m := re.search(r"serving MCP over HTTP at (\S+)", line):
            url = m.group(1)
    if url is None or token is None:
        raise SystemExit("tollhouse serve --http did not start")
    return proc, url, token


async def timed(client: Client, tool: str, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        r = await client.call_tool(tool, {"path": path})
        out.append((time.perf_counter_ns() - t0) / 1000)
        assert not r.is_error, r
    return out


async def main(n: int, http_section: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        home = Path(tmp) / "home"
        root.mkdir()
        config = CONFIG + (f"\n[http]\n{http_section}\n" if http_section else "")
        (root / "tollhouse.toml").write_text(config)
        (root / "data.txt").write_text("x" * 4095 + "\n")
        os.environ["TOLLHOUSE_HOME"] = str(home)
        from tollhouse.trust import record_trust

        record_trust(root / "tollhouse.toml", config)
        bare, bare_url = start_bare(root)
        toll = None
        try:
            toll, toll_url, token = start_tollhouse(root, home)
            samples: dict[tuple[str, str], list[float]] = {}
            async with AsyncExitStack() as stack:
                clients = {}
                for era, mode in ERAS.items():
                    for kind, url, headers in (
                        ("bare", bare_url, {}),
                        ("tollhouse", toll_url, {"Authorization": f"Bearer {token}"}),
                    ):
                        http = httpx2.AsyncClient(headers=headers)
                        c = Client(streamable_http_client(url, http_client=http), mode=mode)
                        clients[kind, era] = await stack.enter_async_context(c)
                        assert clients[kind, era].protocol_version == era, clients[kind, era].protocol_version
                        tool = "read_text_file" if kind == "bare" else "files_read"
                        await timed(clients[kind, era], tool, "data.txt", min(50, n // 4 + 1))  # warm up
                        samples[kind, era] = []
                block = max(1, n // ROUNDS)
                for _ in range(ROUNDS):
                    for (kind, era), client in clients.items():
                        tool = "read_text_file" if kind == "bare" else "files_read"
                        samples[kind, era] += await timed(client, tool, "data.txt", block)
        finally:
            for proc in (bare, toll):
                if proc is not None:
                    proc.terminate()
                    proc.wait(10)
    load = os.getloadavg()[0]
    print(
        f"MCP streamable HTTP on 127.0.0.1, files_read 4 KiB, {n} sequential calls per (server, era), "
        f"{ROUNDS} alternating rounds, load average {load:.1f}"
    )
    print(f"{'era':<12}{'measure':<10}{'bare MCPServer':>16}{'tollhouse':>12}{'ratio':>8}{'target':>10}")
    for era in ERAS:
        b, t = samples["bare", era], samples["tollhouse", era]
        for name, q, target in (("p50 (ms)", 0.5, "<= 1.3x"), ("p95 (ms)", 0.95, "")):
            bv = statistics.median(b) if q == 0.5 else pct(b, q)
            tv = statistics.median(t) if q == 0.5 else pct(t, q)
            print(f"{era:<12}{name:<10}{bv / 1000:>16.2f}{tv / 1000:>12.2f}{tv / bv:>7.2f}x{target:>10}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument(
        "--http-config",
        default="",
        metavar="TOML",
        help="lines for tollhouse's [http] table, e.g. 'event_store = \"off\"' to compare settings",
    )
    a = ap.parse_args()
    anyio.run(main, a.calls, a.http_config.replace("\\n", "\n"))
