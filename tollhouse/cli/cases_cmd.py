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
made on it (from the receipts). Agents use case_open / case_use / case_note / case_handoff (case_use
files the rest of a session's calls under a case, for clients that cannot send _meta); MCP clients read
the case file as the resource case://ID.

examples:
  tollhouse cases list --status open
  tollhouse cases show fix-login-bug       # the case file as Markdown
  tollhouse cases open "Fix login bug" --goal "Users can log in with SSO" --tag auth
  tollhouse cases note fix-login-bug "SSO callback URL was wrong in staging"
  tollhouse cases handoff fix-login-bug --kind blocked --summary "needs IdP access" --blocker "IdP admin"
  tollhouse cases close fix-login-bug --summary "fixed in #412"
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
        from tollhouse.receipts.errors import ReceiptStoreError
        from tollhouse.store.source import receipt_source

        try:  # on PostgreSQL, the calls of this workspace's server's log
            source = receipt_source(config)
        except ReceiptStoreError:  # no signing key yet: this workspace's server has written no log
            source = None
        cf = await casefile.assemble(state, args.id, source)
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


def _note(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        cases.check_case_id(args.id)
        note_id = await cases.add_note(state, args.id, args.text, author=operator_name(config))
        if args.json:
            print(json.dumps({"case_id": args.id, "note_id": note_id}))
        else:
            print(f"note {note_id} added to {show.line(args.id)}")
        return exitcodes.OK

    return run_with_state(args, body)


def _handoff(kind: str | None) -> Any:
    """``cases handoff`` (any kind) and ``cases close`` (a done handoff: status done)."""

    def handler(args: argparse.Namespace) -> int:
        async def body(state: StateDB, config: Any) -> int:
            cases.check_case_id(args.id)
            summary = args.summary or ("closed from the terminal" if kind == "done" else "")
            h = await cases.write_handoff(
                state, args.id, kind=kind or args.kind, summary=summary, author=operator_name(config),
                done=args.done or [], next_steps=getattr(args, "next", None) or [],
                blockers=getattr(args, "blocker", None) or [], status=getattr(args, "status", None),
            )  # fmt: skip
            if args.json:
                print(
                    json.dumps(
                        {"case_id": args.id, "handoff_id": h.id, "kind": h.kind, "status": h.status_after}
                    )
                )
            else:
                print(f"{h.kind} handoff {h.id} on {show.line(args.id)}; the case is now {h.status_after}")
            return exitcodes.OK

        return run_with_state(args, body)

    return handler


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
    note = cmds.add_parser("note", help="add a note to a case (a finding, a decision, a link)")
    note.add_argument("id", help="the case id")
    note.add_argument("text", help="the note")
    note.add_argument("--json", action="store_true", help="the note's id as JSON")
    note.set_defaults(handler=_note)
    hand = cmds.add_parser("handoff", help="write a handoff for whoever continues the case")
    hand.add_argument("id", help="the case id")
    hand.add_argument("--kind", required=True, choices=("progress", "done", "blocked", "failed"))
    hand.add_argument("--summary", required=True, help="what happened and where things stand")
    hand.add_argument("--done", action="append", metavar="ITEM", help="something finished (repeatable)")
    hand.add_argument("--next", action="append", metavar="ITEM", help="a next step (repeatable)")
    hand.add_argument("--blocker", action="append", metavar="ITEM", help="what blocks it (repeatable)")
    hand.add_argument("--status", choices=cases.CASE_STATUSES, help="status after (default from --kind)")
    hand.add_argument("--json", action="store_true", help="the handoff as JSON")
    hand.set_defaults(handler=_handoff(None))
    close = cmds.add_parser("close", help="close a case: a done handoff, status done")
    close.add_argument("id", help="the case id")
    close.add_argument("--summary", default="", help="why it is done (default: closed from the terminal)")
    close.add_argument("--done", action="append", metavar="ITEM", help="something finished (repeatable)")
    close.add_argument("--json", action="store_true", help="the handoff as JSON")
    close.set_defaults(handler=_handoff("done"))
