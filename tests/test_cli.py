"""The commands a person types, run as real subprocesses in a fresh workspace."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, trust_config


def th(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
        input=stdin, timeout=60,
    )  # fmt: skip


@pytest.fixture
def ws(workspace: Path) -> Path:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("print('hi')\n")
    (workspace / ".env").write_text("API_KEY=do-not-read\n")
    out = th(workspace, "init")
    assert out.returncode == 0, out.stderr
    return workspace


@pytest.mark.parametrize("profile", ["dev", "readonly", "ci"])
def test_every_profile_loads_and_passes_its_own_check(workspace: Path, profile: str) -> None:
    out = th(workspace, "init", "--profile", profile)
    assert out.returncode == 0, out.stderr
    assert (workspace / ".tollhouse" / "receipts.db").exists()
    assert oct((workspace / ".tollhouse").stat().st_mode & 0o777) == "0o700"
    check = th(workspace, "policy", "check")
    assert check.returncode == 0, check.stdout + check.stderr  # warnings (absent families) do not fail


def test_init_keeps_an_existing_config_and_only_adds_missing_state(ws: Path) -> None:
    """A second init never replaces the policy (that took --force and lost it): it keeps the file
    byte for byte and recreates only missing state, so doctor's "run `tollhouse init`" is safe."""
    before = (ws / "tollhouse.toml").read_bytes()
    out = th(ws, "init")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"kept {ws / 'tollhouse.toml'} as it is")
    assert "nothing to do" in out.stdout
    assert (ws / "tollhouse.toml").read_bytes() == before
    assert not (ws / "tollhouse.toml.bak").exists()


def test_call_allowed_read_prints_the_result_and_exits_0(ws: Path) -> None:
    out = th(ws, "call", "files_read", '{"path": "src/app.py"}', "--json")
    assert out.returncode == 0, out.stderr
    outcome = json.loads(out.stdout)
    assert outcome["status"] == "ok" and "print('hi')" in json.dumps(outcome["result"])
    # files_read is read-only: receipts v2 write it as one entry.
    assert outcome["decision"]["rules"] == ["read-workspace"] and len(outcome["receipts"]) == 1


def test_call_denied_names_the_rule_and_exits_3(ws: Path) -> None:
    out = th(ws, "call", "files_read", '{"path": ".env"}')
    assert out.returncode == 3
    assert "no-secrets" in out.stderr and "do-not-read" not in out.stdout + out.stderr


def test_call_needing_approval_without_a_terminal_exits_4_then_a_grant_allows_it(ws: Path) -> None:
    (ws / "old.log").write_text("x")
    args = '{"path": "old.log"}'
    out = th(ws, "call", "files_delete", args)
    assert out.returncode == 4 and "tollhouse grant files_delete" in out.stderr
    assert (ws / "old.log").exists()
    grant = th(ws, "grant", "files_delete", "--arg", "path=old.log", "--uses", "1", "--json")
    assert grant.returncode == 0, grant.stderr
    gid = json.loads(grant.stdout)["id"]
    ok = th(ws, "call", "files_delete", args, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["approver"] == f"grant:{gid}"
    assert not (ws / "old.log").exists()
    (ws / "old.log").write_text("again")
    again = th(ws, "call", "files_delete", args)
    assert again.returncode == 4  # the single use is spent
    assert (ws / "old.log").exists()
    listed = th(ws, "grants", "--all", "--json")
    assert json.loads(listed.stdout)[0]["uses_left"] == 0


def test_default_dev_policy_allows_checks_and_denies_their_writing_options(ws: Path) -> None:
    ok = th(ws, "policy", "explain", "shell_run", '{"argv": ["git", "status"]}')
    assert ok.returncode == 0 and "run-checks" in ok.stdout
    for argv in (["git", "diff", "--output=/tmp/x"], ["pytest", "--basetemp=/etc"], ["rm", "-rf", "/"]):
        out = th(ws, "policy", "explain", "shell_run", json.dumps({"argv": argv}))
        assert out.returncode == 3, (argv, out.stdout)


def test_grant_revoke_and_bad_input(ws: Path) -> None:
    gid = json.loads(th(ws, "grant", "files_*", "--json").stdout)["id"]
    assert th(ws, "grants", "revoke", gid).returncode == 0
    assert th(ws, "grants", "--json").stdout.strip() == "[]"
    bad = th(ws, "grant", "files_write", "--expires", "soon")
    assert bad.returncode == 2 and "bad duration 'soon'" in bad.stderr
    bad = th(ws, "grant", "files_write", "--arg", "nonsense")
    assert bad.returncode == 2 and "NAME=GLOB" in bad.stderr
    bad = th(ws, "grant", "files_write", "--exact", '{"path": 3}')
    assert bad.returncode == 2 and "do not fit files_write" in bad.stderr
    conn = sqlite3.connect(ws / ".tollhouse" / "receipts.db")
    events = [r[0] for r in conn.execute("SELECT tool FROM receipts WHERE kind='event'")]
    conn.close()
    assert events == ["grant_created", "grant_revoked"]


def test_call_input_errors(ws: Path) -> None:
    out = th(ws, "call", "files_read", "{nope")
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    out = th(ws, "call", "files_read", '{"path": 7}')
    assert out.returncode == 1 and "invalid arguments for files_read" in out.stderr
    out = th(ws, "call", "files_read", "-", stdin='{"path": "src/app.py"}')
    assert out.returncode == 0, out.stderr


def test_no_config_is_a_clear_usage_error(workspace: Path) -> None:
    out = th(workspace, "call", "files_read", "{}")
    assert out.returncode == 2 and "run `tollhouse init`" in out.stderr


def test_broken_policy_fails_closed_with_file_and_line(ws: Path) -> None:
    cfg = ws / "tollhouse.toml"
    cfg.write_text(
        cfg.read_text() + '\n[[rules]]\nid = "oops"\ntools = ["files_read"]\neffect = "allow"\npath = ["x"]\n'
    )
    trust_config(cfg)  # trusted (as it stands), yet it does not load: still nothing runs
    out = th(ws, "call", "files_read", '{"path": "src/app.py"}')
    assert out.returncode == 2 and "tollhouse.toml:" in out.stderr and "oops" in out.stderr


def test_unusable_store_exits_7_and_runs_nothing(ws: Path) -> None:
    db = ws / ".tollhouse" / "receipts.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.mkdir()  # a directory where the database should be
    out = th(ws, "call", "files_write", '{"path": "src/new.py", "content": "x"}')
    assert out.returncode == 7 and "nothing was run" in out.stderr
    assert not (ws / "src" / "new.py").exists()


def test_tools_lists_the_catalogue_with_policy(ws: Path) -> None:
    out = th(ws, "tools", "--json")
    assert out.returncode == 0, out.stderr
    tools = {t["name"]: t for t in json.loads(out.stdout)}
    assert (
        tools["files_read"]["could_allow"] is True and tools["files_read"]["input_schema"]["type"] == "object"
    )
    assert "read" in tools["files_read"]["effects"]
    human = th(ws, "tools", "--family", "files")
    assert "files_write" in human.stdout and "github_" not in human.stdout


def test_config_option_works_before_and_after_the_command(ws: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = str(ws / "tollhouse.toml")
    for argv in (("--config", cfg, "call", "files_stat", '{"path": "src/app.py"}'),
                 ("call", "files_stat", '{"path": "src/app.py"}', "--config", cfg)):  # fmt: skip
        out = th(elsewhere, *argv)
        assert out.returncode == 0, out.stderr


def test_config_option_after_a_nested_command(ws: Path, tmp_path: Path) -> None:
    out = th(tmp_path, "receipts", "tail", "-n", "1", "--config", str(ws / "tollhouse.toml"))
    assert out.returncode == 0, out.stderr


def test_each_command_parser_alone_is_the_one_in_the_full_tree() -> None:
    import argparse

    from tollhouse.cli import COMMAND_MODULES, COMMANDS, build_parser

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return dict(action.choices)

    full = commands(build_parser())
    assert set(full) == set(COMMANDS)  # every command is mapped to its module, and nothing else
    assert set(COMMANDS.values()) == set(COMMAND_MODULES)
    for module in COMMAND_MODULES:
        alone = commands(build_parser([module]))
        assert set(alone) == {name for name, mod in COMMANDS.items() if mod == module}
        for name, parser in alone.items():
            assert parser.format_help() == full[name].format_help(), name


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["serve"], "serve"),
        (["--config", "x.toml", "serve", "--http"], "serve"),
        (["--config=x.toml", "call", "files_read", "{}"], "call"),
        (["--help"], None),
        (["serv"], None),  # a typo gets the full tree, so the error lists every command
        ([], None),
    ],
)
def test_the_command_word_is_found_past_global_options(argv: list[str], word: str | None) -> None:
    from tollhouse.cli import _command_word

    assert _command_word(argv) == word
