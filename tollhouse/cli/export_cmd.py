"""``tollhouse export``: the catalogue as OpenAI / Anthropic / Gemini / MCP tools, or Agent Skills."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load_trusted

HELP = """\
Write the tools this workspace's policy could allow in a provider's own format. Tools every rule
denies are left out. Strict OpenAI schemas are used where the schema allows it; a tool that cannot be
strict is emitted non-strict and the reason is printed on stderr.

examples:
  tollhouse export openai --out tools.json
  tollhouse export openai-responses --no-strict
  tollhouse export anthropic
  tollhouse export gemini
  tollhouse export mcp
  tollhouse export skills --out skills/ --zip
  tollhouse export skills --out build/skills --install project
"""

TARGETS = ("openai", "openai-responses", "anthropic", "gemini", "mcp", "skills")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export", help="emit the tools for OpenAI, Anthropic, Gemini, MCP or as Agent Skills",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("target", choices=TARGETS, help="output format")
    p.add_argument("--out", metavar="PATH", help="file to write (folder for skills); default stdout")
    p.add_argument(
        "--strict", action=argparse.BooleanOptionalAction, default=True,
        help="OpenAI strict schemas where possible (default: --strict)",
    )  # fmt: skip
    p.add_argument("--zip", action="store_true", help="skills: also write <skill>.zip for upload")
    p.add_argument(
        "--install", choices=("project", "user"),
        help="skills: copy into .claude/skills/ (project) or ~/.claude/skills/ (user)",
    )  # fmt: skip
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tollhouse.adapters import skills
    from tollhouse.adapters.export import Catalogue, export, strict_notes

    config = load_trusted(args)  # an untrusted policy: exit 9, nothing runs
    try:
        source = Catalogue(config)
    except Exception as exc:  # a policy or tool module that does not load: say so, export nothing
        raise CommandError(f"cannot load the catalogue: {exc}") from exc
    if args.target == "skills":
        if not args.out:
            raise CommandError("export skills needs --out DIR (the folder to write the skills into)")
        try:
            folders = skills.write_skills(source, Path(args.out))
            written = [str(f) for f in folders]
            if args.zip:
                written += [str(skills.zip_skill(f)) for f in folders]
            if args.install:
                written += [str(p) for p in skills.install(folders, args.install, config.workspace.root)]
        except (FileExistsError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for path in written:
            print(path)
        return exitcodes.OK
    if args.zip or args.install:
        raise CommandError("--zip and --install only apply to `export skills`")
    data = export(args.target, source, strict=args.strict)
    if args.target in ("openai", "openai-responses") and args.strict:
        for note in strict_notes(source):
            print(f"tollhouse: not strict: {note}", file=sys.stderr)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return exitcodes.OK
