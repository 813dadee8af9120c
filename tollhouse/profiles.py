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
tools = ["memory_search", "memory_get", "case_list", "case_use"]
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
# `git log --output=F` would write outside the workspace, so options are not wildcarded. git runs with
# hooks and fsmonitor off and only in this workspace's own repository; ruff's cache stays in the root.
description = "Linters and read-only git, in forms that cannot write elsewhere."
tools = ["shell_run"]
argv = CHECKS
effect = "allow"
examples = [
  { tool = "shell_run", args = { argv = ["git", "status"] }, expect = "allow" },
  { tool = "shell_run", args = { argv = ["git", "diff", "--output=/tmp/x"] }, expect = "deny" },
  { tool = "shell_run", args = { argv = ["ruff", "check", "--output-file", "/tmp/x"] }, expect = "deny" },
  { tool = "shell_run", args = { command = "pytest -q | tee out.txt" }, expect = "deny" },
]

[[rules]]
id = "run-tests"
# pytest runs code from the workspace (tests, conftest.py), which edit-source lets an agent write: code
# the agent controls. TESTS_NOTE
description = "The test suite: workspace code, so TESTS_WHAT."
tools = ["shell_run"]
argv = TESTS
effect = TESTS_EFFECT
examples = [
  { tool = "shell_run", args = { argv = ["pytest", "-q"] }, expect = TESTS_EFFECT },
  { tool = "shell_run", args = { argv = ["pytest", "--basetemp=/etc"] }, expect = "deny" },
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
description = "Linters and read-only git, in forms that cannot write elsewhere."
tools = ["shell_run"]
argv = CHECKS
effect = "allow"

[[rules]]
id = "run-tests"
# pytest runs workspace code (tests, conftest.py) that edit-source lets an agent write. No one is there
# to ask, so it is allowed: CI_NOTE
description = "The test suite (workspace code)."
tools = ["shell_run"]
argv = TESTS
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

# Every form an agent may run. No option is wildcarded: several of these programs have options that
# write to any path (see the run-checks comment in the rendered file). CHECKS run no workspace code (git
# and ruff have their config pinned, docs/tools/shell.md); TESTS do.
CHECKS = (
    '["ruff check", "ruff check .", "ruff format --check", "ruff format --check .",\n'
    '        "git status", "git status --short", "git diff", "git diff --stat", "git diff --cached",\n'
    '        "git log --oneline"]'
)
TESTS = '["pytest", "pytest -q", "pytest -x", "pytest -q -x", "python -m pytest", "python -m pytest -q"]'

# (run-tests comment, description, effect, ci comment) with and without a working sandbox.
TESTS_SANDBOXED = (
    "Here it runs in the sandbox (see [shell]).",
    "sandboxed",
    '"allow"',
    "here in the sandbox (see [shell]).",
)
TESTS_UNSANDBOXED = (
    'Without a sandbox here, a person approves each run; set\n# effect = "allow" only together with '
    '[shell] sandbox = "bwrap".',
    "asked for",
    '"ask"',
    "UNSANDBOXED here (see the WARNING in [shell]);\n# `tollhouse policy check` and `doctor` warn "
    "about this rule.",
)

SANDBOX_ON = """
[shell]
# bubblewrap works on this machine, so every command runs in its sandbox: the system, tollhouse.toml and
# every root's .git read-only, tollhouse state and the operator's keys hidden, no network
# (docs/tools/shell.md#sandbox). That is what makes running the agent's tests unattended honest.
sandbox = "bwrap"
"""

SANDBOX_OFF = """
[shell]
# WARNING: bubblewrap does not work on this machine (`tollhouse doctor` says why), so commands run
# unsandboxed, as you. A command that runs workspace code (pytest runs conftest.py) can do anything you
# can: read your keys, rewrite .git and this policy, reach the network. Once bwrap works, set
# sandbox = "bwrap".
sandbox = "none"
"""

PROFILES = {
    "dev": "A developer's machine: reads and edits of source allowed, other changes ask.",
    "readonly": "Look, never touch: reads and searches only; everything else is denied.",
    "ci": "Unattended: reads, edits under src/ and tests/, test commands; nothing asks (no one to ask).",
}


def render(profile: str, *, sandbox: bool | None = None) -> str:
    """The policy text for ``profile``. ``sandbox``: whether bubblewrap works here (probed when None).
    With it, commands run sandboxed and the tests run unattended; without it, the dev profile asks
    before running the tests and every profile says loudly what that means."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if sandbox is None:
        from tollhouse.tools.shell.sandbox import sandbox_status

        sandbox = sandbox_status().available
    head = f"# profile: {profile}: {PROFILES[profile]}\n"
    body = HEADER
    if profile in ("dev", "ci"):
        body += SANDBOX_ON if sandbox else SANDBOX_OFF
    body += READ + MEMORY_READ + GITHUB_READ
    if profile == "dev":
        body += DEV
    elif profile == "ci":
        body += CI
    if sandbox:
        note, what, effect, ci_note = TESTS_SANDBOXED
    else:
        note, what, effect, ci_note = TESTS_UNSANDBOXED
    for key, value in (
        ("TESTS_NOTE", note),
        ("TESTS_WHAT", what),
        ("TESTS_EFFECT", effect),
        ("CI_NOTE", ci_note),
        ("argv = CHECKS", "argv = " + CHECKS),
        ("argv = TESTS", "argv = " + TESTS),
    ):
        body = body.replace(key, value)
    return head + body
