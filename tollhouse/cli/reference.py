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

## Output

On a terminal, output is for a person: `tollhouse call` prints a file's contents as text and a
command's output as its own streams (the newest line shown live while it runs, then all of it),
tables are coloured (not when `NO_COLOR` is set or `TERM=dumb`), and long work (`receipts verify`,
`receipts export`) draws a progress bar on stderr. Into a pipe or a file, and with `--json`, the
output is what scripts read: JSON, no colour, no progress. Text a model wrote is shown with control
and invisible characters escaped (`\\x1b`), wherever it is shown.

## Exit codes

The same for every command (`tollhouse/cli/exitcodes.py`); a command never exits with another one.
An expected failure (a refusal, a read-only or full disk, a missing workspace) prints one line on
stderr saying what to do, never a traceback. `tollhouse ci` exits with the code of the first
`--fail-on` category found.

| code | meaning |
| ---: | --- |
"""


def _exit_table() -> str:
    from tollhouse.cli.exitcodes import TABLE

    bar = "\\|"  # a literal | inside a Markdown table cell
    return "".join(f"| {code} | {text.replace('|', bar)} |\n" for code, text in TABLE)


def render() -> str:
    from tollhouse.cli import build_parser, walk

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal; the reference must not vary
    try:
        parts = [HEADER, _exit_table()]
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
