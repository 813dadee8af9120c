"""Every command and subcommand explains itself: a description, examples that the parser itself
accepts, `--json` wherever results are printed, and one table of exit codes."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from tollhouse.cli import build_parser, walk
from tollhouse.cli.exitcodes import TABLE

NO_JSON = {
    "serve": "runs a server; prints nothing but its address",
    "demo": "a guided tour for a person",
    "install": "writes a client's config file (h4's module; --print shows the entry)",
    "export": "writes tool definitions in a provider's own format, which is JSON already",
    "receipts prove": "the proof it writes is JSON already",
    "memory review": "interactive: reads answers from standard input",
    "memory export": "writes JSON lines already",
    "memory import": "prints a JSON report already",
    "logout": "removes stored tokens; prints one line",
    "uninstall": "edits a client's config file, like install",
    "upstream trust": "interactive: shows a diff and asks (--yes to skip the question)",
}
"""Leaf commands without --json, each with why (a test keeps this list exact)."""

OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<"}


def _tree() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(" ".join(path[1:]), parser) for path, parser in walk(build_parser())]


def _is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def _example_lines(epilog: str) -> list[str]:
    block = epilog.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def _invocations(line: str) -> list[list[str]]:
    """Each `tollhouse ...` command on an example line (comments after two spaces or # dropped)."""
    command = re.split(r"\s{2,}", line)[0]
    tokens = shlex.split(command, comments=True)
    found = []
    for i, token in enumerate(tokens):
        if token == "tollhouse":
            words = []
            for word in tokens[i + 1 :]:
                if word in OPERATORS:
                    break
                words.append(word)
            found.append(words)
    return found


@pytest.mark.parametrize("path,parser", _tree()[1:], ids=[p for p, _ in _tree()[1:]])
def test_every_command_has_a_description_and_examples_the_parser_accepts(
    path: str, parser: argparse.ArgumentParser
) -> None:
    assert parser.description and len(parser.description.strip()) > 20, path
    assert parser.epilog and "examples:" in parser.epilog, path
    lines = _example_lines(parser.epilog)
    assert lines, path
    full = build_parser()
    mentions = 0
    for line in lines:
        for words in _invocations(line):
            mentions += words[: len(path.split())] == path.split()
            try:
                full.parse_args(words)
            except SystemExit:
                pytest.fail(f"{path}: the example {line!r} is rejected by the parser")
    assert mentions, f"{path}: no example runs `tollhouse {path}`"


def test_every_command_that_prints_results_has_json() -> None:
    without = {path for path, parser in _tree()[1:] if not _is_group(parser)}
    without = {p for p in without if not any("--json" in a.option_strings for a in dict(_tree())[p]._actions)}
    assert without == set(NO_JSON)


def test_one_exit_code_table_in_help_and_docs() -> None:
    from pathlib import Path

    text = build_parser().format_help()
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for code, meaning in TABLE:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", text, re.M), code
        assert f"| {code} | {meaning.replace('|', chr(92) + '|')} |" in docs, code
    assert len({code for code, _ in TABLE}) == len(TABLE)


def test_help_has_no_escape_codes_and_wraps_one_paragraph_texts() -> None:
    parser = dict(_tree())["grants"]
    text = parser.format_help()
    assert "\x1b" not in text
    assert all(len(line) <= 100 for line in text.splitlines()), text


def test_exit_codes_a_command_documents_are_the_shared_ones() -> None:
    known = {code for code, _ in TABLE}
    seen = set()
    for path, parser in _tree():
        for line in f"{parser.description or ''}\n{parser.epilog or ''}".splitlines():
            if re.search(r"\bexit", line, re.I):
                codes = {int(n) for n in re.findall(r"(?<![\w.\-/])(\d{1,3})(?=[:\s,)·]|$)", line)}
                assert codes <= known, (path, line)
                seen |= codes
    assert {0, 1, 2, 3, 4} <= seen  # the parse found the documented codes
