"""Rules for some operators: ``principals = ["alice@acme.example", "group:sre"]``. Deny still wins;
a principals rule is never a blanket rule; walkers honour it for the same operator."""

from __future__ import annotations

from typing import Any

import pytest

from tollhouse.gate.policy_rules import PolicyError
from tollhouse.principal import principal_names
from tollhouse.workspace import ResolvedPath

POLICY = """
[[rules]]
id = "sre-reads-ops"
tools = ["files_read"]
paths = ["ops/**"]
principals = ["group:sre", "Alice@Acme.example"]
effect = "allow"

[[rules]]
id = "acme-reads-docs"
tools = ["files_read"]
paths = ["docs/**"]
principals = ["*@acme.example"]
effect = "allow"

[[rules]]
id = "contractors-no-ops-secrets"
tools = ["files_*"]
paths = ["ops/secrets/**"]
principals = ["group:contractors"]
effect = "deny"

[[rules]]
id = "everyone-stat"
tools = ["files_stat"]
effect = "allow"

[[rules]]
id = "no-stat-for-mallory"
tools = ["files_stat"]
principals = ["mallory@acme.example"]
effect = "deny"
"""


def decide(env: Any, tool: str, who: frozenset[str], **args: Any) -> Any:
    t = env.registry.get(tool)
    decision = env.policy.decide(t, t.input_model(**args), principals=who)
    explained = env.policy.explain(t, t.input_model(**args), principals=who)
    assert explained.decision == decision  # explain tells the same story
    return decision, explained


def test_principals_and_groups_match(make) -> None:
    env = make(POLICY)
    cases = [
        (principal_names("bob@acme.example", ["sre"]), "ops/run.md", "allow", ("sre-reads-ops",)),
        (principal_names("alice@acme.example"), "ops/run.md", "allow", ("sre-reads-ops",)),  # no case
        (principal_names("ALICE@ACME.EXAMPLE"), "ops/run.md", "allow", ("sre-reads-ops",)),
        (principal_names("bob@acme.example", ["dev"]), "ops/run.md", "deny", ("default-deny",)),
        (principal_names("eve@evil.example", ["dev"]), "docs/a.md", "deny", ("default-deny",)),
        (principal_names("bob@acme.example"), "docs/a.md", "allow", ("acme-reads-docs",)),
        # The group name is matched as group:<name>, never as an operator name and vice versa.
        (principal_names("sre"), "ops/run.md", "deny", ("default-deny",)),
        (principal_names("group:sre"), "ops/run.md", "allow", ("sre-reads-ops",)),
        (frozenset(), "ops/run.md", "deny", ("default-deny",)),
    ]
    for who, path, effect, rules in cases:
        decision, _ = decide(env, "files_read", who, path=path)
        assert (decision.effect, decision.rules) == (effect, rules), (who, path)


def test_deny_wins_over_an_allow_for_another_group(make) -> None:
    env = make(POLICY)
    who = principal_names("carol@acme.example", ["sre", "contractors"])
    decision, explained = decide(env, "files_read", who, path="ops/secrets/db.txt")
    assert (decision.effect, decision.rules) == ("deny", ("contractors-no-ops-secrets",))
    assert decide(env, "files_read", who, path="ops/run.md")[0].effect == "allow"
    # Someone else is not touched by the contractors' rule; explain says why it did not match.
    other = principal_names("dave@acme.example", ["sre"])
    decision, explained = decide(env, "files_read", other, path="ops/secrets/db.txt")
    assert decision.effect == "allow"
    row = next(r for r in explained.rules if r[0] == "contractors-no-ops-secrets")
    assert row[2] is False
    assert "is none of principals group:contractors" in row[3]


def test_a_principals_deny_without_constraints_is_not_a_blanket_deny(make) -> None:
    env = make(POLICY)
    stat = env.registry.get("files_stat")
    assert env.policy.could_allow(stat)  # still listed for everyone else
    assert decide(env, "files_stat", principal_names("bob@acme.example"), path="x")[0].effect == "allow"
    decision, _ = decide(env, "files_stat", principal_names("mallory@acme.example"), path="x")
    assert (decision.effect, decision.rules) == ("deny", ("no-stat-for-mallory",))


def test_walkers_withhold_files_a_principals_deny_names_for_that_operator_only(make) -> None:
    env = make(POLICY)
    tool = env.registry.get("files_stat")
    secret = ResolvedPath(env.root, "ops/secrets/db.txt", env.root / "ops/secrets/db.txt")
    contractor = env.policy.path_judge(
        tool, tool.input_model(path="."), principals=principal_names("c@x", ["contractors"])
    )
    assert contractor.rule_for(secret) == "contractors-no-ops-secrets"
    other = env.policy.path_judge(tool, tool.input_model(path="."), principals=principal_names("d@x"))
    assert other.rule_for(secret) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[]", "principals"),
        ('[""]', "principals entry '' must name an operator or group:<name>"),
        ('["*"]', "principals entry '*' must name an operator or group:<name>"),
        ('["group:"]', "principals entry 'group:' must name an operator or group:<name>"),
        ('"group:sre"', "principals"),
    ],
)
def test_bad_principals_fail_the_load(make, value: str, message: str) -> None:
    body = f'[[rules]]\nid = "r"\ntools = ["files_read"]\nprincipals = {value}\neffect = "allow"\n'
    with pytest.raises(PolicyError) as err:
        make(body)
    assert message in str(err.value)
    assert err.value.rule_id == "r"


def test_policy_explain_decides_for_an_operator_and_groups(workspace) -> None:
    import subprocess

    from tests.conftest import subprocess_env, tollhouse_cmd, write_config
    from tests.policy.conftest import HEADER

    write_config(workspace, HEADER + POLICY)
    (workspace / "ops").mkdir()

    def explain(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            tollhouse_cmd("policy", "explain", "files_read", '{"path": "ops/run.md"}', *extra),
            cwd=workspace, env=subprocess_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    out = explain("--as", "bob@acme.example", "--group", "dev", "--group", "sre")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("decision: allow (rules: sre-reads-ops)")
    out = explain("--as", "bob@acme.example")
    assert out.returncode == 3
    assert "the caller (bob@acme.example) is none of principals group:sre, Alice@Acme.example" in out.stdout
    out = explain()  # the local operator by default
    assert out.returncode == 3 and "the caller (local:" in out.stdout
