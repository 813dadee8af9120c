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
    "uninstall": "tollhouse.cli.install_cmd",
    "doctor": "tollhouse.cli.doctor_cmd",
    "policy": "tollhouse.cli.policy_cmd",
    "grant": "tollhouse.cli.grant_cmd",
    "grants": "tollhouse.cli.grant_cmd",
    "receipts": "tollhouse.cli.receipts_cmd",
    "export": "tollhouse.cli.export_cmd",
    "memory": "tollhouse.cli.memory_cmd",
    "cases": "tollhouse.cli.cases_cmd",
    "auth": "tollhouse.cli.auth_cmd",
    "ci": "tollhouse.cli.ci_cmd",
    "upstream": "tollhouse.cli.upstream_cmd",
    "login": "tollhouse.cli.login_cmd",
    "whoami": "tollhouse.cli.login_cmd",
    "logout": "tollhouse.cli.login_cmd",
    "store": "tollhouse.cli.store_cmd",
    "run": "tollhouse.cli.run_cmd",
    "replay": "tollhouse.cli.replay_cmd",
    "budgets": "tollhouse.cli.budgets_cmd",
}
"""Which module registers each command (a test keeps this in step with what ``register`` adds):
running one command loads and builds only its own module's parser."""
COMMAND_MODULES: list[str] = list(dict.fromkeys(COMMANDS.values()))


def _epilog() -> str:
    from tollhouse.cli.exitcodes import render_table

    return (
        "examples:\n"
        "  tollhouse init                              a starting policy and state, here\n"
        '  tollhouse call files_list \'{"path": "."}\'    one call through the gate\n'
        "  tollhouse receipts tail                     the latest calls and what became of them\n"
        "  tollhouse doctor                            check the setup\n\n"
        "exit codes (the same for every command):\n"
        f"{render_table()}\n\n"
        "Start with `tollhouse init`, then `tollhouse call TOOL 'JSON'`. Docs: docs/ in the repository.\n"
    )


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tollhouse",
        description="Policy-gated tools for coding agents: every call passes one gate and leaves "
        "a signed, hash-chained receipt.",
        epilog=_epilog(),
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
    from tollhouse.cli.help_examples import apply

    apply(list(walk(parser)))  # every command gets a description and examples, in one place
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
    from tollhouse.cli.errors import guarded

    return guarded(lambda: _main(list(sys.argv[1:] if argv is None else argv)))


def _main(argv: list[str]) -> int:
    command = _command_word(argv)
    # One command's parser is all `tollhouse serve` needs: the other thirteen modules (and what they
    # import) would cost its start-up about 15 ms. Help, errors and unknown words get the full tree.
    parser = build_parser([COMMANDS[command]] if command else COMMAND_MODULES)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    # Every expected failure (a refusal, a config error, a read-only or full disk, a closed pipe) is
    # turned into a message and an exit code by cli/errors.py, in one place for every command.
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
