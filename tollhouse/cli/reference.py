"""docs/cli.md, rendered from the parsers themselves so the reference can never drift from --help.

Regenerate with ``python -m tollhouse.cli.reference > docs/cli.md``; a test fails when it is stale.
"""

from __future__ import annotations

import os

WIDTH = "100"

HEADER = """\
# Command reference

Generated from the commands' own `--help` by `python -m tollhouse.cli.reference > docs/cli.md`
(a test keeps this file in step with the code). `--config FILE` works before or after any command.

Exit codes shared by the commands that run or inspect calls: 0 ok · 1 tool error · 2 usage or
config error · 3 denied by policy · 4 needs approval · 5 timed out · 6 cancelled · 7 receipt store
unusable · 8 receipts failed verification · 9 policy not trusted · 10 the tool ran but its command
failed (`call shell_run`). `tollhouse ci` exits with the code of the first `--fail-on` category found.
"""


def render() -> str:
    from tollhouse.cli import build_parser, walk

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal; the reference must not vary
    try:
        parts = [HEADER]
        for path, parser in walk(build_parser()):
            if len(path) == 1:
                continue
            parser.prog = " ".join(path)
            parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        return "".join(parts)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


if __name__ == "__main__":
    print(render(), end="")
