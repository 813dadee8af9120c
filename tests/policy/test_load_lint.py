"""Load errors (fail closed, located), the examples self-test, lint findings."""

from __future__ import annotations

import pytest

from tollhouse.config import ConfigError
from tollhouse.gate.policy import PolicyError


def _err(make, body: str, **kw) -> PolicyError:
    with pytest.raises(ConfigError) as info:
        make(body, **kw)
    return info.value  # type: ignore[return-value]


GOOD = '[[rules]]\nid = "ok"\ntools = ["files_read"]\neffect = "allow"\n'


def test_unknown_key_names_file_line_and_rule(make, workspace) -> None:
    err = _err(
        make,
        GOOD + '\n[[rules]]\nid = "typo"\ntools = ["files_read"]\npathz = ["src/**"]\neffect = "allow"\n',
    )
    assert isinstance(err, PolicyError)
    assert err.rule_id == "typo"
    assert err.line == 11  # [tools] header 1-2, first rule 3-6, blank, [[rules]] 8, id, tools, pathz 11
    assert str(err).startswith(f"{workspace / 'tollhouse.toml'}:11: rule typo: unknown key 'pathz'")


@pytest.mark.parametrize(
    ("body", "line", "needle"),
    [
        (
            '[[rules]]\nid = "a"\ntools = ["files_read"]\neffect = "permit"\n',
            6,
            "effect must be allow, ask or deny",
        ),
        ('[[rules]]\nid = "a b"\ntools = ["files_read"]\neffect = "allow"\n', 4, "may only use letters"),
        ('[[rules]]\ntools = ["files_read"]\neffect = "allow"\n', 3, "missing required key 'id'"),
        ('[[rules]]\nid = "a"\neffect = "allow"\n', 3, "missing required key 'tools'"),
        (
            '[[rules]]\nid = "a"\ntools = ["files_read"]\npaths = ["/etc/**"]\neffect = "deny"\n',
            6,
            "relative",
        ),
        (
            '[[rules]]\nid = "a"\ntools = ["files_read"]\npaths = ["src/[ab"]\neffect = "deny"\n',
            6,
            "unclosed",
        ),
        ('[[rules]]\nid = "a"\ntools = ["files_read"]\npaths = ["../x"]\neffect = "deny"\n', 6, "'..'"),
        ('[[rules]]\nid = "a"\ntools = ["files_read"]\npaths = []\neffect = "deny"\n', 6, "paths"),
        ('[[rules]]\nid = "a"\ntools = ["Files.Read"]\neffect = "deny"\n', 5, "tools glob"),
        ('[[rules]]\nid = "a"\ntools = ["shell_run"]\nargv = ["git \'oops"]\neffect = "deny"\n', 6, "argv"),
        ('[[rules]]\nid = "default-deny"\ntools = ["x"]\neffect = "deny"\n', 4, "reserved"),
    ],
)
def test_bad_rules_fail_loading(make, body: str, line: int, needle: str) -> None:
    err = _err(make, body)
    assert isinstance(err, PolicyError)
    assert err.line == line, str(err)
    assert needle in str(err)


def test_duplicate_id(make) -> None:
    err = _err(make, GOOD + "\n" + GOOD)
    assert isinstance(err, PolicyError) and err.rule_id == "ok" and err.line == 9
    assert "duplicate rule id" in str(err)


def test_bad_toml_is_located(make) -> None:
    err = _err(make, '[[rules]]\nid = "a\n')
    # Python 3.11's TOMLDecodeError has no lineno attribute; the line is in the message
    assert "not valid TOML" in str(err) and "at line 4" in str(err)


EXAMPLES = """
[[rules]]
id = "edit-src"
tools = ["files_write"]
paths = ["src/**"]
effect = "allow"

[[rules.examples]]
tool = "files_write"
args = { path = "src/app.py" }
expect = "allow"

[[rules.examples]]
tool = "files_write"
args = { path = "src/.env" }
expect = "{second}"

[[rules]]
id = "no-secrets"
tools = ["files_*"]
paths = ["**/.env"]
effect = "deny"
"""


def test_examples_self_test_passes(make) -> None:
    env = make(EXAMPLES.replace("{second}", "deny"))
    assert env.policy.lint(env.registry) == []


def test_examples_self_test_fails_loading(make) -> None:
    err = _err(make, EXAMPLES.replace("{second}", "allow"))
    assert isinstance(err, PolicyError) and err.rule_id == "edit-src" and err.line == 15
    assert "rule edit-src: example 1" in str(err)
    assert "expects allow, but the policy decides deny (denied by rule no-secrets: path src/.env" in str(err)
    make(EXAMPLES.replace("{second}", "allow"), examples=False)  # without a registry: not checked


def test_example_unknown_tool_or_bad_args_fail(make) -> None:
    err = _err(make, GOOD + '[[rules.examples]]\ntool = "files_nope"\nargs = {}\nexpect = "allow"\n')
    assert "unknown tool files_nope" in str(err)
    err = _err(make, GOOD + '[[rules.examples]]\ntool = "files_read"\nargs = { p = 1 }\nexpect = "allow"\n')
    assert "args are not valid for files_read" in str(err) and "path: Field required" in str(err)


def test_lint_findings(make) -> None:
    env = make(
        """
        [[rules]]
        id = "ghost"
        tools = ["files_frobnicate"]
        effect = "allow"

        [[rules]]
        id = "repo-on-files"
        tools = ["files_read"]
        repos = ["a/*"]
        effect = "allow"

        [[rules]]
        id = "bad-arg"
        tools = ["memory_put"]
        args = { colour = "red" }
        effect = "allow"

        [[rules]]
        id = "paths-on-memory"
        tools = ["memory_put"]
        paths = ["**"]
        effect = "deny"

        [[rules]]
        id = "shadowed"
        tools = ["shell_run"]
        argv = ["ls *"]
        effect = "allow"

        [[rules]]
        id = "no-shell"
        tools = ["shell_*"]
        effect = "deny"
        """
    )
    found = {(f.rule_id, f.level): f for f in env.policy.lint(env.registry)}
    assert "matches no tool" in found[("ghost", "warning")].message
    assert "never matches" not in found[("ghost", "warning")].message
    assert "none of its tools (files_read) has a repos facet" in found[("repo-on-files", "warning")].message
    assert "arguments colour" in found[("bad-arg", "warning")].message
    assert "has a paths facet" in found[("paths-on-memory", "warning")].message
    assert "shadowed: deny rule(s) no-shell" in found[("shadowed", "warning")].message
    assert ("no-shell", "warning") not in found
    assert found[("shadowed", "warning")].line == env.policy.line_of("shadowed") == 27


def test_to_json_lists_effective_policy(make) -> None:
    env = make(GOOD)
    doc = env.policy.to_json()
    assert doc["sha256"] == env.policy.sha256
    assert doc["rules"] == [
        {"id": "ok", "description": "", "tools": ["files_read"], "effect": "allow", "examples": []}
    ]
    assert [b["id"] for b in doc["builtins"]] == [
        "workspace.roots",
        "workspace.state",
        "workspace.immutable",
        "default-deny",
    ]
