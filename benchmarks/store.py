"""Store benchmark: durable receipts/s on SQLite and PostgreSQL, and verify time for 500,000 entries.

- 32 concurrent callers in one process, on each backend (SQLite ``normal`` and ``full``; PostgreSQL
  with ``fsync`` and ``synchronous_commit`` on: an append returns once its commit is durable);
- 4 server processes (each its own signing key, so its own log) writing to one PostgreSQL, 32
  callers each: the aggregate rate from the first "go" to the last process done (target >= 5,000/s);
- verify of 500,000 entries on each backend (target <= 3 s): the same chain, built once on SQLite
  and moved into PostgreSQL with ``store migrate`` (which proves the copy).

PostgreSQL is a throwaway server from the distribution's binaries (``tests/pgserver.py``), on
this machine. Run ``python -m benchmarks.store`` from the checkout (``--verify-entries N``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.receipts import _entry, bench_appends, bench_verify, build_chain
from tests.pgserver import PostgresServer
from tollhouse.receipts import ReceiptStore
from tollhouse.receipts.redaction import MemoRedactor as Redactor

CALLERS = 32
PROCESSES = 4


async def bench_pg_appends(url: str, total: int, callers: int = CALLERS) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = await ReceiptStore.open(Path(tmp) / "s", redactor=Redactor(), url=url)
        per = total // callers

        async def caller(c: int) -> None:
            for j in range(per):
                await store.append(_entry(c * per + j))

        start = time.perf_counter()
        await asyncio.gather(*(caller(c) for c in range(callers)))
        elapsed = time.perf_counter() - start
        await store.close()
    return per * callers / elapsed


async def _worker(url: str, total: int) -> None:
    """One server process: open, say ready, wait for go, append, report start and end times."""
    store = await ReceiptStore.open(Path(os.environ["TOLLHOUSE_HOME"]) / "s", redactor=Redactor(), url=url)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    per = total // CALLERS

    async def caller(c: int) -> None:
        for j in range(per):
            await store.append(_entry(c * per + j))

    start = time.time()
    await asyncio.gather(*(caller(c) for c in range(CALLERS)))
    end = time.time()
    await store.close()
    print(f"{start} {end} {per * CALLERS}", flush=True)


def bench_pg_processes(url: str, per_process: int) -> float:
    """Aggregate receipts/s of PROCESSES processes appending at once, each to its own log."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i in range(PROCESSES):
            env = dict(os.environ, TOLLHOUSE_HOME=str(Path(tmp) / f"home{i}"))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.store", "--worker", url, str(per_process)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        spans = []
        for p in procs:
            assert p.stdout is not None
            start, end, n = p.stdout.readline().split()
            spans.append((float(start), float(end), int(n)))
            assert p.wait(timeout=600) == 0
    return sum(s[2] for s in spans) / (max(s[1] for s in spans) - min(s[0] for s in spans))


def bench_pg_verify(url: str) -> float:
    from tollhouse.store.receipts_pg import verify_pg

    start = time.perf_counter()
    results = verify_pg(url)
    elapsed = time.perf_counter() - start
    assert all(r.result.ok for r in results), [r.result.reason for r in results]
    return elapsed


async def main(verify_entries: int) -> None:
    from tollhouse.store.migrate import migrate_sqlite_to_pg

    rows: list[tuple[str, str, str]] = []
    sqlite_n = await bench_appends(CALLERS, CALLERS * 600)
    sqlite_f = await bench_appends(CALLERS, CALLERS * 300, synchronous="full")
    rows += [("SQLite, 32 callers (normal)", f"{sqlite_n:,.0f}/s", "")]
    rows += [("SQLite, 32 callers (full: fsync per commit)", f"{sqlite_f:,.0f}/s", "")]
    server = PostgresServer.start()  # fsync on: durable commits
    try:
        pg_one = await bench_pg_appends(server.url("one"), CALLERS * 300)
        rows += [("PostgreSQL, 1 process, 32 callers", f"{pg_one:,.0f}/s", "")]
        pg_four = bench_pg_processes(server.url("four"), CALLERS * 250)
        rows += [("PostgreSQL, 4 processes x 32 callers", f"{pg_four:,.0f}/s", ">= 5,000/s")]
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["TOLLHOUSE_HOME"] = str(Path(tmp) / "home")
            state = Path(tmp) / "big"
            db = await build_chain(state, verify_entries)
            sqlite_v = min(bench_verify(db) for _ in range(2))
            url = server.url("big")
            t = time.perf_counter()
            migrate_sqlite_to_pg(state, url)
            migrate_s = time.perf_counter() - t
            pg_v = min(bench_pg_verify(url) for _ in range(2))
        n = f"{verify_entries:,}"
        rows += [(f"SQLite verify {n} entries", f"{sqlite_v:.2f} s", "<= 3 s")]
        rows += [(f"PostgreSQL verify {n} entries", f"{pg_v:.2f} s", "<= 3 s")]
        rows += [(f"store migrate {n} entries (copy + verify)", f"{migrate_s:.2f} s", "")]
    finally:
        server.stop()
    load = os.getloadavg()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}")
    header = ("measure", "value", "target")
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(3)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    if "--worker" in sys.argv:
        i = sys.argv.index("--worker")
        asyncio.run(_worker(sys.argv[i + 1], int(sys.argv[i + 2])))
    else:
        entries = (
            int(sys.argv[sys.argv.index("--verify-entries") + 1])
            if "--verify-entries" in sys.argv
            else 500_000
        )
        asyncio.run(main(entries))
