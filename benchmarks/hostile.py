"""Hostile inputs cannot stall the server: files_stat latency while each hostile call runs.

Each case runs its hostile call again and again through the gate (policy, receipts, the gate's
30 s timeout) for WINDOW_S, while another task calls files_stat through the same gate in a loop; the
table gives the files_stat p50/p99 per case against an idle baseline measured in the same run, and
how long the hostile calls themselves took. Target: files_stat p99 <= 50 ms in every case.

Cases (issue 15): a backtracking glob in files_find and in files_search's glob, a hostile
.gitignore under files_list, move and delete of a 16 GB sparse file (hashing capped, off the event
loop), and find and recursive delete in a 2,040-level tree.

Run: python benchmarks/hostile.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tollhouse.config import parse_config
from tollhouse.gate import Call, Gate

WINDOW_S = 2.0
STAT_GAP_S = 0.002
DEPTH = 2040
HOSTILE_GLOB = "*?" * 40 + "Z"  # ~4x per extra *? under a backtracking matcher

CONFIG = """
[tools]
families = ["files"]

[limits]
timeout_s = 30

[[rules]]
id = "bench"
tools = ["files_*"]
effect = "allow"
"""


def build(root: Path) -> None:
    (root / "ok.txt").write_text("x\n")
    names = root / "names"
    names.mkdir()
    for i in range(2000):
        (names / (f"{i:04d}" + "a" * 240)).write_text("needle\n")
    ignored = root / "ignored"
    ignored.mkdir()
    lines = [HOSTILE_GLOB, "**/" * 40 + "*?" * 30 + "Z", "[[:nosuchclass:]]", "trailing\\", "*.log"]
    (ignored / ".gitignore").write_text("\n".join(lines) + "\n")
    for i in range(2000):
        (ignored / (f"{i:04d}" + "a" * 240 + (".log" if i % 2 else ""))).write_text("x\n")


def deep_tree(root: Path) -> None:
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(DEPTH):
        os.mkdir("d", dir_fd=fd)
        fd, up = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
        os.close(up)
    os.close(fd)


def sparse(path: Path) -> None:
    with open(path, "wb") as fh:
        fh.truncate(16 * 1024**3)


Hostile = Callable[[], Awaitable[None]] | None


async def measure(gate: Gate, hostile: Hostile) -> tuple[list[float], list[float]]:
    """files_stat latencies while ``hostile`` runs in a loop (or nothing, for the baseline)."""
    stats: list[float] = []
    hostile_times: list[float] = []
    end = time.monotonic() + WINDOW_S

    async def attacker() -> None:
        while time.monotonic() < end:
            t = time.perf_counter()
            await hostile()  # type: ignore[misc]
            hostile_times.append(time.perf_counter() - t)

    async with anyio.create_task_group() as tg:
        if hostile is not None:
            tg.start_soon(attacker)
        while time.monotonic() < end:
            t = time.perf_counter()
            out = await gate.call(Call("files_stat", {"path": "ok.txt"}))
            stats.append(time.perf_counter() - t)
            assert out.ok, out.message
            await anyio.sleep(STAT_GAP_S)
    return stats, hostile_times


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root)
        config = parse_config(textwrap.dedent(CONFIG), root / "tollhouse.toml")
        async with await Gate.open(config) as gate:

            async def call(tool: str, args: dict) -> None:
                out = await gate.call(Call(tool, args))
                assert out.ok, f"{tool}: {out.status} {out.message}"

            async def find_glob() -> None:
                await call("files_find", {"pattern": HOSTILE_GLOB, "path": "names"})

            async def search_glob() -> None:
                await call("files_search", {"pattern": "needle", "path": "names", "glob": HOSTILE_GLOB})

            async def gitignore_list() -> None:
                await call("files_list", {"path": "ignored", "limit": 5000})

            async def sparse_delete() -> None:
                await anyio.to_thread.run_sync(sparse, root / "big.bin")
                await call("files_delete", {"path": "big.bin"})

            async def sparse_move() -> None:
                await anyio.to_thread.run_sync(sparse, root / "big.bin")
                await call("files_move", {"source": "big.bin", "destination": "moved.bin", "overwrite": True})

            await anyio.to_thread.run_sync(deep_tree, root / "deep")

            async def deep_find() -> None:
                await call("files_find", {"pattern": "d", "path": "deep"})

            async def deep_delete() -> None:
                await anyio.to_thread.run_sync(deep_tree, root / "gone")
                await call("files_delete", {"path": "gone", "recursive": True})

            cases: list[tuple[str, Hostile]] = [
                ("idle (baseline)", None),
                ("files_find hostile glob", find_glob),
                ("files_search hostile glob", search_glob),
                ("files_list hostile .gitignore", gitignore_list),
                ("files_delete 16 GB sparse file", sparse_delete),
                ("files_move 16 GB sparse file", sparse_move),
                (f"files_find in a {DEPTH}-level tree", deep_find),
                (f"files_delete -r a {DEPTH}-level tree", deep_delete),
            ]
            rows = []
            for name, hostile in cases:
                stats, times = await measure(gate, hostile)
                rows.append((name, stats, times))
            # TemporaryDirectory's cleanup (shutil.rmtree) recurses and cannot remove this tree.
            await call("files_delete", {"path": "deep", "recursive": True})

    base = statistics.median(rows[0][1])
    width = max(len(r[0]) for r in rows)
    head = f"{'case (files_stat while it runs)':<{width}}  {'p50':>8}  {'p99':>8}  {'vs idle':>7}"
    print(f"{head}  hostile call p50 (n)")
    for name, stats, times in rows:
        p50, p99 = statistics.median(stats), pct(stats, 0.99)
        hostile = f"{statistics.median(times) * 1000:.1f} ms ({len(times)})" if times else "-"
        ok = "" if p99 <= 0.050 else "  over the 50 ms target"
        print(f"{name:<{width}}  {p50 * 1000:6.2f}ms  {p99 * 1000:6.2f}ms  {p50 / base:6.2f}x  {hostile}{ok}")
    print(f"(window {WINDOW_S:g} s per case; target: files_stat p99 <= 50 ms)")


if __name__ == "__main__":
    anyio.run(main)
