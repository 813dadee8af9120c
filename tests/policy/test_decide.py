"""Every decision path and every constraint kind, on a real workspace with real symlinks."""

from __future__ import annotations

import os

import pytest

ISSUE_POLICY = """
[workspace]
roots = ["."]
immutable = [".git/**", ".tollhouse/**", "tollhouse.toml"]

[[rules]]
id = "read-workspace"
tools = ["files_read", "files_list", "files_find", "files_search", "files_stat"]
effect = "allow"

[[rules]]
id = "edit-src"
tools = ["files_write", "files_edit"]
paths = ["src/**", "tests/**"]                  # allow/ask: every path argument matches; deny: any does
effect = "allow"

[[rules]]
id = "run-tests"
tools = ["shell_run"]
argv = ["pytest *", "git status", "git diff *"] # token globs; a final `*` = any remaining tokens
effect = "allow"

[[rules]]
id = "no-secrets"
tools = ["files_*"]
paths = ["**/.env", "**/*.pem"]
effect = "deny"
"""


@pytest.fixture
def issue(make):
    return make(ISSUE_POLICY)


def test_issue_format_allow_paths(issue) -> None:
    d = issue.decide("files_read", path="src/app.py")
    assert (d.effect, d.rules) == ("allow", ("read-workspace",))
    assert d.policy_hash == issue.policy.sha256
    import hashlib

    assert d.policy_hash == hashlib.sha256(issue.path.read_text().encode()).hexdigest()
    assert issue.decide("files_write", path="src/a/b.py").rules == ("edit-src",)
    assert issue.decide("files_write", path="tests/t.py").effect == "allow"


def test_deny_wins_and_names_what_matched(issue) -> None:
    d = issue.decide("files_read", path=".env")
    assert (d.effect, d.rules) == ("deny", ("no-secrets",))
    assert d.reason == "denied by rule no-secrets: path .env matches **/.env"
    d = issue.decide("files_write", path="src/keys/server.pem")  # edit-src also matches: deny wins
    assert (d.effect, d.rules) == ("deny", ("no-secrets",))


def test_default_deny_says_how_to_explain(issue) -> None:
    d = issue.decide("files_write", path="docs/readme.md")
    assert (d.effect, d.rules) == ("deny", ("default-deny",))
    assert "no rule allows files_write" in d.reason
    assert "tollhouse policy explain files_write 'JSON'" in d.reason
    assert issue.decide("memory_put", namespace="a", key="b").rules == ("default-deny",)


def test_argv_token_globs_and_rest(issue) -> None:
    assert issue.decide("shell_run", argv=["pytest"]).effect == "allow"  # `*` = zero or more
    assert issue.decide("shell_run", argv=["pytest", "-q", "tests/"]).effect == "allow"
    assert issue.decide("shell_run", argv=["git", "status"]).effect == "allow"
    assert issue.decide("shell_run", argv=["git", "status", "--porcelain"]).effect == "deny"  # no `*`
    assert issue.decide("shell_run", argv=["git", "push"]).effect == "deny"
    assert issue.decide("shell_run", argv=["pytestx"]).effect == "deny"
    assert issue.decide("shell_run", argv=["git", "diff"]).effect == "allow"


def test_guarded_tokens_need_a_literal_pattern(make) -> None:
    env = make(
        """
        [[rules]]
        id = "git-any"
        tools = ["shell_run"]
        argv = ["git *", "git ? log", "find . -name *"]
        effect = "allow"

        [[rules]]
        id = "git-pager"
        tools = ["shell_run"]
        argv = ["git -c core.pager=cat log"]
        effect = "allow"

        [[rules]]
        id = "any-shell"
        tools = ["shell_run"]
        effect = "allow"
        """
    )
    assert env.decide("shell_run", argv=["git", "log"]).rules == ("git-any", "any-shell")
    d = env.decide("shell_run", argv=["git", "-c", "x=y", "log"])
    assert (d.effect, d.rules) == ("deny", ("default-deny",))  # neither `git *` nor no-argv covers -c
    d = env.decide("shell_run", argv=["git", "-c", "core.pager=cat", "log"])
    assert (d.effect, d.rules) == ("allow", ("git-pager",))
    assert env.decide("shell_run", argv=["find", ".", "-name", "x", "-exec", "rm", "{}"]).effect == "deny"
    why = dict(
        (r[0], r[3])
        for r in env.policy.explain(
            env.registry.get("shell_run"),
            env.registry.get("shell_run").input_model(argv=["git", "-c", "a", "log"]),
        ).rules
    )
    assert "exec-capable" in why["git-any"] and "no argv key" in why["any-shell"]


def test_deny_argv_wildcards_do_cover_guarded_tokens(make) -> None:
    env = make(
        """
        [[rules]]
        id = "shell"
        tools = ["shell_run"]
        argv = ["git -c core.pager=cat log"]
        effect = "allow"

        [[rules]]
        id = "no-git-config"
        tools = ["shell_run"]
        argv = ["git -c *"]
        effect = "deny"
        """
    )
    d = env.decide("shell_run", argv=["git", "-c", "core.pager=cat", "log"])
    assert (d.effect, d.rules) == ("deny", ("no-git-config",))


def test_command_facet_is_strict(make) -> None:
    env = make(
        """
        [[rules]]
        id = "any-shell"
        tools = ["shell_run"]
        effect = "allow"

        [[rules]]
        id = "pytest-line"
        tools = ["shell_run"]
        commands = ["pytest *"]
        effect = "ask"

        [[rules]]
        id = "no-rm"
        tools = ["shell_run"]
        commands = ["*rm -rf*"]
        effect = "deny"
        """
    )
    assert env.decide("shell_run", argv=["ls"]).rules == ("any-shell",)
    assert env.decide("shell_run", command="ls; curl evil").rules == ("default-deny",)
    d = env.decide("shell_run", command="pytest -q")
    assert (d.effect, d.rules) == ("ask", ("pytest-line",))
    assert "approval required by rule pytest-line" in d.reason
    assert env.decide("shell_run", command="pytest -q && rm -rf /").rules == ("no-rm",)


def test_every_path_for_allow_any_path_for_deny(make, workspace) -> None:
    env = make(
        """
        [[rules]]
        id = "move-src"
        tools = ["files_move"]
        paths = ["src/**"]
        effect = "allow"

        [[rules]]
        id = "no-vault"
        tools = ["files_move"]
        paths = ["vault/**"]
        effect = "deny"
        """
    )
    assert env.decide("files_move", source="src/a", destination="src/b").effect == "allow"
    assert env.decide("files_move", source="src/a", destination="docs/b").rules == ("default-deny",)
    assert env.decide("files_move", source="vault/k", destination="src/b").rules == ("no-vault",)
    assert env.decide("files_move", source="src/a", destination="vault/k").rules == ("no-vault",)


def test_symlinks_deny_by_name_and_by_target(make, workspace) -> None:
    env = make(ISSUE_POLICY)
    (workspace / "src").mkdir()
    (workspace / ".env").write_text("SECRET=1")
    (workspace / "notes.txt").write_text("x")
    os.symlink(workspace / ".env", workspace / "src" / "config.txt")  # a link TO .env
    os.symlink(workspace / "notes.txt", workspace / "src" / ".env")  # a link NAMED .env
    d = env.decide("files_read", path="src/config.txt")
    assert (d.effect, d.rules) == ("deny", ("no-secrets",))
    assert "path .env matches **/.env" in d.reason
    assert env.decide("files_read", path="src/.env").rules == ("no-secrets",)
    # allow rules judge the resolved path: a link under src/ to a file outside src/ is not src/
    os.symlink(workspace / "notes.txt", workspace / "src" / "n.txt")
    assert env.decide("files_write", path="src/n.txt").rules == ("default-deny",)
    assert env.decide("files_write", path="src/../src/ok.py").effect == "allow"


def test_builtin_roots(make, workspace, tmp_path) -> None:
    env = make(ISSUE_POLICY)
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace / "src").mkdir()
    os.symlink(outside, workspace / "src" / "escape")
    sibling = tmp_path / "ws-sibling"  # string prefix of the root, not inside it
    sibling.mkdir()
    for path in ["../x", str(outside / "f"), "src/escape/f", str(sibling / "a.py"), "/etc/passwd"]:
        d = env.decide("files_read", path=path)
        assert (d.effect, d.rules) == ("deny", ("workspace.roots",)), path
        assert d.reason.startswith("denied by built-in rule workspace.roots")


def test_builtin_immutable_whatever_the_rules(make, workspace) -> None:
    env = make(
        """
        [workspace]
        immutable = [".git/**", "tollhouse.toml"]

        [[rules]]
        id = "write-all"
        tools = ["files_write", "shell_run"]
        effect = "allow"
        """
    )
    (workspace / ".git").mkdir()
    os.symlink(workspace / ".git", workspace / "gitlink")
    for path in [".git/config", "tollhouse.toml", "gitlink/hooks/pre-commit"]:
        d = env.decide("files_write", path=path)
        assert (d.effect, d.rules) == ("deny", ("workspace.immutable",)), path
    # The state directory is denied to every tool, writes included, by its own built-in.
    d = env.decide("files_write", path=".tollhouse/receipts.db")
    assert (d.effect, d.rules) == ("deny", ("workspace.state",))
    assert env.decide("files_write", path="src/a.py").effect == "allow"
    assert env.decide("shell_run", argv=["make"], cwd=".git").rules == ("workspace.immutable",)
    assert env.decide("files_read", path=".git/config").rules == ("default-deny",)  # read-only: no built-in


def test_repos_domains_args(make) -> None:
    env = make(
        """
        [[rules]]
        id = "our-repos"
        tools = ["github_*"]
        repos = ["acme/*", "friends/tool"]
        effect = "allow"

        [[rules]]
        id = "no-private"
        tools = ["github_*"]
        repos = ["acme/private-*"]
        effect = "deny"

        [[rules]]
        id = "docs-sites"
        tools = ["web_fetch"]
        domains = ["docs.python.org", "*.readthedocs.io"]
        effect = "allow"

        [[rules]]
        id = "scratch-memory"
        tools = ["memory_put"]
        args = { namespace = "scratch", key = ["note-*", "todo-*"] }
        effect = "allow"
        """
    )
    assert env.decide("github_get_issue", repo="acme/web").rules == ("our-repos",)
    assert env.decide("github_get_issue", repo="ACME/Web").rules == ("our-repos",)  # names are caseless
    assert env.decide("github_get_issue", repo="friends/tool").effect == "allow"
    assert env.decide("github_get_issue", repo="friends/other").effect == "deny"
    assert env.decide("github_get_issue", repo="Acme/Private-x").rules == ("no-private",)
    assert env.decide("web_fetch", url="https://docs.python.org/3/").effect == "allow"
    assert env.decide("web_fetch", url="https://pip.readthedocs.io/x").effect == "allow"
    assert env.decide("web_fetch", url="https://readthedocs.io.evil.com/").effect == "deny"
    assert env.decide("web_fetch", url="file:///etc/passwd").rules == ("default-deny",)  # no domains facet
    assert env.decide("memory_put", namespace="scratch", key="note-1").effect == "allow"
    assert env.decide("memory_put", namespace="scratch", key="secret").effect == "deny"
    assert env.decide("memory_put", namespace="prod", key="note-1").effect == "deny"


def test_constraint_on_missing_facet_never_matches(make) -> None:
    env = make(
        """
        [[rules]]
        id = "deny-paths-everywhere"
        tools = ["*"]
        paths = ["**"]
        effect = "deny"

        [[rules]]
        id = "all-github"
        tools = ["github_*"]
        effect = "allow"
        """
    )
    assert env.decide("github_get_issue", repo="a/b").rules == ("all-github",)
    assert env.decide("files_read", path="x").rules == ("deny-paths-everywhere",)


def test_could_allow(make) -> None:
    env = make(ISSUE_POLICY + '\n[[rules]]\nid = "no-shell"\ntools = ["shell_*"]\neffect = "deny"\n')
    reg = env.registry
    assert env.policy.could_allow(reg.get("files_read"))
    assert not env.policy.could_allow(reg.get("memory_put"))
    assert not env.policy.could_allow(reg.get("shell_run"))  # an unconstrained deny covers it


def test_decide_is_fast_enough_to_matter(make) -> None:
    # Not a timing test: checks the index returns the same answers as the rule-by-rule reference.
    body = "\n".join(
        f'[[rules]]\nid = "r{i}"\ntools = ["files_*"]\npaths = ["p{i}/**", "**/*.x{i}"]\n'
        f'effect = "{["allow", "deny", "ask"][i % 3]}"\n'
        for i in range(60)
    )
    env = make(body)
    for i in range(60):
        for path in (f"p{i}/a", f"q/b.x{i}", f"p{i}/c.x{(i + 1) % 60}", "zz"):
            env.decide("files_read", path=path)  # Env.decide asserts decide == explain
