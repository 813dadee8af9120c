"""``tollhouse policy trust`` and ``tollhouse policy diff``: a person accepts the policy in force.

Registered under ``tollhouse policy`` by policy_cmd. The record lives in the operator home (see
``tollhouse.trust``); nothing here writes inside the workspace.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from tollhouse.cli import exitcodes
from tollhouse.cli.common import print_json

TRUST_HELP = """\
Accept the policy in tollhouse.toml as it is now: record its sha256 in the operator home (outside
every workspace). serve, call and export refuse a policy whose hash was not trusted, so an agent
that edits the file cannot change what it may do. A running server picks the new policy up.
Review first with `tollhouse policy diff`.
exit 0: trusted · 2: the config or policy does not load (nothing recorded) ·
9: --expect names another hash, or the operator home lies inside a workspace root (nothing recorded)
examples:
  tollhouse policy diff && tollhouse policy trust
  tollhouse policy trust --expect 3f5a...e1   # CI: refuse unless the file is exactly this one
"""

DIFF_HELP = """\
Show what changed in tollhouse.toml since it was last trusted: a unified diff of the trusted text
(kept in the operator home) against the file. A file never trusted is shown whole, as added.
Control characters in the file are shown escaped (\\x1b), so a line cannot hide itself.
exit 0: the file is the trusted policy · 1: it is not (changed, or never trusted) · 2: no config file
"""

# C0/C1 controls (tab kept) and bidi/invisible format characters: shown escaped, never interpreted by
# the operator's terminal.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def register(inner: Any) -> None:
    trust = inner.add_parser(
        "trust", help="accept the policy as it is now (records its sha256)", description=TRUST_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )  # fmt: skip
    trust.add_argument(
        "--expect", metavar="SHA256", help="refuse unless the file's sha256 is exactly this (for CI)"
    )
    trust.add_argument("--json", action="store_true", help="print the record as JSON")
    trust.set_defaults(handler=run_trust)
    diff = inner.add_parser(
        "diff", help="show what changed since the policy was trusted", description=DIFF_HELP,
        formatter_class=argparse.RawTextHelpFormatter,
    )  # fmt: skip
    diff.add_argument("--json", action="store_true", help="print the state and the diff as JSON")
    diff.add_argument(
        "--replay",
        action="store_true",
        help="also decide the recorded calls under the file and summarise what would change",
    )
    diff.set_defaults(handler=run_diff)


def _fail(message: str, code: int) -> int:
    print(f"tollhouse: {message}", file=sys.stderr)
    return code


def run_trust(args: argparse.Namespace) -> int:
    from tollhouse.config import ConfigError, load_config
    from tollhouse.gate.policy import Policy
    from tollhouse.tools import registry_for
    from tollhouse.trust import (
        ENV_EXPECT,
        UntrustedPolicy,
        check_home_outside,
        guarded_folders,
        policy_digest,
        record_trust,
        trusted_record,
    )

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        return _fail(f"{exc}; nothing trusted", exitcodes.USAGE)
    assert config.path is not None
    digest = policy_digest(config.text)
    if args.expect is not None:
        expected = args.expect.strip().lower().removeprefix("sha256:")
        if expected != digest:
            return _fail(
                f"{config.path} has sha256 {digest}, not the expected {expected}; nothing trusted. "
                f"See the file's changes with `tollhouse policy diff`",
                exitcodes.UNTRUSTED,
            )
    try:
        check_home_outside(guarded_folders(config))
    except UntrustedPolicy as exc:
        return _fail(f"{exc}; nothing trusted", exitcodes.UNTRUSTED)
    try:
        # Trusting a policy that cannot be enforced helps nobody: it must load, examples and all.
        Policy.load(config, registry_for(config))
    except (ConfigError, ValueError, ImportError) as exc:
        return _fail(f"{exc}\nthe policy does not load; fix it first, nothing trusted", exitcodes.USAGE)
    previous = trusted_record(config.path)
    record = record_trust(config.path, config.text)
    if args.json:
        print_json(
            {
                "file": str(config.path),
                "sha256": record.sha256,
                "previous_sha256": previous.sha256 if previous else None,
                "trusted_at": record.trusted_at,
            }
        )
    else:
        same = previous is not None and previous.sha256 == record.sha256
        print(f"trusted {config.path}" + (" (unchanged)" if same else ""))
        print(f"sha256 {record.sha256}")
    env = os.environ.get(ENV_EXPECT)
    if env and env.strip().lower().removeprefix("sha256:") != record.sha256:
        print(
            f"tollhouse: note: ${ENV_EXPECT} is set and names another hash; it overrides this record",
            file=sys.stderr,
        )
    return exitcodes.OK


def _escape(line: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else
                       f"\\u{ord(m.group()):04x}", line)  # fmt: skip


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run_diff(args: argparse.Namespace) -> int:
    from tollhouse.config import ConfigError, find_config, read_config_text
    from tollhouse.trust import UntrustedPolicy, trust_state

    try:
        path = find_config(getattr(args, "config", None))
        text = read_config_text(path)
    except ConfigError as exc:
        return _fail(str(exc), exitcodes.USAGE)
    try:
        state = trust_state(path, text)
    except UntrustedPolicy as exc:
        return _fail(str(exc), exitcodes.USAGE)
    record = state.record
    if record is None:
        from tollhouse.trust import trusted_record

        record = trusted_record(path)
    old = record.text if record else ""
    before = "never trusted"
    if record is not None:
        before = f"trusted (sha256 {record.sha256[:12]}, {_when(record.trusted_at)})"
    after = f"{path} (sha256 {state.sha256[:12]})"
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True), text.splitlines(keepends=True), fromfile=before, tofile=after
        )
    )
    replayed = None
    if getattr(args, "replay", False):
        from tollhouse.cli.replay_cmd import replay_summary

        replayed = replay_summary(args, path)
    if args.json:
        extra = {} if replayed is None else {"replay": replayed}
        print_json({**state.to_json(), "diff": "".join(lines), **extra})
    else:
        for line in lines:
            # Only the newline is taken off: a \r (or any control) is shown escaped, never hidden.
            print(_escape(line.removesuffix("\n")))
            if not line.endswith("\n"):
                print("\\ No newline at end of file")
        if replayed is not None:
            print(replayed.get("line") or f"replay: {replayed.get('error')}")
        if state.ok:
            print(f"{path} is trusted (sha256 {state.sha256})")
        else:
            print(f"status: {state.status} (sha256 {state.sha256}); accept with `tollhouse policy trust`")
    return exitcodes.OK if state.ok else 1
