"""``tollhouse cases``: list cases, print a case file, open a case from the terminal."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tollhouse import display as show
from tollhouse.cli import exitcodes
from tollhouse.cli.memory_cmd import operator_name, run_with_state
from tollhouse.state import casefile, cases
from tollhouse.state.db import StateDB

HELP = """\
A case is a piece of work that outlives one agent session: a goal, notes, handoffs, and the calls
made on it (from the receipts). Agents use case_open / case_note / case_handoff; MCP clients read
the case file as the resource case://ID.

examples:
  tollhouse cases list --status open
  tollhouse cases show fix-login-bug       # the case file as Markdown
  tollhouse cases open "Fix login bug" --goal "Users can log in with SSO" --tag auth
"""


def _list(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        rows = await cases.list_cases(state, status=args.status, tag=args.tag, limit=args.limit)
        if args.json:
            print(json.dumps([c.to_json() for c in rows], indent=2))
            return exitcodes.OK
        if not rows:
            print("no cases")
        for c in rows:
            print(f"{show.line(c.id):<30} {c.status:<8} {show.line(c.title)}")
        return exitcodes.OK

    return run_with_state(args, body)


def _show(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        cf = await casefile.assemble(state, args.id, config.state_dir / "receipts.db")
        # JSON escapes controls itself; the Markdown holds what agents wrote, shown escaped.
        print(json.dumps(cf.to_json(), indent=2) if args.json else show.block(cf.markdown()))
        return exitcodes.OK

    return run_with_state(args, body)


def _open(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        case, created = await cases.open_case(
            state,
            title=args.title,
            goal=args.goal,
            case_id=args.id,
            tags=args.tag or [],
            author=operator_name(config),
        )
        if args.json:
            print(json.dumps({"created": created, "case": case.to_json()}, indent=2))
            return exitcodes.OK
        print(f"{'opened' if created else 'exists:'} {show.line(case.id)}  (case://{show.line(case.id)})")
        return exitcodes.OK

    return run_with_state(args, body)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "cases",
        help="list cases and print case files",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = p.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    ls = cmds.add_parser("list", help="cases, most recently changed first")
    ls.add_argument("--status", choices=cases.CASE_STATUSES)
    ls.add_argument("--tag")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_list)
    show = cmds.add_parser("show", help="print the case file (goal, handoffs, facts, receipts)")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="the case file as data")
    show.set_defaults(handler=_show)
    op = cmds.add_parser("open", help="open a case")
    op.add_argument("title")
    op.add_argument("--goal", default="")
    op.add_argument("--id", help="wanted id (default: from the title)")
    op.add_argument("--tag", action="append", help="a tag (repeatable)")
    op.add_argument("--json", action="store_true", help="the case as JSON, with whether it was created")
    op.set_defaults(handler=_open)
