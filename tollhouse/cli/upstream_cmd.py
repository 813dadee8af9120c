"""``tollhouse upstream list|test|diff|trust``: other MCP servers behind the gate."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load, load_trusted, print_json

HELP = """\
Other MCP servers ([[upstreams]] in tollhouse.toml) whose tools tollhouse publishes as
<upstream>_<tool>, behind the same gate: policy, approvals, redaction and receipts. An upstream's
tools are published only as an operator trusted them; a changed description or schema is withheld
until it is trusted again.

examples:
  tollhouse upstream list
  tollhouse upstream test
  tollhouse upstream diff fs
  tollhouse upstream trust fs
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "upstream", help="other MCP servers behind the gate (list, test, diff, trust)", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    actions = p.add_subparsers(dest="upstream_action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="each upstream, how it is reached, and what is trusted")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(handler=run_list)
    test = actions.add_parser(
        "test", help="start each upstream (or NAME), list its tools, compare with the pins"
    )
    test.add_argument("name", nargs="?", help="one upstream (default: all)")
    test.add_argument("--json", action="store_true", help="machine-readable output")
    test.set_defaults(handler=run_test)
    diff = actions.add_parser(
        "diff", help="what changed since NAME was trusted, and what its descriptions hide"
    )
    diff.add_argument("name")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    diff.set_defaults(handler=run_diff)
    trust = actions.add_parser("trust", help="show NAME's tools (a diff against the pins) and pin them")
    trust.add_argument("name")
    trust.add_argument("--yes", action="store_true", help="trust without asking (after reading the diff)")
    trust.set_defaults(handler=run_trust)


def _builtin_names(config: Any, upstream: str) -> set[str]:
    from tollhouse.tools import build_registry
    from tollhouse.upstreams import upstream_tools

    names = set(build_registry(config.tool_families, config.tool_modules).names())
    return names | {t.name for t in upstream_tools(config) if not t.name.startswith(upstream + "_")}


def run_list(args: argparse.Namespace) -> int:
    from tollhouse.upstreams.pins import load_pins, pins_file
    from tollhouse.upstreams.spec import parse_upstreams

    config = load(args)
    rows = []
    for spec in parse_upstreams(config):
        pins = load_pins(config.root, spec)
        rows.append(
            {
                "name": spec.name,
                "transport": spec.transport,
                "target": " ".join(spec.command) if spec.command else spec.url,
                "trusted": pins is not None,
                "tools": sorted(pins.tools) if pins else [],
                "server": pins.server if pins else None,
                "pins": str(pins_file(config.root, spec.name)),
            }
        )
    if args.json:
        print_json(rows)
        return exitcodes.OK
    if not rows:
        print("no [[upstreams]] in this tollhouse.toml")
    for row in rows:
        state = (
            f"trusted, {len(row['tools'])} tools"
            if row["trusted"]
            else "NOT TRUSTED (tollhouse upstream trust)"
        )
        print(f"{row['name']:<16} {row['transport']:<5} {state}  {row['target']}")
    return exitcodes.OK


def _probe(config: Any, name: str) -> Any:
    import anyio

    from tollhouse.upstreams import admin

    spec = admin.find_spec(config, name)
    probed = anyio.run(admin.probe, config, spec)
    return admin.review(config, spec, probed, _builtin_names(config, name))


def _config(args: argparse.Namespace) -> Any:
    # Starting an upstream runs the command the config names: only a trusted config may do that.
    return load_trusted(args)


def run_test(args: argparse.Namespace) -> int:
    from tollhouse.upstreams.spec import parse_upstreams

    config = _config(args)
    names = [args.name] if args.name else [s.name for s in parse_upstreams(config)]
    results = []
    for name in names:
        rev = _probe(config, name)
        results.append(
            {
                "name": name,
                "ok": rev.probe.error is None,
                "error": rev.probe.error,
                "start_ms": round(rev.probe.started_ms, 1),
                "server": rev.probe.server,
                "tools": len(rev.probe.definitions),
                "trusted": rev.pins is not None,
                "withheld": [f"{c.tool} ({c.kind})" for c in rev.changes if c.kind != "added"],
                "untrusted_new": [c.tool for c in rev.changes if c.kind == "added"],
            }
        )
    if args.json:
        print_json(results)
    for r in results if not args.json else []:
        if not r["ok"]:
            print(f"{r['name']}: FAILED: {r['error']}")
            continue
        server = f"{r['server'].get('name')} {r['server'].get('version')}"
        print(f"{r['name']}: ok, {server}, {r['tools']} tools, started in {r['start_ms']:.0f} ms")
        if not r["trusted"]:
            print(f"  not trusted: nothing is published (tollhouse upstream trust {r['name']})")
        for item in r["withheld"]:
            print(f"  withheld: {item} (tollhouse upstream diff {r['name']})")
        for item in r["untrusted_new"] if r["trusted"] else []:
            print(f"  new, not published until trusted: {item}")
    return exitcodes.OK if all(r["ok"] for r in results) else exitcodes.TOOL_ERROR


def _show(rev: Any) -> None:
    if rev.probe.error is not None:
        raise CommandError(
            f"upstream {rev.spec.name} could not be reached: {rev.probe.error}", exitcodes.TOOL_ERROR
        )
    server = rev.probe.server
    count = len(rev.probe.definitions)
    print(f"upstream {rev.spec.name}: {server.get('name')} {server.get('version')}, {count} tools")
    if rev.pins is None:
        print("never trusted: every tool is new")
    if not rev.changes:
        print("no change since it was trusted")
    for change in rev.changes:
        extra = f" ({', '.join(change.fields)})" if change.fields else ""
        print(f"  {change.kind}: {change.tool}{extra}")
    for line in rev.diff_lines():
        print(line)
    if rev.findings:
        print("findings in the descriptions (hidden text is removed before a model sees it):")
        for finding in rev.findings:
            print(f"  ! {finding.line()}")
    for collision in rev.collisions:
        print(f"  collision: {collision}")


def run_diff(args: argparse.Namespace) -> int:
    rev = _probe(_config(args), args.name)
    if args.json:
        print_json(
            {
                "changes": [c.__dict__ for c in rev.changes],
                "findings": [f.__dict__ for f in rev.findings],
                "collisions": rev.collisions,
                "error": rev.probe.error,
            }
        )
        return exitcodes.OK if not rev.changes else exitcodes.TOOL_ERROR
    _show(rev)
    return exitcodes.OK if not rev.changes else exitcodes.TOOL_ERROR


def run_trust(args: argparse.Namespace) -> int:
    from tollhouse.config import ConfigError
    from tollhouse.upstreams import admin

    config = _config(args)
    rev = _probe(config, args.name)
    _show(rev)
    if rev.pins is not None and not rev.changes:
        print("nothing to trust: the pins already match")
        return exitcodes.OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("not a terminal: read the diff above, then run again with --yes to trust it")
        answer = input(f"Trust these definitions of {args.name}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing was trusted")
            return exitcodes.DENIED
    try:
        pins = admin.trust(config, rev)
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    print(f"trusted {len(pins.tools)} tools of {args.name}; a running server picks them up when restarted")
    return exitcodes.OK
