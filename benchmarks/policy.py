"""Policy decision time at 10 / 1,000 / 10,000 rules, against a naive every-rule loop.

Run: python benchmarks/policy.py  (from the repository root; about 20 s)

The rule sets mix what real policies hold: per-tool path allow rules, path deny rules, argv rules for
a shell tool, repository rules, blanket read rules and a few asks, spread over 40 tools. The calls are
a mix of reads, writes, shell commands and repository calls, some allowed, some denied.
``bench_decisions`` is importable (benchmarks/gate.py prints its rows next to the gate's figures).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from tollhouse.config import parse_config
from tollhouse.gate.policy import Policy
from tollhouse.gate.policy_match import build_view
from tollhouse.globs import compile_name_glob
from tollhouse.tools.base import Effect, Registry, Tool


class PathIn(BaseModel):
    path: str


class ArgvIn(BaseModel):
    argv: list[str]


class RepoIn(BaseModel):
    repo: str


async def _noop(args: BaseModel, ctx: Any) -> None:
    return None


def _registry() -> Registry:
    tools: list[Tool] = []
    for i in range(30):
        effect = Effect.READ if i % 2 == 0 else Effect.WRITE
        tools.append(
            Tool(f"files_op{i}", "f", "f", PathIn, _noop, frozenset({effect}), "files", path_fields=("path",))
        )
    for i in range(5):
        tools.append(
            Tool(
                f"shell_run{i}",
                "s",
                "s",
                ArgvIn,
                _noop,
                frozenset({Effect.EXEC}),
                "shell",
                facets_of=lambda a: {"argv": a.argv, "argv_guarded": []},
            )
        )
    for i in range(5):
        tools.append(
            Tool(
                f"github_op{i}",
                "g",
                "g",
                RepoIn,
                _noop,
                frozenset({Effect.NETWORK}),
                "github",
                facets_of=lambda a: {"repos": [a.repo]},
            )
        )
    return Registry(tools)


def _rules_toml(n: int, rng: random.Random) -> str:
    out = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.35:
            tool = f"files_op{rng.randrange(30)}"
            body = f'tools = ["{tool}"]\npaths = ["pkg{i}/**", "lib{i}/*.py"]\neffect = "allow"'
        elif kind < 0.5:
            body = f'tools = ["files_*"]\npaths = ["**/*.secret{i}", "vault{i}/**"]\neffect = "deny"'
        elif kind < 0.75:
            body = (
                f'tools = ["shell_run{rng.randrange(5)}"]\nargv = ["cmd{i} *", "git sub{i} --flag", '
                f'"make target{i}"]\neffect = "{rng.choice(["allow", "allow", "ask", "deny"])}"'
            )
        elif kind < 0.9:
            body = f'tools = ["github_op{rng.randrange(5)}"]\nrepos = ["org{i}/*"]\neffect = "allow"'
        elif kind < 0.97:
            body = f'tools = ["files_op{rng.randrange(30)}"]\npaths = ["*/tmp{i}/**"]\neffect = "ask"'
        else:
            body = f'tools = ["files_op{2 * rng.randrange(15)}"]\neffect = "allow"'
        out.append(f'[[rules]]\nid = "r{i}"\n{body}\n')
    return "\n".join(out)


def _calls(n: int, registry: Registry, rng: random.Random) -> list[tuple[Tool, BaseModel]]:
    calls: list[tuple[Tool, BaseModel]] = []
    for _ in range(200):
        i = rng.randrange(max(n, 1))
        kind = rng.random()
        if kind < 0.5:
            tool = registry.get(f"files_op{rng.randrange(30)}")
            path = rng.choice(
                [f"pkg{i}/mod/a.py", f"lib{i}/b.py", f"vault{i}/key", "src/x.secret3", "README.md"]
            )
            calls.append((tool, PathIn(path=path)))  # type: ignore[arg-type]
        elif kind < 0.8:
            tool = registry.get(f"shell_run{rng.randrange(5)}")
            argv = rng.choice(
                [[f"cmd{i}", "-q", "x"], ["git", f"sub{i}", "--flag"], ["make", f"target{i}"], ["ls"]]
            )
            calls.append((tool, ArgvIn(argv=argv)))  # type: ignore[arg-type]
        else:
            tool = registry.get(f"github_op{rng.randrange(5)}")
            calls.append((tool, RepoIn(repo=f"org{i}/repo")))  # type: ignore[arg-type]
    return calls


def naive_decide(policy: Policy, tool: Tool, args: BaseModel) -> tuple[str, tuple[str, ...]]:
    """The baseline: build the same view, then test every rule in the file one by one."""
    view = build_view(tool, args, policy.workspace, policy.workspace.roots)
    if view.builtin is not None:
        return "deny", (view.builtin[0],)
    hits: dict[str, list[str]] = {"deny": [], "ask": [], "allow": []}
    for rule in policy.compiled:
        if any(compile_name_glob(g).fullmatch(tool.name) for g in rule.rule.tools) and rule.explain(view)[0]:
            hits[rule.effect].append(rule.id)
    for effect in ("deny", "ask", "allow"):
        if hits[effect]:
            return effect, tuple(hits[effect])
    return "deny", ("default-deny",)


def _view_only(ws: Any, tool: Tool, args: BaseModel) -> Any:
    return build_view(tool, args, ws, ws.roots)


def _time(fn: Any, calls: list[tuple[Tool, BaseModel]], rounds: int) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        for tool, args in calls:
            t0 = time.perf_counter_ns()
            fn(tool, args)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def bench_decisions(sizes: tuple[int, ...] = (10, 1000, 10000), seed: int = 7) -> list[dict[str, Any]]:
    """One row per rule count: p50/p99 µs of Policy.decide and of the naive loop, and their ratio."""
    rows = []
    registry = _registry()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in sizes:
            rng = random.Random(seed)
            text = _rules_toml(n, rng)
            config = parse_config(text, root / "tollhouse.toml")
            t0 = time.perf_counter()
            policy = Policy.load(config)
            for tool in registry:
                policy.index.plan(tool.name)
            compile_ms = (time.perf_counter() - t0) * 1000
            calls = _calls(n, registry, rng)
            for _tool, args in calls:  # the files exist, as they mostly do when an agent reads them
                if isinstance(args, PathIn):
                    (root / args.path).parent.mkdir(parents=True, exist_ok=True)
                    (root / args.path).touch()
            for tool, args in calls[
                : 200 if n < 10000 else 60
            ]:  # the fast path must agree with the naive loop
                d = policy.decide(tool, args)
                assert (d.effect, d.rules) == naive_decide(policy, tool, args), (tool.name, args)
            fast_rounds = 25 if n < 10000 else 10
            ws = policy.workspace
            views = {id(a): build_view(t, a, ws, ws.roots) for t, a in calls}
            decide, decide_view = policy.decide, policy.decide_view
            fast = _time(decide, calls, rounds=fast_rounds)
            slow = _time(partial(naive_decide, policy), calls[: 200 if n < 10000 else 60], rounds=3)
            view = _time(partial(_view_only, ws), calls, 10)
            match = _time(
                lambda t, a, views=views, dv=decide_view: dv(views[id(a)]), calls, rounds=fast_rounds
            )
            effects = [policy.decide(t, a).effect for t, a in calls]
            rows.append(
                {
                    "rules": n,
                    "compile_ms": compile_ms,
                    "decide_p50_us": statistics.median(fast),
                    "decide_p99_us": statistics.quantiles(fast, n=100)[98],
                    "naive_p50_us": statistics.median(slow),
                    "naive_p99_us": statistics.quantiles(slow, n=100)[98],
                    "view_p50_us": statistics.median(view),
                    "match_p50_us": statistics.median(match),
                    "match_p99_us": statistics.quantiles(match, n=100)[98],
                    "ratio": statistics.median(slow) / statistics.median(fast),
                    "mix": {e: effects.count(e) for e in ("allow", "ask", "deny")},
                }
            )
    return rows


def main() -> None:
    rows = bench_decisions()
    print("policy decision time (µs per call; 200 mixed calls; naive = every rule tested in turn)")
    print(
        f"{'rules':>6} {'compile ms':>10} {'p50':>7} {'p99':>7} {'naive p50':>10} {'naive p99':>10} "
        f"{'ratio':>7} {'view p50':>9}  decisions"
    )
    for r in rows:
        print(
            f"{r['rules']:>6} {r['compile_ms']:>10.1f} {r['decide_p50_us']:>7.1f} {r['decide_p99_us']:>7.1f} "
            f"{r['naive_p50_us']:>10.1f} {r['naive_p99_us']:>10.1f} {r['ratio']:>6.1f}x "
            f"{r['view_p50_us']:>9.1f} {r['match_p50_us']:>14.1f} {r['match_p99_us']:>6.1f}  {r['mix']}"
        )
    print("view = facets + path resolution (os.path.realpath via Workspace.resolve), included in p50;")
    print("rules-only = decide on a prebuilt view (built-ins, index, rules); ratio = naive p50 / p50")


if __name__ == "__main__":
    main()
