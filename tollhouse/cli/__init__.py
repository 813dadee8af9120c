"""The ``tollhouse`` command. Each command group lives in its own module with ``register(sub)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tollhouse import __version__

# Command modules, in the order `tollhouse --help` lists them. A module joins by adding a line here.
COMMAND_MODULES: list[str] = [
    "tollhouse.cli.memory_cmd",
    "tollhouse.cli.cases_cmd",
]

EPILOG = """\
exit codes (tollhouse call and friends):
  0 ok · 1 tool error · 2 usage or config error · 3 denied by policy ·
  4 needs approval · 5 timed out · 6 cancelled · 7 receipts store unusable

Start with `tollhouse init`, then `tollhouse call TOOL 'JSON'`. Docs: docs/ in the repository.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tollhouse",
        description="Policy-gated tools for coding agents: every call passes one gate and leaves "
        "a signed, hash-chained receipt.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tollhouse {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="tollhouse.toml to use (default: $TOLLHOUSE_CONFIG, else search upward from here)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 6


if __name__ == "__main__":
    sys.exit(main())
