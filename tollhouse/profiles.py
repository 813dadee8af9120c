"""Starting policies written by ``tollhouse init --profile``. Each is safe by default: no rule means
deny, secrets are denied outright, and anything that changes the world outside the workspace asks."""

from __future__ import annotations

HEADER = """\
# tollhouse.toml: what agents may do in this workspace. Docs: docs/policy.md
# Precedence: deny wins over ask, ask over allow; a call that no rule matches is denied.
# Check it with `tollhouse policy check`; see why a call is decided as it is with
# `tollhouse policy explain TOOL 'JSON'`.

[workspace]
roots = ["."]                                   # relative to this file
# Never written, moved or deleted by any tool, whatever the rules below say. Built in besides:
# every .git and .gitmodules at any depth, .tollhouse/ (never even read) and this file. conftest.py,
# Makefile and the like are workspace code that allowed commands run: add them here to seal them.
immutable = [".git/**", ".tollhouse/**", "tollhouse.toml"]

[receipts]
checkpoint_every = 1000                         # sign the chain head every N receipts (and at exit)
synchronous = "normal"                          # "full" also survives a power loss, at a cost

[redaction]
env = ["GITHUB_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]

[[rules]]
id = "no-secrets"
description = "Secret files are never read or written by an agent."
tools = ["files_*"]
paths = ["**/.env", "**/.env.*", "**/*.pem", "**/*.key", "**/id_rsa*", "**/id_ed25519*"]
effect = "deny"
"""

READ = """
[[rules]]
id = "read-workspace"
description = "Read, list and search anything in the workspace (secrets are denied above)."
tools = ["files_read", "files_read_many", "files_list", "files_find", "files_search", "files_stat"]
effect = "allow"
"""

MEMORY_READ = """
[[rules]]
id = "memory-read"
tools = ["memory_search", "memory_get", "case_list"]
effect = "allow"
"""

GITHUB_READ = """
[[rules]]
id = "github-read"
tools = ["github_get_*", "github_list_*", "github_search_*"]
effect = "allow"
"""

DEV = """
# Precedence is deny > ask > allow, so an "ask for everything else" rule would also catch what an
# allow rule lets through. Edits outside these folders are denied; add a rule to open more.
[[rules]]
id = "edit-source"
description = "Edit code, tests and docs without asking."
tools = ["files_write", "files_edit", "files_mkdir"]
paths = ["src/**", "tests/**", "docs/**", "examples/**"]
effect = "allow"
examples = [
  { tool = "files_write", args = { path = "src/app.py", content = "" }, expect = "allow" },
  { tool = "files_write", args = { path = "setup.cfg", content = "" }, expect = "deny" },
]

[[rules]]
id = "move-delete"
description = "Moving or deleting files asks first."
tools = ["files_move", "files_delete"]
effect = "ask"

[[rules]]
id = "run-checks"
# Exact forms only: `pytest --basetemp=DIR`, `ruff check --output-file F`, `git diff --output=F` and
# `git log --output=F` would write outside the workspace, so options are not wildcarded. Note that
# pytest runs code from the workspace (tests, conftest.py), which edit-source lets an agent write:
# set effect = "ask" here if agents must not run code unattended.
description = "Tests, linters and read-only git, in forms that cannot write elsewhere."
tools = ["shell_run"]
argv = CHECKS
effect = "allow"
examples = [
  { tool = "shell_run", args = { argv = ["pytest", "-q"] }, expect = "allow" },
  { tool = "shell_run", args = { argv = ["git", "diff", "--output=/tmp/x"] }, expect = "deny" },
  { tool = "shell_run", args = { argv = ["ruff", "check", "--output-file", "/tmp/x"] }, expect = "deny" },
  { tool = "shell_run", args = { command = "pytest -q | tee out.txt" }, expect = "deny" },
]
# To let agents ask for more commands, add a rule naming them, e.g.
# [[rules]]
# id = "build-asks"
# tools = ["shell_run"]
# argv = ["make *", "npm run *"]
# effect = "ask"

[[rules]]
id = "memory-propose"
description = "Agents propose facts; a person accepts them with `tollhouse memory review`."
tools = ["memory_propose", "case_open", "case_note", "case_handoff"]
effect = "allow"

[[rules]]
id = "memory-write"
tools = ["memory_write"]
effect = "ask"

[[rules]]
id = "github-write"
tools = ["github_comment", "github_create_issue", "github_update_issue", "github_create_pull"]
effect = "ask"
"""

CI = """
[[rules]]
id = "edit-source"
tools = ["files_write", "files_edit", "files_mkdir"]
paths = ["src/**", "tests/**"]
effect = "allow"

[[rules]]
id = "run-checks"
description = "Tests, linters and read-only git, in forms that cannot write elsewhere; nothing else runs."
tools = ["shell_run"]
argv = CHECKS
effect = "allow"
examples = [
  { tool = "shell_run", args = { argv = ["pytest", "-q"] }, expect = "allow" },
  { tool = "shell_run", args = { argv = ["pytest", "--basetemp=/etc"] }, expect = "deny" },
]

[[rules]]
id = "cases"
tools = ["case_open", "case_note", "case_handoff", "memory_propose"]
effect = "allow"

[[rules]]
id = "no-direct-memory"
tools = ["memory_write"]
effect = "deny"
"""

# Every form an agent may run without asking. No option is wildcarded: several of these programs have
# options that write to any path (see the run-checks comment in the rendered file).
CHECKS = (
    '["pytest", "pytest -q", "pytest -x", "pytest -q -x", "python -m pytest", "python -m pytest -q",\n'
    '        "ruff check", "ruff check .", "ruff format --check", "ruff format --check .",\n'
    '        "git status", "git status --short", "git diff", "git diff --stat", "git diff --cached",\n'
    '        "git log --oneline"]'
)

PROFILES = {
    "dev": "A developer's machine: reads and edits of source allowed, other changes ask.",
    "readonly": "Look, never touch: reads and searches only; everything else is denied.",
    "ci": "Unattended: reads, edits under src/ and tests/, test commands; nothing asks (no one to ask).",
}


def render(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    head = f"# profile: {profile}: {PROFILES[profile]}\n"
    body = HEADER + READ + MEMORY_READ + GITHUB_READ
    if profile == "dev":
        body += DEV
    elif profile == "ci":
        body += CI
    return head + body.replace("argv = CHECKS", "argv = " + CHECKS)
