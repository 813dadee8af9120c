"""Claude Agent Skills: one skill folder per tool family, teaching the model to run each tool through
``tollhouse call TOOL 'JSON'`` so skill-driven calls pass the same gate (channel ``cli``).

Layout (agentskills.io): ``<name>/SKILL.md`` (frontmatter + short body) and ``references/<tool>.md``
(argument table and the master JSON Schema), loaded only when the model needs them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import zipfile
from pathlib import Path
from typing import Any

from tollhouse.adapters import _jsonschema as js
from tollhouse.adapters.examples import example_args, example_problem
from tollhouse.adapters.spec import SpecLike, specs_of

__all__ = [
    "example_args",
    "example_problem",
    "install",
    "skill_names",
    "validate_skill",
    "write_skills",
    "zip_skill",
]

NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ALLOWED_KEYS = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
RESERVED = ("anthropic", "claude")
MAX_DESCRIPTION = 1024
GENERATOR = "tollhouse"


def skill_name(family: str) -> str:
    """The family's skill name on its own: kebab case, no reserved word, at most 64 characters."""
    name = re.sub(r"[^a-z0-9]+", "-", f"tollhouse-{family}".lower())
    while any(word in name for word in RESERVED):  # a loop: "claclaudeude" leaves "claude" behind
        for word in RESERVED:
            name = name.replace(word, "-")
    name = re.sub(r"-{2,}", "-", name).strip("-")
    return name[:64].rstrip("-")


def skill_names(families: list[str]) -> dict[str, str]:
    """Family -> a skill name no other family gets. Two families that normalise alike (``a_b``,
    ``a-b``, or names cut at 64 characters) each get a suffix from a digest of their own name, so
    neither folder replaces the other and the result does not depend on the order of ``families``."""
    base = {family: skill_name(family) for family in families}
    counts: dict[str, int] = {}
    for name in base.values():
        counts[name] = counts.get(name, 0) + 1
    out: dict[str, str] = {}
    for family, name in base.items():
        if counts[name] > 1:
            digest = hashlib.sha1(family.encode(), usedforsecurity=False).hexdigest()[:8]
            name = f"{name[:55].rstrip('-')}-{digest}"
        out[family] = name
    return out


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text).replace("<", "(").replace(">", ")")


def describe(family: str, specs: list[SpecLike]) -> str:
    """What the skill does and when to use it, within the 1024-character limit. The "Use when" part
    is what a client matches tasks against, so a long tool list is cut, never that sentence."""
    names = ", ".join(s.name for s in specs)
    what = "; ".join(s.title.rstrip(".") for s in specs)
    head = f"Policy-gated {family} tools run through tollhouse ({names}): {what}."
    tail = (
        f" Use when the task needs any of these {family} operations in this workspace; every call is "
        "checked by the workspace policy and leaves a signed receipt."
    )
    head, tail = (t.replace("<", "(").replace(">", ")") for t in (head, tail))
    if len(tail) > MAX_DESCRIPTION // 2:  # an absurdly long family name: keep the generic sentence
        tail = " Use when the task needs these operations; every call is checked by policy and receipted."
    room = MAX_DESCRIPTION - len(tail)
    if len(head) > room:
        head = head[: room - 1].rstrip() + "…"
    return head + tail


def call_line(spec: SpecLike) -> str:
    args = json.dumps(example_args(spec.input_schema), ensure_ascii=False)
    return f"tollhouse call {spec.name} {shlex.quote(args)}"


def example_note(spec: SpecLike) -> list[str]:
    """A warning under a call line whose example the schema rejects (we could not build a valid one)."""
    problem = example_problem(spec.input_schema)
    if problem is None:
        return []
    return ["", f"The example above is incomplete ({_first_line(problem)}); edit it before running."]


def _first_line(text: str) -> str:
    return " ".join(text.split())[:200].replace("<", "(").replace(">", ")")


def _argument_rows(schema: dict[str, Any]) -> list[str]:
    norm = js.normalise(schema)
    defs = norm.get("$defs", {})
    required = set(norm.get("required", []))
    rows = ["| argument | type | required | default | description |", "|---|---|---|---|---|"]
    for name, prop in norm.get("properties", {}).items():
        node = js.resolve(prop, defs)
        kinds = node.get("type") or [js.resolve(b, defs).get("type", "object") for b in node.get("anyOf", [])]
        kind = kinds if isinstance(kinds, str) else " or ".join(str(k) for k in kinds) or "any"
        default = json.dumps(node["default"], ensure_ascii=False) if "default" in node else ""
        desc = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {kind} | {'yes' if name in required else 'no'} | {default} | {desc} |")
    return rows


def _reference(spec: SpecLike) -> str:
    lines = [f"# {spec.name}: {spec.title}", "", spec.description.strip(), "", "## Arguments", ""]
    lines += [*_argument_rows(spec.input_schema), "", "## Example", "", "```sh", call_line(spec), "```"]
    lines += example_note(spec)
    lines += ["", "## Input JSON Schema (what the gate validates)", "", "```json"]
    lines += [json.dumps(spec.input_schema, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)


def _skill_md(name: str, family: str, specs: list[SpecLike]) -> str:
    front = [
        "---",
        f"name: {name}",
        f"description: {json.dumps(describe(family, specs), ensure_ascii=False)}",
        "metadata:",
        f"  generated-by: {GENERATOR}",
        "---",
        "",
    ]
    body = [
        f"# tollhouse {family} tools",
        "",
        "Run each tool with the `tollhouse` command from the workspace folder. Arguments are one JSON",
        "object in single quotes. Every call is checked by the workspace policy and receipted.",
        "",
        "Exit codes: `0` ok (result on stdout), `1` tool error or invalid arguments (read the message,",
        "fix the arguments, retry), `3` denied by policy (do not retry; tell the user which rule),",
        "`4` needs approval (ask the user to approve with `tollhouse grant`). Add `--json` for the full",
        "outcome.",
        "",
        "## Tools",
        "",
    ]
    for spec in specs:
        body += [
            f"### {spec.name}: {spec.title}",
            "",
            _first_sentence(spec.description),
            "",
            "```sh",
            call_line(spec),
            "```",
            *example_note(spec),
            "",
            f"Arguments: [references/{spec.name}.md](references/{spec.name}.md)",
            "",
        ]
    return "\n".join(front + body)


def write_skills(source: Any, out_dir: Path) -> list[Path]:
    """Write one skill folder per family into ``out_dir``; returns the folders."""
    families: dict[str, list[SpecLike]] = {}
    for spec in specs_of(source):
        families.setdefault(spec.family, []).append(spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    folders = []
    names = skill_names(list(families))
    for family, specs in sorted(families.items()):
        name = names[family]
        folder = out_dir / name
        _check_replaceable(folder)
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "references").mkdir(parents=True)
        (folder / "SKILL.md").write_text(_skill_md(name, family, specs), encoding="utf-8")
        for spec in specs:
            (folder / "references" / f"{spec.name}.md").write_text(_reference(spec), encoding="utf-8")
        problems = validate_skill(folder)
        if problems:  # our own output must pass the rules; fail loudly rather than ship a broken skill
            raise ValueError(f"generated skill {name} is invalid: {'; '.join(problems)}")
        folders.append(folder)
    return folders


def _check_replaceable(folder: Path) -> None:
    skill = folder / "SKILL.md"
    if folder.exists() and not (skill.exists() and f"generated-by: {GENERATOR}" in skill.read_text("utf-8")):
        raise FileExistsError(
            f"{folder} exists and was not generated by tollhouse; move it away or choose another folder"
        )


def frontmatter(text: str) -> dict[str, Any]:
    """Parse the frontmatter block (YAML subset we and most skills use: scalars and one-level maps)."""
    if not text.startswith("---\n"):
        raise ValueError("SKILL.md must start with a '---' frontmatter line")
    end = text.find("\n---", 4)
    if end < 0:
        raise ValueError("frontmatter is not closed by a '---' line")
    data: dict[str, Any] = {}
    current: str | None = None
    for line in text[4:end].splitlines():
        if not line.strip():
            continue
        if line.startswith("  ") and current is not None:
            key, _, value = line.strip().partition(":")
            data[current][key.strip()] = _scalar(value.strip())
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"frontmatter line is not 'key: value': {line!r}")
        current = key.strip()
        data[current] = _scalar(value.strip()) if value.strip() else {}
    return data


def _scalar(value: str) -> Any:
    return json.loads(value) if value.startswith('"') else value


def validate_skill(folder: Path) -> list[str]:
    """The Agent Skills rules (agentskills.io, Anthropic's quick_validate): empty list when valid."""
    skill = folder / "SKILL.md"
    if not skill.exists():
        return ["SKILL.md is missing"]
    try:
        data = frontmatter(skill.read_text("utf-8"))
    except ValueError as exc:
        return [str(exc)]
    problems = [f"unexpected frontmatter key {k!r}" for k in sorted(set(data) - ALLOWED_KEYS)]
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
        problems.append(f"name {name!r} must be 1-64 lowercase letters, digits and single hyphens")
    elif name != folder.name:
        problems.append(f"name {name!r} must match the folder name {folder.name!r}")
    elif any(word in name for word in RESERVED):
        problems.append(f"name {name!r} must not contain {' or '.join(RESERVED)}")
    desc = data.get("description")
    if not isinstance(desc, str) or not 1 <= len(desc) <= MAX_DESCRIPTION:
        problems.append(f"description must be 1-{MAX_DESCRIPTION} characters")
    elif "<" in desc or ">" in desc:
        problems.append("description must not contain angle brackets")
    return problems


def zip_skill(folder: Path, dest_dir: Path | None = None) -> Path:
    """``<name>.zip`` for upload to claude.ai or the Skills API: the folder itself at the top."""
    target = (dest_dir or folder.parent) / f"{folder.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder.parent).as_posix())
    return target


def install(folders: list[Path], scope: str, workspace_root: Path) -> list[Path]:
    """Copy skill folders into ``.claude/skills/`` (scope ``project``) or ``~/.claude/skills/``
    (``user``). A folder there that tollhouse did not generate is never overwritten."""
    if scope not in ("project", "user"):
        raise ValueError(f"install scope must be 'project' or 'user', not {scope!r}")
    base = (workspace_root if scope == "project" else Path.home()) / ".claude" / "skills"
    base.mkdir(parents=True, exist_ok=True)
    out = []
    for folder in folders:
        dest = base / folder.name
        _check_replaceable(dest)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest)
        out.append(dest)
    return out
