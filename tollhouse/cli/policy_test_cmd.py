"""``tollhouse policy test FILE`` and ``policy test --record FILE``: golden cases for CI.

Registered under ``tollhouse policy`` by policy_cmd; the machinery is ``tollhouse.gate.replay``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes

TEST_HELP = """\
Check the policy in tollhouse.toml against golden cases: recorded calls kept in a file, each with
the decision (allow, ask or deny, and optionally the rules) it must get. Nothing runs.
`--record FILE` writes the cases from the receipt history instead (one per distinct tool and
arguments; calls whose arguments were redacted or kept only as a digest are left out and counted).
Review the file, commit it next to the policy, and run `tollhouse policy test FILE` in CI.
exit 0: every case decided as expected (or recorded) · 1: some case was not (or is unknown) ·
2: bad config, policy, case file or time
examples:
  tollhouse policy test --record policy-cases.json --since 30d
  tollhouse policy test policy-cases.json --fail-on loosened
"""


def register(inner: Any) -> None:
    from tollhouse.cli.replay_cmd import add_selection, add_verdict

    p = inner.add_parser(
        "test",
        help="check the policy against golden cases (or --record them from history)",
        description=TEST_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", nargs="?", help="the case file to check")
    p.add_argument("--record", metavar="FILE", help="write cases from the receipt history to FILE")
    add_selection(p)
    add_verdict(p)
    p.add_argument("--all", action="store_true", help="list cases that passed too")
    p.set_defaults(handler=run_test)


def run_test(args: argparse.Namespace) -> int:
    import anyio

    from tollhouse.cli.replay_cmd import fail, load_workspace, replay_calls, report, selection
    from tollhouse.config import ConfigError
    from tollhouse.gate.policy import Policy
    from tollhouse.gate.replay import failing, load_recorded
    from tollhouse.gate.replay_cases import CaseFileError, cases_from_history, read_cases, write_cases
    from tollhouse.receipts.errors import ReceiptStoreError

    if bool(args.file) == bool(args.record):
        return fail("give a case FILE to check, or --record FILE to write one (not both)")
    loaded = load_workspace(args)
    if isinstance(loaded, int):
        return loaded
    config, registry = loaded
    if args.record:
        try:
            recorded = load_recorded(config.state_dir / "receipts.db", **selection(args))
        except (ValueError, ReceiptStoreError) as exc:
            return fail(str(exc))
        cases, skipped = cases_from_history(recorded)
        try:
            write_cases(Path(args.record), cases)
        except OSError as exc:
            return fail(f"cannot write {args.record}: {exc.strerror or exc}")
        print(
            f"wrote {len(cases)} case(s) from {len(recorded)} recorded call(s) to {args.record}; "
            f"{skipped} left out (arguments redacted or kept only as a digest)"
        )
        return exitcodes.OK
    try:
        policy = Policy.load(config, registry)
    except ConfigError as exc:
        return fail(f"the policy does not load: {exc}")
    try:
        cases = read_cases(Path(args.file))
    except CaseFileError as exc:
        return fail(str(exc))
    results = anyio.run(replay_calls, config, registry, policy, cases)
    bad = failing(results, args.fail_on, args.allow_unknown)
    report(results, policy, args, bad)
    if not args.json:
        print(f"{len(cases) - len(bad)}/{len(cases)} case(s) pass", file=sys.stderr)
    return 1 if bad else exitcodes.OK
