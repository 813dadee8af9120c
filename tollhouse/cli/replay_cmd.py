"""``tollhouse replay --policy NEW.toml``: decide recorded calls again under a candidate policy.

Nothing runs and nothing is written; the receipts are only read. ``policy test`` (golden cases kept
in a file, for CI) and ``policy diff --replay`` use the same machinery (``tollhouse.gate.replay``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes

CHANGED = 1
"""Exit code when calls would be decided differently (as ``--fail-on`` selects) or are unknown."""

REPLAY_HELP = """\
Decide every recorded call again under a candidate policy, without running anything, and show the
calls it would decide differently: loosened (deny -> ask/allow, ask -> allow), tightened (the
reverse), or unknown (its arguments cannot be rebuilt from the receipt: a value was redacted or
kept only as its digest; such a call is never counted as unchanged). Same effect under other rules
is reported as "rules". The candidate's rules are judged against this workspace's tools and roots.
exit 0: no call changed as --fail-on selects · 1: some did (or are unknown, without
--allow-unknown) · 2: bad config, candidate policy, time or receipt database
examples:
  tollhouse replay --policy new.toml
  tollhouse replay --policy new.toml --since 7d --tool 'files_*' --fail-on loosened
  tollhouse replay --policy new.toml --json | jq '.calls[] | select(.change == "tightened")'
"""


def add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="WHEN", help="only calls at or after WHEN (2026-12-01, 24h, 7d)")
    p.add_argument("--until", metavar="WHEN", help="only calls before WHEN (same forms as --since)")
    p.add_argument(
        "--tool", metavar="GLOB", action="append", default=[], help="only these tools (repeatable)"
    )


def add_verdict(p: argparse.ArgumentParser) -> None:
    from tollhouse.gate.replay import FAIL_ON

    p.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="changed",
        help="which changes make the exit code 1 (default: changed = loosened or tightened)",
    )
    p.add_argument(
        "--allow-unknown",
        action="store_true",
        help="calls whose arguments cannot be rebuilt do not fail the run",
    )
    p.add_argument("--json", action="store_true", help="print the summary and every call as JSON")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="decide recorded calls again under a candidate policy (nothing runs)",
        description=REPLAY_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--policy", metavar="FILE", required=True, help="the candidate tollhouse.toml")
    add_selection(p)
    add_verdict(p)
    p.add_argument("--all", action="store_true", help="list unchanged calls too")
    p.set_defaults(handler=run_replay)


def fail(message: str) -> int:
    print(f"tollhouse: {message}", file=sys.stderr)
    return exitcodes.USAGE


def load_workspace(args: argparse.Namespace) -> tuple[Any, Any] | int:
    """(config, registry) of the workspace; inspect-only, so an untrusted file gets a note."""
    from tollhouse.cli.common import trust_note
    from tollhouse.config import ConfigError, load_config
    from tollhouse.tools import build_registry

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        return fail(str(exc))
    note = trust_note(config)
    if note:
        print(f"tollhouse: {note}", file=sys.stderr)
    try:
        registry = build_registry(config.tool_families, config.tool_modules)
    except (ValueError, ImportError) as exc:
        return fail(f"cannot build the tool registry: {exc}; check [tools] in {config.path}")
    return config, registry


def load_candidate(path: str, config: Any, registry: Any) -> Any:
    """The candidate's policy, judged in this workspace (its roots, its tools). Its ``[tools]`` table
    is not imported: a candidate is only evaluated, and must not load code."""
    from tollhouse.config import parse_config
    from tollhouse.gate.policy import Policy

    file = Path(path)
    text = file.read_text(encoding="utf-8")
    return Policy.load(parse_config(text, file.resolve(), root=config.root), registry)


def selection(args: argparse.Namespace) -> dict[str, Any]:
    from tollhouse.gate.replay import parse_when

    return {
        "since": parse_when(args.since) if args.since else None,
        "until": parse_when(args.until) if args.until else None,
        "tools": list(args.tool),
    }


class LazyState:
    """``services.state`` for ``Tool.lookup_facets``: the state database, opened on first use only
    (never created: a workspace without one has nothing to look up)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: Any = None

    async def _open(self) -> Any:
        from tollhouse.state.db import StateDB

        if self._db is None:
            if not self.path.is_file():
                raise FileNotFoundError(f"no state database at {self.path}")
            self._db = await StateDB.open(self.path, create=False)
        return self._db

    @property
    def state(self) -> Any:
        return self._open

    async def aclose(self) -> None:
        if self._db is not None:
            await self._db.close()


async def replay_calls(config: Any, registry: Any, policy: Any, recorded: list[Any]) -> list[Any]:
    from tollhouse.gate.replay import Replayer

    services = LazyState(config.state_dir / "state.db")
    try:
        return await Replayer(policy, registry, services).replay(recorded)
    finally:
        await services.aclose()


def run_replay(args: argparse.Namespace) -> int:
    import anyio

    from tollhouse.config import ConfigError
    from tollhouse.gate.replay import failing, load_recorded
    from tollhouse.receipts.errors import ReceiptStoreError

    loaded = load_workspace(args)
    if isinstance(loaded, int):
        return loaded
    config, registry = loaded
    try:
        policy = load_candidate(args.policy, config, registry)
    except OSError as exc:
        return fail(f"cannot read the candidate policy {args.policy}: {exc.strerror or exc}")
    except ConfigError as exc:
        return fail(f"the candidate policy does not load: {exc}")
    try:
        recorded = load_recorded(config.state_dir / "receipts.db", **selection(args))
    except (ValueError, ReceiptStoreError) as exc:
        return fail(str(exc))
    results = anyio.run(replay_calls, config, registry, policy, recorded)
    bad = failing(results, args.fail_on, args.allow_unknown)
    report(results, policy, args, bad)
    return CHANGED if bad else exitcodes.OK


def report(results: list[Any], policy: Any, args: argparse.Namespace, bad: list[Any]) -> None:
    from tollhouse.cli.common import print_json
    from tollhouse.gate.replay import summary

    counts = summary(results)
    if args.json:
        shown = results if getattr(args, "all", False) else [r for r in results if r.change != "same"]
        print_json(
            {
                "policy_sha256": policy.sha256,
                "fail_on": args.fail_on,
                "failed": bool(bad),
                "summary": counts,
                "calls": [r.to_json() for r in shown],
            }
        )
        return
    print(table(results, getattr(args, "all", False)))
    print(summary_line(counts), f"(policy sha256 {policy.sha256[:12]})")
    if bad:
        print(f"{len(bad)} call(s) fail --fail-on {args.fail_on}", file=sys.stderr)


def summary_line(counts: dict[str, int]) -> str:
    return (
        f"{counts['calls']} calls replayed: {counts['same']} unchanged, {counts['rules']} same effect under "
        f"other rules, {counts['loosened']} loosened, {counts['tightened']} tightened, "
        f"{counts['unknown']} unknown"
    )


def table(results: list[Any], everything: bool = False) -> str:
    rows = [("SEQ", "TIME", "TOOL", "BEFORE", "AFTER", "CHANGE", "WHY")]
    for r in results:
        if r.change == "same" and not everything:
            continue
        rec = r.recorded
        before = f"{rec.effect} ({', '.join(rec.rules)})"
        after = "?" if r.effect is None else f"{r.effect} ({', '.join(r.rules)})"
        why = " ".join(r.reason.split())[:100]
        rows.append((str(rec.seq), rec.time[:19], rec.tool, before, after, r.change, why))
    if len(rows) == 1:
        return "no call is decided differently"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return "\n".join(line.rstrip() for line in lines)


def replay_summary(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """For ``policy diff --replay``: the recorded calls decided under the file at ``path`` (the
    policy being reviewed), as counts and one line; ``{"error": ...}`` when that cannot be done."""
    import anyio

    from tollhouse.config import ConfigError
    from tollhouse.gate.replay import load_recorded, summary
    from tollhouse.receipts.errors import ReceiptStoreError

    loaded = load_workspace(args)
    if isinstance(loaded, int):
        return {"error": "the workspace configuration does not load"}
    config, registry = loaded
    try:
        policy = load_candidate(str(path), config, registry)
        recorded = load_recorded(config.state_dir / "receipts.db")
    except (OSError, ConfigError, ReceiptStoreError) as exc:
        return {"error": str(exc)}
    counts = summary(anyio.run(replay_calls, config, registry, policy, recorded))
    return {"summary": counts, "line": "replay: " + summary_line(counts)}
