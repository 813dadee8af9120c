"""``tollhouse memory``: review proposals, find contradictions, export and import facts."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tollhouse import display as show
from tollhouse.cli import exitcodes
from tollhouse.config import ConfigError, load_config
from tollhouse.gate.redact import Redactor
from tollhouse.state import memory, memory_io, memory_query
from tollhouse.state.db import StateDB, StateError

HELP = """\
Agents propose facts with memory_propose; a person reviews them here. Accepted facts are what
memory_search returns. Nothing is deleted: rejecting keeps the proposal, and a fact that replaces
another marks it superseded.

examples:
  tollhouse memory review                 # go through proposals one by one
  tollhouse memory accept 12 --note "checked in the runbook"
  tollhouse memory contradictions
  tollhouse memory export > memory.jsonl
  tollhouse memory import memory.jsonl    # ours, or the reference memory server's graph
"""


def operator_name(config: Any) -> str:
    return f"operator:{getattr(config, 'operator', None) or getpass.getuser()}"


def run_with_state(args: argparse.Namespace, body: Callable[[StateDB, Any], Awaitable[int]]) -> int:
    """Load the config, open the state database, run ``body``; map errors to exit codes."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        return exitcodes.USAGE

    async def main() -> int:
        from tollhouse.store import store_url

        try:  # with a PostgreSQL store, memory and cases are the shared ones there
            url = store_url(config)
        except ValueError as exc:  # a bad TOLLHOUSE_STORE_URL: refuse, never fall back to SQLite
            raise StateError(str(exc)) from exc
        state = await StateDB.open(
            config.state_dir / "state.db", redactor=Redactor.for_operator(config), url=url
        )
        try:
            return await body(state, config)
        finally:
            await state.close()

    try:
        return asyncio.run(main())
    except ConfigError as exc:  # a bad [credentials] table: its values could not be known to redact
        print(f"tollhouse: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except StateError as exc:  # worded by cli/errors.py: a full or read-only disk is said so
        from tollhouse.cli.errors import explain

        message, code = explain(exc) or (str(exc), exitcodes.STORE_UNUSABLE)
        print(f"tollhouse: {message}", file=sys.stderr)
        return code
    except memory.FactInputError as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        return exitcodes.TOOL_ERROR


def fact_line(fact: memory.Fact) -> str:
    """``#id subject · predicate · object  [tags]`` with everything the agent wrote escaped."""
    body = fact.object or fact.text
    tags = f"  [{' '.join(show.line(t) for t in fact.tags)}]" if fact.tags else ""
    return f"#{fact.id} {show.line(fact.subject)} · {show.line(fact.predicate)} · {show.line(body)}{tags}"


def _print_fact(fact: memory.Fact, *, verbose: bool = True) -> None:
    print(f"{fact_line(fact)}  ({fact.status})")
    if verbose:
        if fact.object and fact.text:
            print(f"    text: {show.line(fact.text)}")
        print(f"    by {show.line(fact.author)}; source {show.line(fact.source or '-')}")


async def _print_replaced(state: StateDB, fact: memory.Fact) -> None:
    """What accepting would retire, in full: the reviewer judges the change, not just an id."""
    if not fact.supersedes:
        return
    old = await memory.get_fact(state, fact.supersedes)
    if old is None:
        print(f"    replaces #{fact.supersedes}, which does not exist (accepting will fail)")
        return
    print(f"    replaces #{old.id} ({old.status}), which says:")
    said = show.line(old.object or old.text)
    print(f"      {show.line(old.subject)} · {show.line(old.predicate)} · {said}")
    if old.object and old.text:
        print(f"      text: {show.line(old.text)}")
    if old.tags:
        print(f"      tags: {' '.join(show.line(t) for t in old.tags)}")
    print(f"      by {show.line(old.author)}; source {show.line(old.source or '-')}")
    if old.subject != fact.subject:
        print(f"    note: the subject changes from {show.line(old.subject)} to {show.line(fact.subject)}")


async def _conflicts(state: StateDB, fact: memory.Fact) -> list[memory.Fact]:
    page = await memory_query.search(state, subject=fact.subject, predicate=fact.predicate, limit=20)
    return [f for f in page.facts if f.object.strip().lower() != fact.object.strip().lower() and fact.object]


def _review(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        reviewer = operator_name(config)
        ids: list[int] = []
        offset: int | None = 0
        while offset is not None:
            page = await memory_query.search(state, statuses=["proposed"], limit=100, offset=offset)
            ids += [f.id for f in page.facts]
            offset = page.next_offset
        reviewed = 0
        for fact_id in sorted(ids):
            fact = await memory.get_fact(state, fact_id)
            if fact is None or fact.status != "proposed":
                continue  # reviewed by someone else meanwhile
            print()
            _print_fact(fact)
            await _print_replaced(state, fact)
            for other in await _conflicts(state, fact):
                print(f"    differs from accepted #{other.id}: {show.line(other.object)}")
            while True:
                print("[a]ccept  [r]eject  [s]kip  [q]uit (add ': note' after a or r) > ", end="", flush=True)
                line = sys.stdin.readline()
                if not line:  # end of input: stop, leaving the rest for later
                    print(f"\n{reviewed} reviewed; stopped at end of input")
                    return exitcodes.OK
                choice, _, note = line.strip().partition(":")
                choice = choice.strip().lower()
                if choice in ("a", "accept", "r", "reject"):
                    done = await memory.review(
                        state, fact.id, accept=choice[0] == "a", reviewer=reviewer, note=note.strip()
                    )
                    print(f"#{done.id} {done.status}")
                    reviewed += 1
                    break
                if choice in ("s", "skip"):
                    break
                if choice in ("q", "quit"):
                    print(f"{reviewed} reviewed")
                    return exitcodes.OK
                print("answer a, r, s or q")
        print(f"{reviewed} reviewed; no proposals left")
        return exitcodes.OK

    return run_with_state(args, body)


def _decide(accept: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        async def body(state: StateDB, config: Any) -> int:
            fact = await memory.review(
                state, args.id, accept=accept, reviewer=operator_name(config), note=args.note
            )
            old = await memory.get_fact(state, fact.supersedes) if fact.supersedes and accept else None
            if args.json:
                retired = old.to_json() if old else None
                print(json.dumps({"fact": fact.to_json(), "retired": retired}, indent=2))
                return exitcodes.OK
            _print_fact(fact, verbose=False)
            if fact.supersedes and accept:
                print(f"retired: {fact_line(old)}  (superseded)" if old else f"#{fact.supersedes} superseded")
            return exitcodes.OK

        return run_with_state(args, body)

    return handler


def _contradictions(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        found = await memory_query.contradictions(state)
        if args.json:
            print(json.dumps([c.to_json() for c in found], indent=2))
            return exitcodes.OK
        if not found:
            print("no contradictions among accepted facts")
        for c in found:
            print(f"{show.line(c.subject)} · {show.line(c.predicate)}:")
            for f in c.facts:
                print(f"    #{f.id} {show.line(f.object)} (by {show.line(f.author)})")
        if found:
            print("Resolve one by proposing a replacement with supersedes, then accepting it.")
        return exitcodes.OK

    return run_with_state(args, body)


def _search(args: argparse.Namespace) -> int:
    async def body(state: StateDB, config: Any) -> int:
        page = await memory_query.search(
            state, args.query, statuses=args.status or ["accepted"], tags=args.tag or [], limit=args.limit
        )
        if args.json:
            print(json.dumps([f.to_json() for f in page.facts], indent=2))
        for f in [] if args.json else page.facts:
            _print_fact(f, verbose=False)
        return exitcodes.OK

    return run_with_state(args, body)


def _export(args: argparse.Namespace) -> int:
    lines: list[str] = []

    async def body(state: StateDB, config: Any) -> int:
        async for record in memory_io.export_facts(state):
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        return exitcodes.OK

    code = run_with_state(args, body)
    if code != exitcodes.OK:
        return code
    if args.output:
        Path(args.output).write_text("".join(lines), encoding="utf-8")
    else:
        sys.stdout.writelines(lines)
    return exitcodes.OK


def _import(args: argparse.Namespace) -> int:
    if args.file == "-":
        lines = sys.stdin.read().splitlines()
    else:
        try:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"tollhouse: cannot read {args.file}: {exc}", file=sys.stderr)
            return exitcodes.USAGE

    async def body(state: StateDB, config: Any) -> int:
        report = await memory_io.import_jsonl(
            state,
            lines,
            author=operator_name(config),
            status=args.status,
            source=f"import:{Path(args.file).name}",
        )
        print(json.dumps(report.to_json()))
        return exitcodes.OK

    return run_with_state(args, body)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "memory",
        help="review, search, export and import memory facts",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmds = p.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    r = cmds.add_parser("review", help="go through proposals interactively (reads answers from stdin)")
    r.set_defaults(handler=_review)
    for name, accept in (("accept", True), ("reject", False)):
        c = cmds.add_parser(name, help=f"{name} one proposal")
        c.add_argument("id", type=int, help="fact id (from review or search)")
        c.add_argument("--note", default="", help="why; kept with the fact")
        c.add_argument("--json", action="store_true", help="the fact (and any it retired) as JSON")
        c.set_defaults(handler=_decide(accept))
    c = cmds.add_parser(
        "contradictions", help="accepted facts with one subject and predicate but different objects"
    )
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=_contradictions)
    s = cmds.add_parser("search", help="full-text search")
    s.add_argument("query", nargs="?", default="")
    s.add_argument("--status", action="append", choices=memory.STATUSES, help="repeatable; default accepted")
    s.add_argument("--tag", action="append", help="repeatable; facts having all these tags")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=_search)
    e = cmds.add_parser("export", help="every fact, with history, as JSONL")
    e.add_argument("-o", "--output", help="file to write (default: standard output)")
    e.set_defaults(handler=_export)
    i = cmds.add_parser("import", help="import JSONL: a tollhouse export or a reference memory server graph")
    i.add_argument("file", help="JSONL file, or - for standard input")
    i.add_argument(
        "--status",
        choices=("accepted", "proposed"),
        default="accepted",
        help="status of imported graph facts",
    )
    i.set_defaults(handler=_import)
