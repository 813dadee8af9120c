"""`tollhouse policy trust` / `diff`, CI trust by hash, and the commands that only inspect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.trust.conftest import refusal, sha, snapshot, th
from tollhouse.trust import trusted_record

POLICY = """\
[tools]
families = ["files"]

[[rules]]
id = "read"
tools = ["files_read", "files_list"]
effect = "allow"
"""
ADDED = '\n[[rules]]\nid = "write-all"\ntools = ["files_write"]\neffect = "allow"\n'
LIST = '{"path": "."}'


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_config(workspace, POLICY)
    return workspace


def test_trust_records_the_hash_and_diff_shows_the_change(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    assert th(ws, "call", "files_list", LIST).returncode == 0
    old = sha(config)
    config.write_text(POLICY + ADDED)
    new = sha(config)
    diff = th(ws, "policy", "diff")
    assert diff.returncode == 1
    lines = diff.stdout.splitlines()
    assert lines[0].startswith(f"--- trusted (sha256 {old[:12]}, ")
    assert lines[1] == f"+++ {config} (sha256 {new[:12]})"
    assert [line for line in lines if line.startswith("+") and not line.startswith("+++")] == [
        "+", "+[[rules]]", '+id = "write-all"', '+tools = ["files_write"]', '+effect = "allow"',
    ]  # fmt: skip
    assert lines[-1] == f"status: changed (sha256 {new}); accept with `tollhouse policy trust`"
    data = json.loads(th(ws, "policy", "diff", "--json").stdout)
    assert (data["status"], data["sha256"], data["trusted_sha256"]) == ("changed", new, old)
    assert '+id = "write-all"' in data["diff"]

    trusted = th(ws, "policy", "trust")
    assert (trusted.returncode, trusted.stdout) == (0, f"trusted {config}\nsha256 {new}\n")
    assert th(ws, "call", "files_write", '{"path": "x.txt", "content": "hi"}').returncode == 0
    clean = th(ws, "policy", "diff")
    assert (clean.returncode, clean.stdout) == (0, f"{config} is trusted (sha256 {new})\n")
    again = json.loads(th(ws, "policy", "trust", "--json").stdout)
    assert again == {
        "file": str(config),
        "sha256": new,
        "previous_sha256": new,
        "trusted_at": again["trusted_at"],
    }


def test_a_file_never_trusted_diffs_whole_and_is_refused(workspace: Path) -> None:
    config = workspace / "tollhouse.toml"
    config.write_text(POLICY)
    diff = th(workspace, "policy", "diff")
    assert diff.returncode == 1 and diff.stdout.startswith(f"--- never trusted\n+++ {config} (sha256 ")
    out = th(workspace, "call", "files_list", LIST)
    assert (out.returncode, out.stderr) == (9, refusal(config, None, sha(config)))


def test_diff_shows_control_characters_escaped_so_a_line_cannot_hide(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    # ESC [1A ESC [2K: "move up, erase the line" would hide the added rule on a terminal.
    sneaky = (
        POLICY + '\n[[rules]]\nid = "w"\ntools = ["files_write"]\neffect = "allow" # \x1b[1A\x1b[2K\u202e\r\n'
    )
    config.write_bytes(sneaky.encode())
    out = th(ws, "policy", "diff")
    assert "\x1b" not in out.stdout and "\u202e" not in out.stdout and "\r" not in out.stdout
    assert '+effect = "allow" # \\x1b[1A\\x1b[2K\\u202e\\x0d' in out.stdout.splitlines()


@pytest.mark.parametrize("given", ["wrong", "upper", "prefixed"])
def test_expect_refuses_any_other_hash_and_records_nothing(ws: Path, given: str) -> None:
    config = ws / "tollhouse.toml"
    before = trusted_record(config)
    config.write_text(POLICY + ADDED)
    digest = sha(config)
    expect = {"wrong": "0" * 64, "upper": digest.upper(), "prefixed": f"sha256:{digest}"}[given]
    out = th(ws, "policy", "trust", "--expect", expect)
    if given == "wrong":
        assert out.returncode == 9
        assert out.stderr == (
            f"tollhouse: {config} has sha256 {digest}, not the expected {'0' * 64}; nothing trusted. "
            "See the file's changes with `tollhouse policy diff`\n"
        )
        assert trusted_record(config) == before
        assert th(ws, "call", "files_list", LIST).returncode == 9
    else:
        assert out.returncode == 0 and trusted_record(config).sha256 == digest  # type: ignore[union-attr]


def test_trust_refuses_a_policy_that_does_not_load(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    before = trusted_record(config)
    config.write_text(POLICY + '\n[[rules]]\nid = "bad"\ntools = ["files_read"]\neffect = "maybe"\n')
    out = th(ws, "policy", "trust")
    assert out.returncode == 2 and out.stderr.endswith(
        "the policy does not load; fix it first, nothing trusted\n"
    )
    assert trusted_record(config) == before


def test_ci_trusts_by_environment_variable(workspace: Path) -> None:
    config = workspace / "tollhouse.toml"
    config.write_text(POLICY)  # never trusted on this machine
    digest = sha(config)
    assert th(workspace, "call", "files_list", LIST, TOLLHOUSE_TRUST_POLICY=digest).returncode == 0
    assert th(workspace, "serve", stdin="", TOLLHOUSE_TRUST_POLICY=digest).returncode == 0
    # Another hash is refused even where a record would trust the file: the variable is the contract.
    from tollhouse.trust import record_trust

    record_trust(config, POLICY)
    before = snapshot(workspace)
    wrong = th(workspace, "call", "files_list", LIST, TOLLHOUSE_TRUST_POLICY="a" * 64)
    assert wrong.returncode == 9
    assert wrong.stderr == (
        f"tollhouse: policy {config} is not trusted: its sha256 is {digest}, but $TOLLHOUSE_TRUST_POLICY "
        f"expects {'a' * 64}; nothing was run. Review the file (`tollhouse policy diff --config {config}`) "
        "and update $TOLLHOUSE_TRUST_POLICY if the change is yours\n"
    )
    bad = th(workspace, "call", "files_list", LIST, TOLLHOUSE_TRUST_POLICY="yes")
    assert bad.returncode == 9 and "must be the 64 hex digits" in bad.stderr
    assert snapshot(workspace) == before


def test_inspecting_commands_work_on_an_untrusted_file_and_say_so(ws: Path) -> None:
    config = ws / "tollhouse.toml"
    config.write_text(POLICY + ADDED)
    note = f"tollhouse: note: policy {config} changed since you trusted it (trusted sha256 "
    check = th(ws, "policy", "check")
    assert (
        check.returncode == 0
        and check.stderr.startswith(note)
        and "serve, call and export refuse it" in check.stderr
    )
    assert json.loads(th(ws, "policy", "check", "--json").stdout)["trust"]["status"] == "changed"
    explain = th(ws, "policy", "explain", "files_write", '{"path": "a", "content": ""}')
    assert explain.returncode == 0 and explain.stderr.startswith(note)
    assert th(ws, "call", "files_list", LIST, TOLLHOUSE_TRUST_POLICY=sha(config)).returncode == 0
    verify = th(ws, "receipts", "verify")
    assert verify.returncode == 0
    assert verify.stderr.startswith(note.replace("tollhouse: note:", "tollhouse receipts: note:"))
    doctor = json.loads(th(ws, "doctor", "--json").stdout)
    checks = {c["name"]: c for c in doctor["checks"]}
    assert (
        checks["policy trust"]["status"] == "FAIL"
        and "changed since you trusted it" in checks["policy trust"]["detail"]
    )
    assert doctor["ok"] is False


def test_init_trusts_what_it_wrote_and_says_where_the_key_is(workspace: Path) -> None:
    out = th(workspace, "init", "--json")
    data = json.loads(out.stdout)
    config = workspace / "tollhouse.toml"
    assert data["sha256"] == sha(config) == trusted_record(config).sha256  # type: ignore[union-attr]
    assert Path(data["secrets_dir"]).is_dir() and workspace not in Path(data["secrets_dir"]).parents
