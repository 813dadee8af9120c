"""shell_run's cost: `true` through the gate vs a bare asyncio subprocess, and output throughput.

Target: shell_run of `true` through the gate (policy, durable receipts, env, process group, capture)
<= 1.5x a bare `asyncio.create_subprocess_exec("true")` + `communicate()` in the same run. Throughput:
a 50 MB stdout stream through the capped head+tail capture vs a bare asyncio read of the same stream.

Read the rows together: the tool spawns on its own pipes and sees the exit through a pidfd, about
200 us cheaper than asyncio's subprocess API (which starts a thread per child), so "tool alone" sits
near 1.0x the baseline even with its own work (PATH lookup, environment, output handling). What the
gate adds (policy, intent and outcome receipts, redaction) is the "gate's own share" row. The process
supervisor (every process a call starts ends with it, docs/tools/shell.md#containment) is on in the
tool and gate rows; "without the supervisor" is the group-kill-only path, for its cost.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.shell.conftest import Runner
from tollhouse.config import parse_config
from tollhouse.gate import Call, Gate
from tollhouse.tools.shell import runner

N = 600
WARMUP = 20
STREAM_MB = 50
STREAM_RUNS = 9

CONFIG = """
[tools]
families = ["shell"]

[[rules]]
id = "bench"
tools = ["shell_run"]
argv = ["true", "head *"]
effect = "allow"
"""


async def bare(argv: list[str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return len(out)


async def timed(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def rotated(fns: list, runs: int, warmup: int) -> list[list[float]]:
    """Call the cases in turn, rotating which goes first, so drift in the machine's speed lands on all
    alike; one list of timings per case."""
    samples: list[list[float]] = [[] for _ in fns]
    for i in range(runs + warmup):
        for k in [(i + j) % len(fns) for j in range(len(fns))]:
            took = await timed(fns[k], 1, 0)
            if i >= warmup:
                samples[k] += took
    return samples


async def main() -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = parse_config(textwrap.dedent(CONFIG), root / "tollhouse.toml")
        stream = ["head", "-c", str(STREAM_MB * 1000 * 1000), "/dev/zero"]
        async with await Gate.open(config) as gate:

            async def gated_true() -> None:
                out = await gate.call(Call("shell_run", {"argv": ["true"]}))
                assert out.ok, out.message

            async def gated_stream() -> None:
                out = await gate.call(Call("shell_run", {"argv": stream}))
                assert out.ok and out.result["stdout_bytes"] == STREAM_MB * 1000 * 1000, out.message

            direct = Runner(config)  # the tool alone: validated input, a context, no policy or receipts

            async def tool_true() -> None:
                await direct(argv=["true"])

            async def unsupervised_true() -> None:
                runner.SUPERVISE = False
                try:
                    await direct(argv=["true"])
                finally:
                    runner.SUPERVISE = True

            async def tool_stream() -> None:
                await direct(argv=stream)

            bare_s, direct_s, gate_s, group_s = await rotated(
                [lambda: bare(["true"]), tool_true, gated_true, unsupervised_true], N, WARMUP
            )
            bare_stream, direct_stream, gate_stream = await rotated(
                [lambda: bare(stream), tool_stream, gated_stream], STREAM_RUNS, 1
            )

    b, g = statistics.median(bare_s), statistics.median(gate_s)
    d = statistics.median(direct_s)
    u = statistics.median(group_s)
    bs, ds, gs = (statistics.median(x) for x in (bare_stream, direct_stream, gate_stream))
    mb = STREAM_MB
    rows = [
        ("`true`: bare asyncio subprocess", f"{b * 1000:.2f} ms", "1.00x"),
        ("`true`: shell_run tool alone", f"{d * 1000:.2f} ms", f"{d / b:.2f}x time"),
        ("`true`: shell_run through the gate", f"{g * 1000:.2f} ms", f"{g / b:.2f}x time (target <= 1.5x)"),
        ("`true`: the gate's own share (gate - tool)", f"{(g - d) * 1e6:.0f} µs", f"{g / d:.2f}x tool alone"),
        ("`true`: tool alone without the supervisor", f"{u * 1000:.2f} ms", f"{u / b:.2f}x time"),
        ("`true`: the supervisor's share (tool - that)", f"{(d - u) * 1e6:.0f} µs", f"{d / u:.2f}x"),
        (f"{mb} MB stdout: bare asyncio (all in memory)", f"{mb / bs:.0f} MB/s", "1.00x"),
        (f"{mb} MB stdout: shell_run tool alone", f"{mb / ds:.0f} MB/s", f"{ds / bs:.2f}x time"),
        (f"{mb} MB stdout: shell_run through the gate", f"{mb / gs:.0f} MB/s", f"{gs / bs:.2f}x time"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'median':>12}  ratio")
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:>12}  {ratio}")
    # The ratios move with the machine's load (other processes on few cores): quote them with it.
    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"(n={N} for `true`, {STREAM_RUNS} runs for the stream; {load}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    anyio.run(main)
