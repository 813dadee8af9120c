"""The per-file judgement a walker asks must say exactly what a files_read of that file would be told:
withheld by the deny (or unapproved ask) rule that would decide it, or by the state built-in."""

from __future__ import annotations

import pytest

from tollhouse.workspace import ResolvedPath

POLICY = """
[[rules]]
id = "no-secrets"
tools = ["files_*"]
paths = ["**/.env", "**/.env.*", "**/*.pem", "**/*.key", "**/id_rsa*"]
effect = "deny"

[[rules]]
id = "vault"
tools = ["files_read"]
paths = ["vault/**"]
effect = "deny"

[[rules]]
id = "drafts"
tools = ["files_read"]
paths = ["drafts/**"]
effect = "ask"

[[rules]]
id = "stat-only-deny"
tools = ["files_stat"]
paths = ["logs/**"]
effect = "deny"

[[rules]]
id = "read-all"
tools = ["files_read", "files_stat"]
effect = "allow"
"""

PATHS = [
    ".env", "a/b/.env", ".env.local", "x/.env.prod", "k.pem", "deep/er/k.key", "id_rsa", "home/id_rsa.pub",
    "vault", "vault/x/y.txt", "drafts/a.md", "src/app.py", "README.md", ".envrc", "env", "a.pem.txt",
    "pem", "logs/today.log", "src/vault/x", ".tollhouse", ".tollhouse/receipts.db", "x/.tollhouse/y",
]  # fmt: skip


def judge(env, tool: str, approved: tuple[str, ...] = ()):
    t = env.registry.get(tool)
    return env.policy.path_judge(t, t.input_model(path="."), approved)


def at(env, rel: str) -> ResolvedPath:
    return ResolvedPath(env.root, rel, env.root / rel)


@pytest.mark.parametrize("tool", ["files_read", "files_stat"])
def test_judge_agrees_with_deciding_a_read_of_each_file(make, tool) -> None:
    env = make(POLICY)
    j = judge(env, tool)
    for rel in PATHS:
        d = env.decide("files_read", path=rel)
        expected = d.rules[0] if d.effect in ("deny", "ask") else None
        if tool == "files_stat" and rel.startswith("logs/"):
            expected = "stat-only-deny"  # the walking tool's own rules apply too
        assert j.rule_for(at(env, rel)) == expected, (tool, rel, d)


def test_the_state_built_in_wins_and_is_counted(make) -> None:
    env = make(POLICY)
    j = judge(env, "files_stat")
    assert j.withhold(env.root, ".tollhouse/state.db") == "workspace.state"
    assert j.withhold(env.root, ".env") == "no-secrets"
    assert j.withhold(env.root, "src/app.py") is None
    assert (j.count, j.withheld) == (2, {"workspace.state": 1, "no-secrets": 1})
    assert j.note() == (
        "2 entries were withheld by policy (rules no-secrets, workspace.state): "
        "not listed, opened or searched; a withheld folder counts once"
    )


def test_an_approved_ask_covers_its_call_and_nothing_else(make) -> None:
    env = make(POLICY)
    assert judge(env, "files_read").rule_for(at(env, "drafts/a.md")) == "drafts"
    approved = judge(env, "files_read", approved=("drafts",))
    assert approved.rule_for(at(env, "drafts/a.md")) is None
    assert approved.rule_for(at(env, "vault/x")) == "vault"
    assert approved.rule_for(at(env, "drafts/.env")) == "no-secrets"  # deny still wins inside
