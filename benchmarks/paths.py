"""The per-file path judgement a walker asks (files_search, files_list, files_find) at 10 / 1,000 /
10,000 rules: µs per path, against asking ``Policy.decide`` for each file as if it were an argument.

Run: python benchmarks/paths.py  (from the repository root; about 20 s)

Rule sets are benchmarks/policy.py's (path deny rules over ``files_*`` among them). Paths are what a
walk meets: mostly files no rule names, a few denied ones.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.policy import PathIn, _registry, _rules_toml
from tollhouse.config import parse_config
from tollhouse.gate.policy import Policy
from tollhouse.workspace import ResolvedPath


def _paths(n: int, rng: random.Random) -> list[str]:
    out = []
    for k in range(2000):
        i = rng.randrange(max(n, 1))
        out.append(
            rng.choice(
                [
                    f"src/pkg/mod{k}.py",
                    f"tests/test_{k}.py",
                    f"docs/page{k}.md",
                    f"vault{i}/key",
                    f"a/b.secret{i}",
                ]
                + [f"node_modules/x{k}/index.js"] * 3
            )
        )
    return out


def bench_paths(sizes: tuple[int, ...] = (10, 1000, 10000), seed: int = 7) -> list[dict[str, Any]]:
    rows = []
    registry = _registry()
    tool = registry.get("files_op1")
    assert tool is not None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in sizes:
            rng = random.Random(seed)
            config = parse_config(_rules_toml(n, rng), root / "tollhouse.toml")
            policy = Policy.load(config)
            paths = _paths(n, rng)
            args = PathIn(path=".")
            t0 = time.perf_counter()
            judge = policy.path_judge(tool, args)
            judge.rule_for(ResolvedPath(root, "x", root / "x"))  # compiles on first use
            build_ms = (time.perf_counter() - t0) * 1000
            items = [ResolvedPath(root, p, root / p) for p in paths]
            per_path: list[float] = []
            withheld = 0
            for _ in range(3):
                judge = policy.path_judge(tool, args)  # a new call: the compiled part is reused
                t0 = time.perf_counter_ns()
                for item in items:
                    withheld += judge.rule_for(item) is not None
                per_path.append((time.perf_counter_ns() - t0) / 1000 / len(items))
            decide: list[float] = []
            for p in paths[:300]:
                t0 = time.perf_counter_ns()
                policy.decide(tool, PathIn(path=p))
                decide.append((time.perf_counter_ns() - t0) / 1000)
            rows.append(
                {
                    "rules": n,
                    "first_build_ms": build_ms,
                    "judge_us_per_path": statistics.median(per_path),
                    "decide_us_per_path": statistics.median(decide),
                    "withheld_share": withheld / (3 * len(items)),
                }
            )
    return rows


def main() -> None:
    rows = bench_paths()
    print(
        "path judgement per file a walker meets (µs per path; 2,000 paths; decide = Policy.decide per path)"
    )
    print(
        f"{'rules':>6} {'first build ms':>15} {'judge µs':>9} {'decide µs':>10} {'ratio':>7} {'withheld':>9}"
    )
    for r in rows:
        ratio = r["decide_us_per_path"] / r["judge_us_per_path"]
        print(
            f"{r['rules']:>6} {r['first_build_ms']:>15.1f} {r['judge_us_per_path']:>9.2f} "
            f"{r['decide_us_per_path']:>10.1f} {ratio:>6.1f}x {r['withheld_share']:>8.0%}"
        )


if __name__ == "__main__":
    main()
