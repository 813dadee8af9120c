"""The ``tollhouse`` command. Each command group lives in its own module with ``register(sub)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator, Sequence

from tollhouse import __version__

# Each command and the module that registers it, in the order `tollhouse --help` lists them. A
# module joins by adding its commands here.
COMMANDS: dict[str, str] = {
    "init": "tollhouse.cli.init_cmd",
    "call": "tollhouse.cli.call_cmd",
    "tools": "tollhouse.cli.tools_cmd",
    "serve": "tollhouse.cli.serve_cmd",
    "demo": "tollhouse.cli.demo_cmd",
    "install": "tollhouse.cli.install_cmd",
    "doctor": "tollhouse.cli.doctor_cmd",
    "policy": "tollhouse.cli.policy_cmd",
    "grant": "tollhouse.cli.grant_cmd",
    "grants": "tollhouse.cli.grant_cmd",
    "receipts": "tollhouse.cli.receipts_cmd",
    "export": "tollhouse.cli.export_cmd",
    "memory": "tollhouse.cli.memory_cmd",
    "cases": "tollhouse.cli.cases_cmd",
    "auth": "tollhouse.cli.auth_cmd",
    "replay": "tollhouse.cli.replay_cmd",
    "budgets": "tollhouse.cli.budgets_cmd",
}
"""Which module registers each command (a test keeps this in step with what ``register`` adds):
running one command loads and builds only its own module's parser."""
COMMAND_MODULES: list[str] = list(dict.fromkeys(COMMANDS.values()))

EPILOG = """\
exit codes (tollhouse call and friends):
  0 ok · 1 tool error · 2 usage or config error · 3 denied by policy ·
  4 needs approval · 5 timed out · 6 cancelled · 7 receipt store unusable ·
  8 receipts failed verification · 9 policy not trusted (see `tollhouse policy diff`)

Start with `tollhouse init`, then `tollhouse call TOOL 'JSON'`. Docs: docs/ in the repository.
"""


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
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
    for name in modules:
        importlib.import_module(name).register(sub)
    # `tollhouse call --config X` as well as `tollhouse --config X call`; SUPPRESS keeps a value given
    # before the command from being reset by the subcommand's default.
    for _, command in walk(parser):
        if command is not parser and not any("--config" in a.option_strings for a in command._actions):
            command.add_argument(
                "--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS
            )
    return parser


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("tollhouse",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser in the command tree with its command path, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def _command_word(argv: Sequence[str]) -> str | None:
    """The command named on the line (skipping ``--config FILE`` before it), if it is one we know."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word.startswith("--config="):
            continue
        elif word.startswith("-"):
            return None  # --help, --version, or a mistake: the full parser answers those
        else:
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_word(argv)
    # One command's parser is all `tollhouse serve` needs: the other thirteen modules (and what they
    # import) would cost its start-up about 15 ms. Help, errors and unknown words get the full tree.
    parser = build_parser([COMMANDS[command]] if command else COMMAND_MODULES)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    from tollhouse.cli.common import CommandError
    from tollhouse.config import ConfigError

    try:
        return int(handler(args) or 0)
    except CommandError as exc:
        print(f"tollhouse: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:  # a policy or config that does not load: nothing runs
        print(f"tollhouse: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tollhouse: interrupted", file=sys.stderr)
        return 6


if __name__ == "__main__":
    sys.exit(main())
