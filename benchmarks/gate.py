"""The gate's own cost: a no-op tool called directly vs through the gate with durable receipts.

Also prints the policy and receipt-store figures from their own benchmarks, so one run answers the
foundation's targets: gate overhead p50 <= 250 µs, decision p50 <= 20 µs at 1,000 rules,
>= 5,000 receipts/s with 32 callers, verify 100,000 entries <= 2 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from tollhouse.config import parse_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call
from tollhouse.tools.base import Effect, Registry, Tool, ToolContext

N = 3000
WARMUP = 300


class NoopIn(BaseModel):
    text: str = ""


async def _noop(args: NoopIn, ctx: ToolContext) -> dict:
    return {"ok": True}


NOOP = Tool("bench_noop", "No-op", "Does nothing.", NoopIn, _noop, frozenset({Effect.READ}), "bench")

CONFIG = """
[tools]
families = []

[[rules]]
id = "noop"
tools = ["bench_noop"]
effect = "allow"
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_gate(root: Path) -> tuple[list[float], list[float]]:
    config = parse_config(CONFIG, root / "tollhouse.toml")
    gate = await Gate.open(config, registry=Registry([NOOP]))
    direct: list[float] = []
    gated: list[float] = []
    ctx = ToolContext(
        call=Call("bench_noop", {}), tool=NOOP, workspace=config.workspace, services=gate.services
    )
    async with gate:
        for i in range(N + WARMUP):
            t0 = time.perf_counter_ns()
            await NOOP.run(NOOP.input_model.model_validate({"text": "x"}), ctx)
            t1 = time.perf_counter_ns()
            out = await gate.call(Call("bench_noop", {"text": "x"}, channel="api"))
            t2 = time.perf_counter_ns()
            assert out.ok, out.message
            if i >= WARMUP:
                direct.append((t1 - t0) / 1000)
                gated.append((t2 - t1) / 1000)
    return direct, gated


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        direct, gated = anyio.run(bench_gate, Path(tmp))
    d50, g50 = statistics.median(direct), statistics.median(gated)
    print(f"\ngate overhead ({N} sequential calls, durable intent + outcome receipts, synchronous=normal)")
    print(f"{'path':<28}{'p50 µs':>10}{'p99 µs':>10}{'ratio':>10}")
    print(f"{'direct tool.run':<28}{d50:>10.1f}{pct(direct, 0.99):>10.1f}{1.0:>10.2f}")
    print(f"{'through the gate':<28}{g50:>10.1f}{pct(gated, 0.99):>10.1f}{g50 / d50:>10.1f}")
    print(f"{'overhead (gate - direct)':<28}{g50 - d50:>10.1f}{'':>10}{'':>10}   target <= 250")

    try:
        from benchmarks import policy as policy_bench
    except ImportError:
        policy_bench = None
    if policy_bench is not None and hasattr(policy_bench, "main"):
        print("\npolicy decisions (benchmarks/policy.py)")
        policy_bench.main()
    try:
        from benchmarks import receipts as receipts_bench
    except ImportError:
        receipts_bench = None
    if receipts_bench is not None and hasattr(receipts_bench, "main"):
        print("\nreceipt store (benchmarks/receipts.py)")
        anyio.run(receipts_bench.main)


if __name__ == "__main__":
    main()
