"""Receipt store benchmark: durable appends/s (1 and 32 callers), verify of 500,000 entries (time and
peak RSS, in a child process), and inclusion proof generation + check.

Baseline, measured in the same run: plain sqlite3 inserts of the same rows, one commit each (WAL, same
``synchronous``), without hashing or signing. "before" is the last round's figure (receipts v2
before the fast paths: verify encoded every row in Python, in one process). Run:
``python -m benchmarks.receipts`` from the checkout (``--verify-entries N`` to change the 500,000).
The helpers are importable (``benchmarks/gate.py`` uses ``bench_appends``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tollhouse.receipts import ReceiptStore, make_entry, verify_db
from tollhouse.receipts.redaction import MemoRedactor as Redactor  # what the gate uses
from tollhouse.receipts.schema import COLUMNS, FIELDS, INSERT_SQL, ZERO_HASH

REPEATS = 3


def _entry(i: int) -> dict:
    return make_entry(
        "outcome",
        f"call-{i:08d}",
        tool="files_read",
        outcome="ok",
        channel="mcp-stdio",
        client="bench/1.0",
        session="bench",
        decision="allow",
        rules=["read-workspace"],
        arguments={"path": f"src/module_{i % 100}.py"},
        args_digest="a" * 64,
        result_digest="b" * 64,
        duration_us=120,
        excerpt="x" * 200,
    )


async def bench_appends(
    callers: int, total: int, state_dir: Path | None = None, *, synchronous: str = "normal"
) -> float:
    """Durable appends per second with ``callers`` concurrent tasks writing ``total`` entries."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await ReceiptStore.open(
            state_dir or Path(tmp) / "s", redactor=Redactor(), synchronous=synchronous
        )
        per = total // callers

        async def caller(c: int) -> None:
            for j in range(per):
                await store.append(_entry(c * per + j))

        start = time.perf_counter()
        await asyncio.gather(*(caller(c) for c in range(callers)))
        elapsed = time.perf_counter() - start
        await store.close()
    return per * callers / elapsed


def bench_baseline(total: int, *, synchronous: str = "normal") -> float:
    """Plain sqlite3 inserts per second, one commit each (no hashing, no signing, one caller)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "plain.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute(f"CREATE TABLE receipts ({COLUMNS})")
        rows = []
        for i in range(total):
            e = _entry(i) | {"seq": i + 1, "time": "2026-01-01T00:00:00.000000Z", "prev_hash": ZERO_HASH}
            e["hash"] = ZERO_HASH
            rows.append(tuple(e[f] for f in FIELDS))
        start = time.perf_counter()
        for r in rows:
            conn.execute("BEGIN")
            conn.execute(INSERT_SQL, r)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return total / elapsed


async def build_chain(state_dir: Path, total: int) -> Path:
    store = await ReceiptStore.open(state_dir, redactor=Redactor())
    per = total // 32

    async def caller(c: int) -> None:
        for j in range(per):
            await store.append(_entry(c * per + j))

    await asyncio.gather(*(caller(c) for c in range(32)))
    await store.close()
    return state_dir / "receipts.db"


def bench_verify(db: Path) -> float:
    start = time.perf_counter()
    result = verify_db(db)
    elapsed = time.perf_counter() - start
    assert result.ok, result.reason
    return elapsed


def bench_verify_child(db: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of ``verify_db`` in a fresh interpreter: RSS is the verifier's alone."""
    code = (
        "import resource, sys, time\n"
        "from tollhouse.receipts import verify_db\n"
        "t = time.perf_counter(); r = verify_db(sys.argv[1]); t = time.perf_counter() - t\n"
        "assert r.ok, r.reason\n"
        "print(t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True)
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def bench_proofs(db: Path, n: int = 200) -> float:
    """Median seconds to generate an inclusion proof for a random receipt and check it offline."""
    import random

    from tollhouse.receipts.proofs import check_proof, inclusion_proof
    from tollhouse.receipts.signing import load_public_key, public_key_path

    key = load_public_key(public_key_path(db.parent))
    (size,) = sqlite3.connect(db).execute("SELECT max(size) FROM notes").fetchone()
    times = []
    for _ in range(n):
        seq = random.randint(1, size)
        start = time.perf_counter()
        check_proof(inclusion_proof(db, seq), key)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


async def main(verify_entries: int = 500_000) -> None:
    base_n = _median([bench_baseline(2000) for _ in range(REPEATS)])
    base_f = _median([bench_baseline(500, synchronous="full") for _ in range(REPEATS)])
    one = _median([await bench_appends(1, 2000) for _ in range(REPEATS)])
    many = _median([await bench_appends(32, 32 * 600) for _ in range(REPEATS)])
    full = _median([await bench_appends(32, 32 * 300, synchronous="full") for _ in range(REPEATS)])
    with tempfile.TemporaryDirectory() as tmp:
        db = await build_chain(Path(tmp) / "big", verify_entries)
        runs = [bench_verify_child(db) for _ in range(REPEATS)]
        verify_s = _median([r[0] for r in runs])
        verify_rss = _median([r[1] for r in runs])
        proof_s = bench_proofs(db)
    n = f"{verify_entries:,}"
    rows = [
        ("baseline: sqlite3 insert+commit each (normal)", f"{base_n:,.0f}/s", "", "", "1.00x", ""),
        ("baseline: sqlite3 insert+commit each (full)", f"{base_f:,.0f}/s", "", "", "1.00x", ""),
        ("store append, 1 caller (normal)", f"{one:,.0f}/s", "", "", f"{one / base_n:.2f}x", ""),
        (
            "store append, 32 callers (normal)",
            f"{many:,.0f}/s",
            ">= 20,000/s",
            "~17,500/s",
            f"{many / base_n:.2f}x",
            "",
        ),
        ("store append, 32 callers (full)", f"{full:,.0f}/s", "", "", f"{full / base_f:.2f}x", ""),
        (f"verify {n} entries: time", f"{verify_s:.2f} s", "<= 2 s", "8.8 s", "", ""),
        (f"verify {n} entries: peak RSS", f"{verify_rss:.0f} MiB", "<= 150 MiB", "48 MiB", "", ""),
        ("inclusion proof: make + check", f"{proof_s * 1000:.2f} ms", "<= 1 ms", "0.72 ms", "", ""),
    ]
    rows[3] = (*rows[3][:5], _verdict(many >= 20_000))
    rows[5] = (*rows[5][:5], _verdict(verify_s <= 2))
    rows[6] = (*rows[6][:5], _verdict(verify_rss <= 150))
    rows[7] = (*rows[7][:5], _verdict(proof_s <= 0.001))
    header = ("measure (median of 3)", "value", "target", "before", "vs baseline", "")
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(6)]
    load = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    entries = (
        int(sys.argv[sys.argv.index("--verify-entries") + 1]) if "--verify-entries" in sys.argv else 500_000
    )
    asyncio.run(main(entries))
