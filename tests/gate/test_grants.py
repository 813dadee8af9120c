"""Grants checked like rules, tried as a hostile model (and a hurried operator) would.

Real gate, real files, real state.db; the `tollhouse grant` command and the hint a refusal prints run
as real subprocesses (the hint through `bash -c`, exactly as a person would paste it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd, write_config
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.grant_match import escape_path_glob
from tollhouse.gate.grants import add_grant
from tollhouse.gate.types import Call
from tollhouse.globs import compile_path_glob
from tollhouse.state.db import open_sync

POLICY = """
[tools]
families = ["files", "shell"]

[[rules]]
id = "ask-writes"
tools = ["files_write", "files_delete", "files_read_many"]
effect = "ask"

[[rules]]
id = "ask-shell"
tools = ["shell_run"]
effect = "ask"

[[rules]]
id = "ask-find-exec"
tools = ["shell_run"]
argv = ["find . -exec touch pwned ;"]
effect = "ask"
"""

HINT_LEAD = "An operator can allow it with: "


@pytest.fixture
def ws(workspace: Path) -> Path:
    for d in ("tmp", "src", "notes"):
        (workspace / d).mkdir()
    (workspace / "src" / "app.py").write_text("print('hi')\n")
    write_config(workspace, POLICY)
    return workspace


def th(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tollhouse_cmd(*args), cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )


def grants(ws: Path) -> list[dict]:
    conn = sqlite3.connect(ws / ".tollhouse" / "state.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM grants")]
    finally:
        conn.close()


def grant(ws: Path, **kw) -> str:  # type: ignore[no-untyped-def]
    conn = open_sync(ws / ".tollhouse" / "state.db")
    try:
        return add_grant(conn, created_by="test", **kw).id
    finally:
        conn.close()


async def call(ws: Path, tool: str, arguments: dict) -> object:
    async with await Gate.open(load_config(ws / "tollhouse.toml")) as gate:
        return await gate.call(Call(tool, arguments, channel="cli"))


pytestmark = pytest.mark.anyio


# ---------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("glob", "covered", "not_covered"),
    [
        ("tmp/*", ["tmp/a.txt", "./tmp/b.txt", "tmp//c.txt"],
         ["tmp/../src/x.txt", "tmp/sub/x.txt", "tmp/./../notes/x.txt", "src/tmp/x.txt"]),
        ("tmp/**", ["tmp/a.txt", "tmp/sub/deep/x.txt"], ["tmp/../src/y.txt", "tmpx/y.txt"]),
        ("tmp/*.log", ["tmp/a.log"], ["tmp/a.log/../../src/z.log", "tmp/a.txt"]),
    ],
)  # fmt: skip
async def test_path_globs_match_the_resolved_path_like_policy_does(
    ws: Path, glob: str, covered: list[str], not_covered: list[str]
) -> None:
    (ws / "tmp" / "sub").mkdir()
    grant(ws, tool="files_write", args_match={"path": glob})
    for path in not_covered:
        out = await call(ws, "files_write", {"path": path, "content": "x"})
        assert out.status == "needs_approval", (path, out.message)
    for path in covered:
        out = await call(ws, "files_write", {"path": path, "content": "x"})
        assert out.status == "ok" and out.approver.startswith("grant:"), (path, out.message)
    assert not (ws / "src" / "x.txt").exists() and not (ws / "notes" / "x.txt").exists()


async def test_a_symlink_inside_the_granted_folder_does_not_carry_the_grant_out(ws: Path) -> None:
    (ws / "tmp" / "link").symlink_to(ws / "src")
    grant(ws, tool="files_write", args_match={"path": "tmp/**"})
    out = await call(ws, "files_write", {"path": "tmp/link/app.py", "content": "pwned", "overwrite": True})
    assert out.status == "needs_approval"
    assert (ws / "src" / "app.py").read_text() == "print('hi')\n"


async def test_every_path_of_a_list_argument_must_be_covered(ws: Path) -> None:
    (ws / "tmp" / "a.txt").write_text("a")
    grant(ws, tool="files_read_many", args_match={"paths": ["tmp/*"]})
    out = await call(ws, "files_read_many", {"paths": ["tmp/a.txt", "tmp/../src/app.py"]})
    assert out.status == "needs_approval"
    out = await call(ws, "files_read_many", {"paths": ["tmp/a.txt"]})
    assert out.status == "ok"


async def test_an_argv_grant_never_covers_an_exec_capable_token(ws: Path) -> None:
    grant(ws, tool="shell_run", args_match={"argv": "find *"})
    canary = ws / "pwned"
    out = await call(ws, "shell_run", {"argv": ["find", ".", "-exec", "touch", "pwned", ";"]})
    assert out.status == "needs_approval" and not canary.exists()
    out = await call(ws, "shell_run", {"argv": ["find", "src", "-name", "app.py"]})
    assert out.status == "ok" and "src/app.py" in out.result["stdout"]


async def test_exact_numbers_compare_as_json_numbers_and_booleans_stay_booleans(ws: Path) -> None:
    grant(ws, tool="shell_run", args_match={"argv": {"is": ["true"]}, "timeout_s": {"is": 5}})
    out = await call(ws, "shell_run", {"argv": ["true"], "timeout_s": 5.0})
    assert out.status == "ok", out.message
    grant(ws, tool="files_delete", args_match={"path": {"is": "tmp/x"}, "recursive": {"is": 0}})
    (ws / "tmp" / "x").write_text("x")
    out = await call(ws, "files_delete", {"path": "tmp/x", "recursive": False})
    assert out.status == "needs_approval" and (ws / "tmp" / "x").exists()


async def test_exact_value_constraints_do_not_glob(ws: Path) -> None:
    grant(ws, tool="shell_run", args_match={"argv": {"is": ["echo", "*"]}})
    out = await call(ws, "shell_run", {"argv": ["echo", "anything"]})
    assert out.status == "needs_approval"
    out = await call(ws, "shell_run", {"argv": ["echo", "*"]})
    assert out.status == "ok" and out.result["stdout"] == "*\n"


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["files_wirte"], "unknown tool 'files_wirte'; did you mean files_write"),
        (["file_delete"], "did you mean files_delete"),
        (["nothing_like_it"], "unknown tool 'nothing_like_it'"),
        (["github_*"], "unknown tool 'github_*'"),  # no github family in this policy's registry
        (["files_write", "--arg", "pth=notes/*"], "unknown argument 'pth' for files_write; did you mean"),
        (["files_write", "--arg", "Path=notes/*"], "valid: content, overwrite, path"),
        (["files_write", "--is", "contents=\"x\""], "unknown argument 'contents'"),
        (["shell_run", "--arg", "args=git *"], "unknown argument 'args' for shell_run; did you mean argv"),
        (["files_write", "--arg", "path=../outside/*"], "has no '..'"),
        (["files_write", "--arg", "path=tmp/../src/*"], "has no '..'"),
        (["files_write", "--arg", "path=/etc/*"], "relative to a workspace root"),
        (["shell_run", "--arg", "argv=git 'status"], "not a readable argv pattern"),
        (["files_write", "--arg", "path=tmp/[z-a]"], "not a readable path glob"),
        (["shell_run", "--is", "argv=git status"], "not a value shell_run takes"),
        (["shell_run", "--is", 'argv=["git", 1]'], "not a value shell_run takes"),
        (["files_delete", "--is", "recursive=yes"], "not a value files_delete takes"),
        (["files_delete", "--is", 'path="/etc/passwd"'], "has no '..'"),
        (["files_delete", "--is", 'path="tmp/../src/app.py"'], "has no '..'"),
        (["files_read_many", "--is", 'paths=["a", "../b"]'], "has no '..'"),
    ],
)  # fmt: skip
def test_grants_that_could_never_match_are_refused_and_nothing_is_recorded(
    ws: Path, args: list[str], needle: str
) -> None:
    out = th(ws, "grant", *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "grant refused, nothing recorded" in out.stderr and needle in out.stderr, out.stderr
    assert not (ws / ".tollhouse" / "state.db").exists() or grants(ws) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["*"], "'*' covers"),
        (["files_*", "--arg", "path=tmp/*"], "'files_*' covers"),
        (["files_write"], "no --arg or --exact: this covers every call of files_write"),
        (["files_write", "--arg", "path=tmp/*", "--expires", "never"], "--expires never"),
        (["files_write", "--arg", "path=**"], "covers any path"),
        (["shell_run", "--arg", "stdin=*"], "covers any value"),
    ],
)
def test_broad_grants_are_made_with_a_warning(ws: Path, args: list[str], needle: str) -> None:
    out = th(ws, "grant", *args, "--json")
    assert out.returncode == 0, out.stderr
    assert "warning:" in out.stderr and needle in out.stderr, out.stderr
    assert any(needle in w for w in json.loads(out.stdout)["warnings"])
    assert len(grants(ws)) == 1


def test_a_narrow_grant_has_no_warning(ws: Path) -> None:
    out = th(ws, "grant", "files_write", "--arg", "path=tmp/*", "--uses", "1")
    assert out.returncode == 0 and out.stderr == "", out.stderr


async def test_a_stored_glob_that_does_not_compile_covers_nothing(ws: Path) -> None:
    grant(ws, tool="files_write", args_match={"path": "tmp/[z-a]"})
    grant(ws, tool="shell_run", args_match={"argv": "echo 'unclosed"})
    out = await call(ws, "files_write", {"path": "tmp/a", "content": "x"})
    assert out.status == "needs_approval" and not (ws / "tmp" / "a").exists()
    out = await call(ws, "shell_run", {"argv": ["echo", "unclosed"]})
    assert out.status == "needs_approval"


def test_old_grants_that_can_never_match_are_reported_when_listed(ws: Path) -> None:
    th(ws, "grant", "files_write", "--arg", "path=tmp/*")  # creates state.db
    grant(ws, tool="files_wirte", args_match={"path": "tmp/*"})
    grant(ws, tool="files_write", args_match={"pth": "tmp/*"})
    out = th(ws, "grants")
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3
    assert "NEVER MATCHES" not in lines[0]
    assert "NEVER MATCHES: unknown tool 'files_wirte'" in lines[1]
    assert "NEVER MATCHES: unknown argument 'pth'" in lines[2]
    listed = json.loads(th(ws, "grants", "--json").stdout)
    assert [bool(g["problems"]) for g in listed] == [False, True, True]


# ---------------------------------------------------------------------------- hints


def _shim(tmp: Path) -> dict[str, str]:
    """A `tollhouse` on PATH for the pasted hint, running this checkout."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "tollhouse"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m tollhouse "$@"\n')
    shim.chmod(0o755)
    return subprocess_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def paste(ws: Path, tmp: Path, hint: str) -> subprocess.CompletedProcess[str]:
    env = _shim(tmp)
    return subprocess.run(["bash", "-c", hint], cwd=ws, env=env, capture_output=True, text=True, timeout=60)


HOSTILE_NAMES = [
    "a'$(touch PWNED1)'b.txt",
    "a`touch PWNED2`.txt",
    "a;touch PWNED3;.txt",
    "q\"uo'te $HOME.txt",
    "new\nline.txt",
    "*.txt",
    "?.txt",
    "[ab].txt",
    "{a,b}.txt",
    "a\\*b.txt",
    " lead.txt",
    "-rf.txt",
    "**",
    "zero\u200bwidth.txt",
    "nb\u00a0sp.txt",
]


def _pwned(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("PWNED*")]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_the_file_hint_pastes_safely_and_grants_exactly_the_refused_call(
    ws: Path, tmp_path: Path, name: str
) -> None:
    target = f"tmp/{name}"
    refused = await call(ws, "files_write", {"path": target, "content": "x"})
    assert refused.status == "needs_approval"
    hint = refused.message.split(HINT_LEAD, 1)[1]
    assert "\u200b" not in hint and "\u00a0" not in hint  # invisible characters are shown escaped
    ran = paste(ws, tmp_path, hint)
    assert ran.returncode == 0, ran.stderr
    assert _pwned(ws, tmp_path) == []
    assert len(grants(ws)) == 1
    for sibling in ("tmp/a.txt", "tmp/b.txt", "tmp/ab.txt", "tmp/x" + name, "tmp/sub/" + name.strip()):
        if sibling == target:
            continue
        out = await call(ws, "files_write", {"path": sibling, "content": "x"})
        assert out.status == "needs_approval", (sibling, json.loads(grants(ws)[0]["args_match"]))
    out = await call(ws, "files_write", {"path": target, "content": "x"})
    assert out.approver is not None and out.approver.startswith("grant:"), out.message
    if "\n" in name:  # granted, and then the tool itself refuses such a name
        assert out.status == "error" and "control or direction character U+000A" in out.message
    else:
        assert out.status == "ok" and (ws / target).read_text() == "x"


@pytest.mark.parametrize(
    "argv",
    [
        ["echo", "$(touch PWNED1)", "`touch PWNED2`", "a;touch PWNED3"],
        ["echo", "*", "?", "[x]", "{a,b}"],
        ["echo", "it's", '"q"', "new\nline", "\u202etxt.exe"],
    ],
)
async def test_the_shell_hint_pastes_safely_and_grants_exactly_that_argv(
    ws: Path, tmp_path: Path, argv: list[str]
) -> None:
    refused = await call(ws, "shell_run", {"argv": argv})
    assert refused.status == "needs_approval"
    hint = refused.message.split(HINT_LEAD, 1)[1]
    assert "\u202e" not in hint  # shown as an escape, never as the character itself
    ran = paste(ws, tmp_path, hint)
    assert ran.returncode == 0, ran.stderr
    assert _pwned(ws, tmp_path) == []
    for sibling in (argv[:-1], [*argv, "x"], [argv[0], "zz", *argv[2:]]):
        out = await call(ws, "shell_run", {"argv": sibling})
        assert out.status == "needs_approval", sibling
    out = await call(ws, "shell_run", {"argv": argv})
    assert out.status == "ok" and out.result["stdout"] == " ".join(argv[1:]) + "\n"
    assert _pwned(ws, tmp_path) == []


async def test_the_hint_binds_the_resolved_path_and_the_flags(ws: Path, tmp_path: Path) -> None:
    (ws / "tmp" / "old").mkdir()
    refused = await call(ws, "files_delete", {"path": "src/../tmp/old", "recursive": True})
    hint = refused.message.split(HINT_LEAD, 1)[1]
    assert hint == "tollhouse grant files_delete --arg path=tmp/old --is recursive=true --uses 1"
    assert paste(ws, tmp_path, hint).returncode == 0
    out = await call(ws, "files_delete", {"path": "tmp/old", "recursive": False})
    assert out.status == "needs_approval"
    out = await call(ws, "files_delete", {"path": "./tmp/old", "recursive": True})
    assert out.status == "ok" and not (ws / "tmp" / "old").exists()


@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "plain.txt", "[!a]", "]x[", "a]b"])
def test_an_escaped_path_glob_matches_only_its_own_path(name: str) -> None:
    rx = compile_path_glob(escape_path_glob(f"d/{name}"))
    assert rx.match(f"d/{name}")
    for other in ("d/a.txt", "d/b.txt", "d/x", f"d/{name}x", f"d/sub/{name}", "d/" + name.strip() + "/y"):
        if other != f"d/{name}":
            assert not rx.match(other), other


async def test_a_one_use_grant_runs_one_of_many_concurrent_calls_across_processes_state(ws: Path) -> None:
    """Two gates (two connections to one state.db, as two servers would have) race for the last use."""
    import anyio

    grant(ws, tool="files_write", args_match={"path": "tmp/*"}, uses=1)
    config = load_config(ws / "tollhouse.toml")
    results: list[str] = []
    async with await Gate.open(config) as one, await Gate.open(config) as two:

        async def write(gate: Gate, i: int) -> None:
            out = await gate.call(Call("files_write", {"path": f"tmp/{i}.txt", "content": "x"}))
            results.append(out.status)

        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(write, (one, two)[i % 2], i)
    assert sorted(results) == ["needs_approval"] * 7 + ["ok"]
    assert len(list((ws / "tmp").iterdir())) == 1


@pytest.mark.parametrize(
    ("tool", "args", "bound", "unbound"),
    [
        ("github_comment", {"repo": "acme/site", "number": 7, "body": "$(touch X) secret plan"},
         ["--is 'repo=\"acme/site\"'", "--is number=7"], ["body", "touch"]),
        ("memory_write", {"subject": "runbook:deploy", "predicate": "step", "object": "x", "text": "long"},
         ["--is 'subject=\"runbook:deploy\"'", "--is 'predicate=\"step\"'"], ["text=", "object="]),
        ("files_write", {"path": "notes/a b.txt", "content": "hello", "overwrite": True},
         ["--arg 'path=notes/a b.txt'", "--is overwrite=true"], ["content"]),
    ],
)  # fmt: skip
def test_the_hint_binds_what_a_call_acts_on_not_what_it_carries(
    tool: str, args: dict, bound: list[str], unbound: list[str]
) -> None:
    from tollhouse.gate.grant_match import grant_hint
    from tollhouse.tools import build_registry

    spec = build_registry().get(tool)
    assert spec is not None
    validated = spec.input_model.model_validate(args).model_dump(mode="json")
    rels = {"path": [args["path"]]} if "path" in args else {}
    hint = grant_hint(spec, validated, rels)
    assert hint.startswith(f"tollhouse grant {tool} ") and hint.endswith(" --uses 1")
    for part in bound:
        assert part in hint, hint
    for part in unbound:
        assert part not in hint, hint
