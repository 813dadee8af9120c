"""``tollhouse grant`` and ``tollhouse grants``: standing approvals for calls that policy asks about."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load, parse_json_arg, print_json
from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.gate.grant_match import EXACT
from tollhouse.gate.grants import add_grant, check_grant, list_grants, parse_duration, revoke_grant

GRANT_HELP = """\
Approve in advance calls that policy says to ask about. A grant never overrides a deny rule.

examples:
  tollhouse grant files_write --arg 'path=notes/*' --expires 2h
  tollhouse grant shell_run --arg 'argv=make release' --uses 3 --note "release script"
  tollhouse grant files_delete --is 'path="tmp/out.log"' --is 'recursive=false' --uses 1
  tollhouse grant files_delete --exact '{"path": "tmp/out.log"}' --uses 1

The tool must be a known tool (or a glob naming some), and every argument name one of its arguments.
--arg NAME=GLOB is matched like a policy rule: a path argument by the call's resolved path inside its
root (`*` stays within one folder, `**` crosses folders, `..` is resolved first); argv by an argv
pattern (`git status *`: a wildcard never covers an exec-capable token); anything else as text (for a
list, every item). Repeat --arg with one NAME for alternatives.
--is NAME=JSON requires the argument to equal this value exactly (no glob).
--exact binds the grant to exactly these arguments (after defaults are applied).
A grant for every call (a tool glob, no --arg/--is/--exact, or --expires never) is made with a warning.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    g = sub.add_parser(
        "grant", help="approve calls in advance (tool, argument globs, expiry, uses)",
        description=GRANT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    g.add_argument("tool", help="tool name or glob (files_write, github_*)")
    g.add_argument("--arg", action="append", default=[], metavar="NAME=GLOB", help="argument constraint")
    g.add_argument(
        "--is", dest="equals", action="append", default=[], metavar="NAME=JSON",
        help="the argument equals this JSON value exactly",
    )  # fmt: skip
    g.add_argument("--exact", metavar="JSON", help="bind to exactly these arguments")
    g.add_argument("--expires", default="1h", help="30m, 2h, 7d or never (default: 1h)")
    g.add_argument("--uses", type=int, help="how many calls it covers (default: unlimited until expiry)")
    g.add_argument("--note", default="", help="why (kept with the grant and on its receipt)")
    g.add_argument("--json", action="store_true")
    g.set_defaults(handler=run_grant)

    gs = sub.add_parser("grants", help="list or revoke standing grants")
    gs.add_argument("action", nargs="?", choices=["list", "revoke"], default="list")
    gs.add_argument("id", nargs="?", help="grant id (for revoke)")
    gs.add_argument("--all", action="store_true", help="include expired, used-up and revoked grants")
    gs.add_argument("--json", action="store_true")
    gs.set_defaults(handler=run_grants)


def _exact_digest(config, tool_name: str, text: str) -> str:  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from tollhouse.tools import build_registry

    tool = build_registry(config.tool_families, config.tool_modules).get(tool_name)
    if tool is None:
        raise CommandError(f"--exact needs an exact tool name; {tool_name!r} is not a known tool")
    try:
        args = tool.input_model.model_validate(parse_json_arg(text, "--exact arguments"))
    except ValidationError as exc:
        raise CommandError(f"--exact arguments do not fit {tool_name}: {exc}") from exc
    return sha256_hex(canonical_json(args.model_dump(mode="json")))


def _record(config, kind: str, details: dict) -> None:  # type: ignore[no-untyped-def, type-arg]
    """An operator's change to grants is itself receipted (channel cli)."""
    from tollhouse.gate.entries import make_entry
    from tollhouse.gate.gate import default_operator
    from tollhouse.gate.redact import Redactor
    from tollhouse.gate.types import Call
    from tollhouse.receipts.process import current_identity as process_identity
    from tollhouse.store import open_receipts

    async def main() -> None:
        store = await open_receipts(config, redactor=Redactor.from_config(config))  # SQLite or [store] url
        try:
            call = Call(tool=kind, arguments={}, channel="cli", client="tollhouse-cli")
            await store.append(
                make_entry(
                    "event", call, operator=config.operator or default_operator(), policy_hash=None,
                    process=process_identity(), redactor=Redactor.from_config(config), outcome="ok",
                    duration_us=0, details={"event": kind, **details},
                )
            )  # fmt: skip
        finally:
            await store.close()

    anyio.run(main)


def _constraints(args: argparse.Namespace) -> dict[str, Any]:
    matches: dict[str, Any] = {}
    for item in args.arg:
        name, sep, glob = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--arg {item!r}: use NAME=GLOB, e.g. --arg 'path=src/*'")
        if isinstance(matches.get(name), dict):
            raise CommandError(f"--arg {name} and --is {name}: give one or the other")
        matches.setdefault(name, []).append(glob)
    for item in args.equals:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--is {item!r}: use NAME=JSON, e.g. --is 'path=\"tmp/a.txt\"'")
        if name in matches:
            raise CommandError(f"--is {name} given twice, or with --arg {name}: give one value")
        try:
            value = json.loads(text)
        except ValueError:
            value = text  # bare text is a string: --is repo=acme/site
        matches[name] = {EXACT: value}
    # One glob is stored as text (the format grants have always had); alternatives as a list.
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in matches.items()}


def run_grant(args: argparse.Namespace) -> int:
    from tollhouse.gate.gate import default_operator
    from tollhouse.store import open_grants
    from tollhouse.tools import build_registry

    config = load(args)
    matches = _constraints(args)
    try:
        expires = parse_duration(args.expires)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if args.uses is not None and args.uses < 1:
        raise CommandError("--uses must be at least 1")
    registry = build_registry(config.tool_families, config.tool_modules)
    check = check_grant(registry, args.tool, matches, exact=bool(args.exact), expires=expires)
    if check.errors:
        raise CommandError("grant refused, nothing recorded: " + "; ".join(check.errors))
    digest = _exact_digest(config, args.tool, args.exact) if args.exact else None
    for warning in check.warnings:
        print(f"tollhouse grant: warning: {warning}", file=sys.stderr)
    conn = open_grants(config)
    try:
        grant = add_grant(
            conn, tool=args.tool, args_match=matches, args_digest=digest, expires_in=expires,
            uses=args.uses, created_by=config.operator or default_operator(), note=args.note,
        )  # fmt: skip
    finally:
        conn.close()
    _record(config, "grant_created", {**grant.to_json(), "warnings": check.warnings})
    if args.json:
        print_json({**grant.to_json(), "warnings": check.warnings})
    else:
        print(f"granted {grant.id}: {_describe(grant)}")
    return exitcodes.OK


def _describe(grant) -> str:  # type: ignore[no-untyped-def]
    parts = [grant.tool]
    if grant.args_match:
        parts.append(json.dumps(grant.args_match))
    if grant.args_digest:
        parts.append(f"exact args {grant.args_digest[:12]}")
    parts.append(
        "no expiry" if grant.expires_at is None
        else "until " + dt.datetime.fromtimestamp(grant.expires_at).isoformat(timespec="minutes")
    )  # fmt: skip
    parts.append("unlimited uses" if grant.uses_left is None else f"{grant.uses_left} uses left")
    if grant.revoked_at:
        parts.append("REVOKED")
    return " · ".join(parts)


def run_grants(args: argparse.Namespace) -> int:
    from tollhouse.store import open_grants
    from tollhouse.tools import build_registry

    config = load(args)
    registry = build_registry(config.tool_families, config.tool_modules)
    conn = open_grants(config)
    try:
        if args.action == "revoke":
            if not args.id:
                raise CommandError("grants revoke needs a grant id (see `tollhouse grants`)")
            if not revoke_grant(conn, args.id):
                raise CommandError(f"no active grant {args.id}", exitcodes.TOOL_ERROR)
            _record(config, "grant_revoked", {"id": args.id})
            print(f"revoked {args.id}")
            return exitcodes.OK
        grants = list_grants(conn, include_inactive=args.all)
    finally:
        conn.close()
    # A grant made before grants were checked may name a tool or argument that does not exist: it
    # never matches, and the listing says so rather than leaving the operator to wonder.
    problems = {g.id: check_grant(registry, g.tool, g.args_match, exact=True).errors for g in grants}
    if args.json:
        print_json([{**g.to_json(), "problems": problems[g.id]} for g in grants])
    elif not grants:
        print("no active grants" if not args.all else "no grants")
    else:
        for g in grants:
            line = f"{g.id}  {_describe(g)}" + (f"  ({g.note})" if g.note else "")
            if problems[g.id]:
                line += "  NEVER MATCHES: " + "; ".join(problems[g.id])
            print(line)
    return exitcodes.OK
