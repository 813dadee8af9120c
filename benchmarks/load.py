"""Load: 32 concurrent clients x 1,000 calls over HTTP against 2 `serve --http` replicas on one workspace.

    python benchmarks/load.py [--clients 32] [--calls 1000] [--era 2026-07-28|2025-11-25]

Two replicas serve one workspace (one receipt store, one shared sealing key ring); half the clients
talk to each. Every client is an `mcp.Client` on its own connection, calling `files_read` (a 1 KiB
file) back to back. Printed: errors (exceptions and error results), lost receipts (calls answered
vs `files_read` outcome receipts in the store, which must match exactly), whether the chain is
gapless, client-observed p50/p95, throughput, and each server's peak RSS (VmHWM; target <= 128 MiB).
Not a timed test: run it on demand (`--calls 20` for a quick look).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402
import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

CONFIG = """
[tools]
families = ["files"]

[http]
sealing_key_file = "{keyfile}"

[[rules]]
id = "load-read"
tools = ["files_read"]
effect = "allow"
"""


def start(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [
        sys.executable,
        "-m",
        "tollhouse",
        "--config",
        str(root / "tollhouse.toml"),
        "serve",
        "--http",
        "127.0.0.1:0",
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        if m := re.search(r"serving MCP over HTTP at (\S+)", line):
            return proc, m.group(1)
    raise SystemExit("serve --http did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_client(url: str, token: str, mode: str, n: int, times: list[float], errors: list[str]) -> int:
    answered = 0
    try:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            for _ in range(n):
                t0 = time.perf_counter()
                try:
                    result = await client.call_tool("files_read", {"path": "data.txt"})
                except Exception as exc:  # counted, and the client goes on
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                times.append(time.perf_counter() - t0)
                answered += 1
                if result.is_error:
                    errors.append(result.content[0].text if result.content else "error result")
    except Exception as exc:
        errors.append(f"client failed: {type(exc).__name__}: {exc}")
    return answered


def store_counts(root: Path) -> tuple[int, bool]:
    conn = sqlite3.connect(f"{(root / '.tollhouse' / 'receipts.db').as_uri()}?mode=ro", uri=True)
    try:
        outcomes = conn.execute(
            "SELECT count(*) FROM receipts WHERE kind = 'outcome' AND tool = 'files_read'"
        ).fetchone()[0]
        lo, hi, count = conn.execute("SELECT min(seq), max(seq), count(*) FROM receipts").fetchone()
        return outcomes, (hi - lo + 1) == count
    finally:
        conn.close()


async def main(clients: int, calls: int, era: str, n_replicas: int) -> None:
    mode = "auto" if era == "2026-07-28" else "legacy"
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "ws", Path(tmp) / "home"
        root.mkdir()
        keyfile = Path(tmp) / "sealing-key"
        keyfile.write_text(secrets.token_hex(32) + "\n")
        keyfile.chmod(0o600)
        config = CONFIG.format(keyfile=keyfile)
        (root / "tollhouse.toml").write_text(config)
        (root / "data.txt").write_text("x" * 1023 + "\n")
        os.environ["TOLLHOUSE_HOME"] = str(home)
        from tollhouse.opdirs import secrets_dir
        from tollhouse.trust import record_trust

        record_trust(root / "tollhouse.toml", config)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        replicas = [start(root, env)]
        for _ in range(n_replicas - 1):  # after the first has created the store and the token
            replicas.append(start(root, env))
        token = (secrets_dir(root / ".tollhouse") / "http-token").read_text().strip()
        times: list[float] = []
        errors: list[str] = []
        answered = [0] * clients
        try:
            t0 = time.perf_counter()
            cpu0 = [cpu_seconds(p.pid) for p, _ in replicas]
            me0 = time.process_time()

            async def run(i: int) -> None:
                url = replicas[i % len(replicas)][1]
                answered[i] = await one_client(url, token, mode, calls, times, errors)

            async with anyio.create_task_group() as tg:
                for i in range(clients):
                    tg.start_soon(run, i)
            elapsed = time.perf_counter() - t0
            rss = [peak_rss_mib(p.pid) for p, _ in replicas]
            server_cpu = sum(cpu_seconds(p.pid) for p, _ in replicas) - sum(cpu0)
            client_cpu = time.process_time() - me0
        finally:
            for proc, _ in replicas:
                proc.terminate()
            for proc, _ in replicas:
                proc.wait(60)
        receipted, gapless = store_counts(root)
    total = clients * calls
    done = sum(answered)
    times.sort()
    print(
        f"load: {clients} clients x {calls} calls of files_read (1 KiB) over HTTP, era {era}, "
        f"{n_replicas} replica(s) on one workspace store; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"calls answered        {done} of {total}")
    print(f"errors                {len(errors)}" + (f" (first: {errors[0][:200]})" if errors else ""))
    print(f"lost receipts         {done - receipted} (answered {done}, files_read outcomes {receipted})")
    print(f"chain gapless         {'yes' if gapless else 'NO'}")
    if times:
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"latency p50 / p95     {statistics.median(times) * 1000:.1f} ms / {p95 * 1000:.1f} ms")
    print(f"throughput            {done / elapsed:.0f} calls/s over {elapsed:.1f} s")
    if done:
        print(
            f"CPU per call          servers {server_cpu / done * 1000:.2f} ms, "
            f"clients (this process) {client_cpu / done * 1000:.2f} ms"
        )
    for i, mib in enumerate(rss):
        print(f"replica {i} peak RSS    {mib:.1f} MiB (target <= 128)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--calls", type=int, default=1000, help="calls per client")
    ap.add_argument("--era", choices=("2026-07-28", "2025-11-25"), default="2026-07-28")
    ap.add_argument("--replicas", type=int, default=2)
    a = ap.parse_args()
    anyio.run(main, a.clients, a.calls, a.era, a.replicas)
