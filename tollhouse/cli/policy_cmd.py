"""``tollhouse policy check``, ``explain TOOL 'JSON'``; ``trust`` and ``diff`` live in policy_trust.

check and explain only inspect: they work on an untrusted file and say so (on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tollhouse.cli import exitcodes

CHECK_HELP = """\
Load the policy in tollhouse.toml, run every rule's examples, and lint it against the tools.
Warnings (a glob matching no tool, a rule that can never match) are printed but do not fail the
command unless --strict is given, so a CI job fails on real errors only.
exit 0: clean, or warnings only · 1: warnings with --strict · 2: the policy does not load, or an
error finding (a failing example)
examples:
  tollhouse policy check
  tollhouse policy check --strict --json
"""

EXPLAIN_HELP = """\
Decide one call without running it, and show every rule that covers the tool: matched or not, and why.
exit 0: allow · 3: deny · 4: ask (needs approval) · 2: bad config, unknown tool or invalid JSON
example: tollhouse policy explain files_write '{"path": "src/app.py", "content": ""}'
"""


def register(sub: Any) -> None:
    from tollhouse.cli import policy_test_cmd, policy_trust

    parser = sub.add_parser("policy", help="check, explain, diff and trust the policy in tollhouse.toml")
    inner = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    check = inner.add_parser(
        "check", help="lint the policy", description=CHECK_HELP, formatter_class=argparse.RawTextHelpFormatter
    )
    check.add_argument("--json", action="store_true", help="print findings as JSON")
    check.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    check.set_defaults(handler=run_check)
    explain = inner.add_parser(
        "explain",
        help="decide one call and show why",
        description=EXPLAIN_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    explain.add_argument("tool", metavar="TOOL", help="tool name, e.g. files_read")
    explain.add_argument(
        "arguments", metavar="JSON", nargs="?", default="{}", help="arguments as a JSON object"
    )
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")
    explain.add_argument(
        "--as", dest="as_operator", metavar="OPERATOR",
        help="decide for this operator (rules' principals); default: [identity] operator or local:user@host",
    )  # fmt: skip
    explain.add_argument(
        "--group", action="append", default=[], metavar="NAME",
        help="a group of that operator (repeat for several); rules see it as group:NAME",
    )  # fmt: skip
    explain.set_defaults(handler=run_explain)
    policy_trust.register(inner)
    policy_test_cmd.register(inner)
    parser.set_defaults(handler=lambda args: (parser.print_help(), exitcodes.USAGE)[1])


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any] | int:
    """(config, registry, policy), or an exit code after printing where the problem is."""
    from tollhouse.config import ConfigError, load_config
    from tollhouse.gate.policy import Policy
    from tollhouse.tools import registry_for

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    from tollhouse.cli.common import trust_note

    note = trust_note(config)
    if note:
        print(f"tollhouse: {note}", file=sys.stderr)
    try:
        registry = registry_for(config)
    except (ValueError, ImportError) as exc:
        print(
            f"error: cannot build the tool registry: {exc}; check [tools] in {config.path}", file=sys.stderr
        )
        return exitcodes.USAGE
    try:
        policy = Policy.load(config, registry)
    except ConfigError as exc:
        print(f"{exc}", file=sys.stderr)
        print("the policy does not load; tollhouse refuses to serve until it does", file=sys.stderr)
        return exitcodes.USAGE
    return config, registry, policy


def _trust_json(config: Any) -> Any:
    from tollhouse.trust import UntrustedPolicy, trust_state

    try:
        return trust_state(config.path, config.text).to_json()
    except UntrustedPolicy as exc:
        return {"status": "error", "error": str(exc)}


def run_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    config, registry, policy = loaded
    findings = policy.lint(registry)
    errors = [f for f in findings if f.level == "error"]
    # Warnings fail only on request: a CI job should not break on a glob that matches no tool yet.
    code = exitcodes.USAGE if errors else (1 if findings and args.strict else exitcodes.OK)
    if args.json:
        print(
            json.dumps(
                {
                    "file": str(config.path),
                    "sha256": policy.sha256,
                    "rules": len(policy.rules),
                    "trust": _trust_json(config),
                    "findings": [f.to_json() for f in findings],
                },
                indent=2,
            )
        )
        return code
    for f in findings:
        where = f"{config.path}:{f.line}" if f.line else f"{config.path}"
        print(f"{where}: {f.level}: {f.message}")
    summary = f"{len(policy.rules)} rules, {len(errors)} errors, {len(findings) - len(errors)} warnings"
    print(("policy ok: " if not findings else "") + summary + f" (sha256 {policy.sha256[:12]})")
    return code


def run_explain(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tollhouse.gate.arguments import validate_arguments

    loaded = _load(args)
    if isinstance(loaded, int):
        return loaded
    _config, registry, policy = loaded
    tool = registry.get(args.tool)
    if tool is None:
        known = ", ".join(registry.names()) or "none"
        print(f"error: unknown tool {args.tool!r}; known tools: {known}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        raw = json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        print(
            f'error: arguments are not valid JSON ({exc}); quote them: \'{{"path": "x"}}\'', file=sys.stderr
        )
        return exitcodes.USAGE
    if not isinstance(raw, dict):
        print('error: arguments must be a JSON object, like \'{"path": "x"}\'', file=sys.stderr)
        return exitcodes.USAGE
    try:
        call_args = validate_arguments(tool.input_model, raw)  # strictly, as the gate does
    except ValidationError as exc:
        print(f"error: arguments are not valid for {tool.name}:", file=sys.stderr)
        for e in exc.errors():
            loc = ".".join(str(p) for p in e["loc"]) or "(arguments)"
            print(f"  {loc}: {e['msg']}", file=sys.stderr)
        schema = json.dumps(tool.input_schema().get("properties", {}), sort_keys=True)
        print(f"  {tool.name} takes: {schema}", file=sys.stderr)
        return exitcodes.USAGE
    from tollhouse.principal import local_operator, principal_names

    operator = args.as_operator or _config.operator or local_operator()
    explanation = policy.explain(tool, call_args, principals=principal_names(operator, args.group))
    decision = explanation.decision
    code = {"allow": exitcodes.OK, "deny": exitcodes.DENIED, "ask": exitcodes.NEEDS_APPROVAL}[decision.effect]
    if args.json:
        print(json.dumps(explanation.to_json(), indent=2, ensure_ascii=False))
        return code
    print(f"decision: {decision.effect} (rules: {', '.join(decision.rules)})")
    print(f"reason:   {decision.reason}")
    print(f"policy:   sha256 {decision.policy_hash[:12]}")
    print("rules considered (built-ins first, then file order):")
    width = max(len(r[0]) for r in explanation.rules)
    for rule_id, effect, matched, why in explanation.rules:
        mark = "match" if matched else "-    "
        print(f"  {mark} {rule_id:<{width}}  {effect:<5}  {why}")
    return code
