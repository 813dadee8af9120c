"""``tollhouse budgets``: the budgets in tollhouse.toml and what each scope has used (read-only)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tollhouse.cli import exitcodes

HELP = """\
Show the budgets of tollhouse.toml ([[budgets]]) and what every session, run or principal has used
of each: calls (in total and in the last minute), model tokens, estimated cost, wall time, and the
limit it has reached, if any. Reads the state database; changes nothing.
exit 0: shown · 2: the config does not load
examples:
  tollhouse budgets
  tollhouse budgets --json | jq '.usage[] | select(.reached != null)'
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "budgets", help="show budgets and what each scope has used", description=HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print budgets and usage as JSON")
    p.set_defaults(handler=run_budgets)


def run_budgets(args: argparse.Namespace) -> int:
    from tollhouse.cli.common import load, print_json
    from tollhouse.gate.budgets import usage
    from tollhouse.gate.budgets_config import LIMITS, parse_budgets
    from tollhouse.gate.budgets_pg import BudgetStoreError
    from tollhouse.store import store_url

    config = load(args)
    budgets = parse_budgets(config.data, config.text)
    try:  # with a PostgreSQL store, the usage every server counted there
        rows = usage(config.state_dir / "state.db", budgets, url=store_url(config))
    except (ValueError, BudgetStoreError) as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        return exitcodes.STORE_UNUSABLE
    if args.json:
        listed = [
            {"id": b.id, "per": b.per, "tools": list(b.tools), "principals": list(b.principals),
             "each_tool": b.each_tool, **{k: getattr(b, k) for k in LIMITS if getattr(b, k) is not None}}
            for b in budgets
        ]  # fmt: skip
        print_json({"budgets": listed, "usage": rows})
        return exitcodes.OK
    if not budgets:
        print("no [[budgets]] in tollhouse.toml; see docs/budgets.md", file=sys.stderr)
        return exitcodes.OK
    for b in budgets:
        limits = ", ".join(f"{k} {getattr(b, k):g}" for k in LIMITS if getattr(b, k) is not None)
        print(
            f"{b.id}: per {b.per}{' (each tool)' if b.each_tool else ''}, "
            f"tools {', '.join(b.tools)}: {limits}"
        )
    if not rows:
        print("no usage recorded yet")
        return exitcodes.OK
    header = ("BUDGET", "SCOPE", "CALLS", "LAST MIN", "TOKENS", "COST USD", "ELAPSED S", "REACHED")
    table = [header] + [
        (r["budget"], r["scope"], str(r["calls"]), str(r["calls_last_minute"]), str(r["tokens"]),
         f"{r['cost_usd']:.4f}", f"{r['elapsed_s']:g}", r["reached"] or "-")
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return exitcodes.OK
