"""Replay: recorded calls decided again per second (target >= 20,000/s).

Builds a workspace with a history of real receipts (calls through the gate with cheap tools, the
same ones the tests use), then times ``tollhouse replay``'s two parts separately: reading the
decided calls from the receipt database, and deciding them under a candidate policy. Three
histories: "realistic" (agents repeat themselves: a few hundred distinct argument sets in 6,000
calls), "distinct args" (every call's arguments differ, but the files and repositories repeat, as
when an agent edits the same files again), "distinct paths" (every path differs too: the worst
case, each call resolved and matched from scratch).

    python -m benchmarks.replay [--calls 6000]
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

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.replay.conftest import V1, V2, history_call


async def record(root: Path, calls: int, mode: str) -> None:
    from tollhouse.config import parse_config
    from tollhouse.gate.gate import Gate
    from tollhouse.gate.types import Call

    text = textwrap.dedent(V1)
    (root / "tollhouse.toml").write_text(text)
    config = parse_config(text, root / "tollhouse.toml")
    async with await Gate.open(config) as gate:
        for start in range(0, calls, 200):
            async with anyio.create_task_group() as tg:
                for i in range(start, min(calls, start + 200)):
                    tool, args = history_call(i)
                    if mode != "realistic":  # every call's arguments differ
                        if "path" in args:
                            args.setdefault("note", f"n{i}")
                        else:
                            args["count"] = i
                    if mode == "distinct paths" and "path" in args:  # ...and so does every path
                        args["path"] = f"{args['path']}.{i}"
                    tg.start_soon(gate.call, Call(tool=tool, arguments=args, call_id=f"c{i}"))


def measure(root: Path) -> tuple[int, float, float, int]:
    from tollhouse.cli.replay_cmd import LazyState
    from tollhouse.config import parse_config
    from tollhouse.gate.policy import Policy
    from tollhouse.gate.replay import Replayer, load_recorded
    from tollhouse.tools import build_registry

    config = parse_config((root / "tollhouse.toml").read_text(), root / "tollhouse.toml")
    registry = build_registry(config.tool_families, config.tool_modules)
    candidate = Policy.load(parse_config(V2, root / "v2.toml", root=config.root), registry)
    reads, decides = [], []
    changed = 0
    for _ in range(5):
        t0 = time.perf_counter()
        recorded = load_recorded(config.state_dir / "receipts.db")
        t1 = time.perf_counter()
        replayer = Replayer(candidate, registry, LazyState(config.state_dir / "state.db"))
        results = anyio.run(replayer.replay, recorded)
        t2 = time.perf_counter()
        reads.append(t1 - t0)
        decides.append(t2 - t1)
        changed = sum(1 for r in results if r.change != "same")
    return len(recorded), statistics.median(reads), statistics.median(decides), changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    args = parser.parse_args()
    os.environ.setdefault("TOLLHOUSE_HOME", tempfile.mkdtemp(prefix="tollhouse-bench-home-"))
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'history':<14} {'calls':>7} {'read ms':>9} {'decide ms':>10} {'decided/s':>11} "
        f"{'end-to-end/s':>13} {'changed':>8}"
    )
    for name in ("realistic", "distinct args", "distinct paths"):
        with tempfile.TemporaryDirectory(prefix="tollhouse-bench-replay-") as tmp:
            root = Path(tmp)
            anyio.run(record, root, args.calls, name)
            n, read_s, decide_s, changed = measure(root)
            print(
                f"{name:<14} {n:>7} {read_s * 1000:>9.1f} {decide_s * 1000:>10.1f} {n / decide_s:>11,.0f} "
                f"{n / (read_s + decide_s):>13,.0f} {changed:>8}"
            )
    print("target: >= 20,000 calls replayed per second (decided/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
