"""Descriptions and examples for `--help`, applied to the whole command tree in one pass.

A command module may write its own description and ``examples:`` epilog; this pass fills in what a
module left out (so every command and subcommand has both, which a test checks by walking the
parser), moves an ``examples:`` block written inside a description to the epilog, and gives every
parser one formatter: a one-paragraph text is wrapped to the terminal, a text laid out in lines
(examples, tables) is kept as written.
"""

from __future__ import annotations

import argparse

DESCRIPTIONS: dict[str, str] = {
    "policy": "Check, explain, review and trust the policy in tollhouse.toml. Every command that "
    "enforces the policy (serve, call, export) refuses a file whose sha256 a person has not trusted.",
    "grants": "List the grants recorded with `tollhouse grant` (active ones unless --all), or revoke "
    "one by its id. A revoked grant stops covering calls at once, in running servers too.",
    "memory review": "Go through the facts agents proposed, one by one, oldest first: accept, reject "
    "or skip each. Answers are read from standard input, so a script can pipe them in.",
    "memory accept": "Accept one proposed fact by its id; a fact that supersedes another retires it.",
    "memory reject": "Reject one proposed fact by its id; it stays in the history, marked rejected.",
    "memory contradictions": "Accepted facts that share a subject and predicate but disagree on the "
    "object: candidates for a correcting proposal.",
    "memory search": "Full-text search over facts (accepted ones unless --status says otherwise).",
    "memory export": "Every fact with its history, one JSON object a line, for backup or moving.",
    "memory import": "Import facts from JSONL: a `tollhouse memory export`, or the graph of the "
    "reference MCP memory server. Prints a JSON report of what was added and skipped.",
    "cases list": "Cases, most recently changed first, with their status and title.",
    "cases show": "The case file: goal, notes, handoffs, facts and the calls made under the case "
    "(from the receipts), as Markdown or JSON.",
    "cases open": "Open a case for a piece of work that outlives one session. Agents file calls "
    "under it with case_use or the case id in a call's _meta.",
}
"""Descriptions of parsers registered without one, by command path (without ``tollhouse``)."""

EXAMPLES: dict[str, list[str]] = {
    "upstream list": ["tollhouse upstream list", "tollhouse upstream list --json"],
    "upstream test": [
        "tollhouse upstream test                  start every upstream and compare its tools with the pins",
        "tollhouse upstream test browser --json",
    ],
    "upstream diff": ["tollhouse upstream diff browser", "tollhouse upstream diff browser --json"],
    "upstream trust": [
        "tollhouse upstream trust browser         show the diff and findings, then ask",
        "tollhouse upstream trust browser --yes   pin without asking (CI, after review)",
    ],
    "whoami": ["tollhouse whoami", "tollhouse whoami --json"],
    "logout": ["tollhouse logout", "tollhouse logout --all                  every issuer's tokens"],
    "store status": ["tollhouse store status", "tollhouse store status --json"],
    "store verify": ["tollhouse store verify", "tollhouse store verify --log 3f2a9c --json"],
    "store export": [
        "tollhouse store export --out bundles/",
        "tollhouse store export --out bundles/ --log 3f2a9c",
    ],
    "store migrate": [
        "tollhouse store migrate --to postgresql://tollhouse@db.internal/tollhouse",
        "tollhouse store migrate --to postgresql://tollhouse@127.0.0.1/tollhouse --json",
    ],
    "serve": [
        "tollhouse serve                          stdio, for a client that starts the server",
        "tollhouse serve --read-only              only tools whose every effect is read",
        "tollhouse serve --http 127.0.0.1:8765    Streamable HTTP with a bearer token",
    ],
    "demo": ["tollhouse demo", "tollhouse demo --ask --keep"],
    "install": [
        "tollhouse install claude-code",
        "tollhouse install cursor --print         show the entry without writing it",
    ],
    "doctor": ["tollhouse doctor", "tollhouse doctor --json | jq '.checks[] | select(.status==\"FAIL\")'"],
    "policy": [
        "tollhouse policy check",
        'tollhouse policy explain files_write \'{"path": "src/app.py", "content": ""}\'',
        "tollhouse policy diff && tollhouse policy trust",
    ],
    "policy check": ["tollhouse policy check", "tollhouse policy check --json"],
    "policy explain": [
        'tollhouse policy explain files_write \'{"path": "src/app.py", "content": ""}\'',
        'tollhouse policy explain shell_run \'{"argv": ["git", "status"]}\' --json',
    ],
    "policy diff": ["tollhouse policy diff", "tollhouse policy diff --json"],
    "grants": [
        "tollhouse grants",
        "tollhouse grants --all --json",
        "tollhouse grants revoke 7",
    ],
    "memory": [
        "tollhouse memory review",
        "tollhouse memory search deploy --json",
        "tollhouse memory export -o facts.jsonl",
    ],
    "memory review": ["tollhouse memory review", "printf 'a\\nr: outdated\\nq\\n' | tollhouse memory review"],
    "memory accept": [
        "tollhouse memory accept 12",
        "tollhouse memory accept 12 --note 'checked in the runbook'",
    ],
    "memory reject": ["tollhouse memory reject 13 --note 'wrong service'"],
    "memory contradictions": ["tollhouse memory contradictions", "tollhouse memory contradictions --json"],
    "memory search": [
        "tollhouse memory search 'release process'",
        "tollhouse memory search --tag ops --json",
    ],
    "memory export": ["tollhouse memory export -o facts.jsonl", "tollhouse memory export | wc -l"],
    "memory import": [
        "tollhouse memory import facts.jsonl",
        "tollhouse memory import memory.json --status proposed",
    ],
    "cases list": ["tollhouse cases list --status open", "tollhouse cases list --tag auth --json"],
    "cases show": ["tollhouse cases show fix-login-bug", "tollhouse cases show fix-login-bug --json"],
    "cases note": ["tollhouse cases note fix-login-bug 'SSO callback URL was wrong in staging' --json"],
    "cases handoff": [
        "tollhouse cases handoff fix-login-bug --kind progress --summary 'half done' --next 'write tests'",
        "tollhouse cases handoff fix-login-bug --kind blocked --summary 'no access' --blocker 'IdP admin'",
    ],
    "cases close": ["tollhouse cases close fix-login-bug --summary 'fixed in #412' --done 'SSO login works'"],
    "cases open": ["tollhouse cases open 'Fix login bug' --goal 'Users can log in with SSO' --tag auth"],
    "auth": ["tollhouse auth list", "tollhouse auth status", "tollhouse auth test github:default"],
    "auth list": ["tollhouse auth list", "tollhouse auth list --json"],
    "auth status": ["tollhouse auth status", "tollhouse auth status --json"],
    "auth test": ["tollhouse auth test", "tollhouse auth test github:default --json"],
}
"""Examples of parsers registered without an ``examples:`` block, by command path."""


class Formatter(argparse.HelpFormatter):
    """Wrap a one-paragraph text; keep a text laid out in lines (examples, tables) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip("\n"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _split_examples(description: str) -> tuple[str, str]:
    """A description holding an ``examples:`` block: (the description without it, the block)."""
    for marker in ("\nexamples:\n", "\nexample:\n"):
        at = description.find(marker)
        if at >= 0:
            stop = description.find("\n\n", at + len(marker))
            stop = len(description) if stop < 0 else stop
            block = "examples:\n" + description[at + len(marker) : stop].strip("\n") + "\n"
            rest = (description[:at].rstrip() + "\n\n" + description[stop:].strip("\n")).strip("\n")
            return rest + "\n", block
    return description, ""


def apply(tree: list[tuple[tuple[str, ...], argparse.ArgumentParser]]) -> None:
    """Give every parser in ``tree`` (from ``cli.walk``) a description, examples and the formatter."""
    for path, parser in tree:
        key = " ".join(path[1:])
        parser.formatter_class = Formatter
        if not key:
            continue
        if not parser.description:
            parser.description = DESCRIPTIONS.get(key) or _help_of(tree, path)
        if parser.description and "examples:" not in (parser.epilog or ""):
            before, block = _split_examples(parser.description)
            if block:
                parser.description = before
                parser.epilog = block + ("\n\n" + parser.epilog if parser.epilog else "")
        epilog = parser.epilog or ""
        if epilog.startswith("example:\n"):
            parser.epilog = epilog = "examples:" + epilog[len("example:") :]
        if "examples:" not in epilog and key in EXAMPLES:
            block = "examples:\n" + "".join(f"  {line}\n" for line in EXAMPLES[key])
            parser.epilog = block + ("\n" + epilog if epilog else "")


def _help_of(
    tree: list[tuple[tuple[str, ...], argparse.ArgumentParser]], path: tuple[str, ...]
) -> str | None:
    """The one-line help a parent gave this subcommand, as a last resort description."""
    parents = [p for pth, p in tree if pth == path[:-1]]
    for parent in parents:
        for action in parent._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.dest == path[-1] and choice.help:
                        return choice.help[0].upper() + choice.help[1:] + "."
    return None
