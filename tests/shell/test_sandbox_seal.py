"""Inside the sandbox, code the agent wrote cannot touch what the gate relies on.

The sandboxed command here is the worst case the `dev` profile allows: pytest running a conftest.py the
agent wrote. It tries to plant a git hook and config in the workspace's repository (and in a worktree's
real git folder), rewrite the policy, read the state databases and the operator's keys, and write
outside. Where bubblewrap does not work, the same call must be refused without running anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shell.conftest import Runner, make_config
from tollhouse.opdirs import operator_home
from tollhouse.tools.base import ToolError
from tollhouse.tools.shell import sandbox_status

pytestmark = pytest.mark.anyio
SANDBOXED = '[shell]\nsandbox = "bwrap"\n'

CONFTEST = """
import os, pathlib
results = []
def attempt(name, fn):
    try:
        fn()
        results.append(name + ":done")
    except OSError as exc:
        results.append(name + ":refused")
def write(path, text="x"):
    pathlib.Path(path).write_text(text)
attempt("hook", lambda: write(".git/hooks/pre-commit", "#!/bin/sh\\ntouch {marker}\\n"))
attempt("gitconfig", lambda: write(".git/config", "[core]\\n\\tfsmonitor = touch {marker}\\n"))
attempt("policy", lambda: write("tollhouse.toml", "# rewritten"))
attempt("outside", lambda: write("{marker}"))
attempt("system", lambda: write("/etc/tollhouse-seal-test"))
attempt("state", lambda: pathlib.Path(".tollhouse/receipts.db").read_bytes())
attempt("key", lambda: pathlib.Path("{key}").read_bytes())
attempt("inside", lambda: write("src/ok.txt"))
write("src/results.txt", " ".join(results))
"""


def _workspace(ws: Path, tmp_path: Path) -> tuple[Path, dict[Path, bytes]]:
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "src").mkdir()
    (ws / ".tollhouse").mkdir()
    (ws / ".tollhouse" / "receipts.db").write_bytes(b"receipts")
    key = operator_home() / "workspaces" / "w" / "signing.key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"PRIVATE KEY MATERIAL")
    marker = tmp_path / "MARKER"
    (ws / "tests").mkdir()
    (ws / "tests" / "conftest.py").write_text(CONFTEST.format(marker=marker, key=key))
    (ws / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    make_config(ws, SANDBOXED)
    watched = [ws / ".git" / "config", ws / "tollhouse.toml", key]
    return marker, {p: p.read_bytes() for p in watched}


async def test_agent_code_in_the_sandbox_cannot_touch_git_policy_state_or_keys(
    ws: Path, tmp_path: Path
) -> None:
    marker, before = _workspace(ws, tmp_path)
    run = Runner(make_config(ws, SANDBOXED))
    (ws / "tollhouse.toml").write_text(SANDBOXED)
    before[ws / "tollhouse.toml"] = (ws / "tollhouse.toml").read_bytes()
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]
    if not sandbox_status().available:
        with pytest.raises(ToolError, match="sandbox cannot work on this machine"):
            await run(argv=argv)
        assert not (ws / "src" / "ok.txt").exists()
    else:
        out = await run(argv=argv)
        assert out.sandboxed and out.exit_code == 0, out.stdout + out.stderr
        assert (ws / "src" / "results.txt").read_text().split() == [
            "hook:refused", "gitconfig:refused", "policy:refused", "outside:done", "system:refused",
            "state:refused", "key:refused", "inside:done",
        ]  # fmt: skip
        # "outside:done": the marker lies under /tmp, which is the sandbox's own empty tmpfs; the real
        # file never appears (checked below). /etc is the read-only system.
        assert (ws / "src" / "ok.txt").exists()  # the workspace itself stays writable
        assert b"PRIVATE KEY" not in (out.stdout + out.stderr).encode()
    assert not marker.exists() and not (ws / ".git" / "hooks" / "pre-commit").exists()
    assert {p: p.read_bytes() for p in before} == before


async def test_a_worktree_git_folder_is_read_only_too(ws: Path, tmp_path: Path) -> None:
    """When the root's .git is a file (a worktree), the git folder it names is protected as well."""
    main = tmp_path / "main"
    subprocess.run(["git", "init", "-q", str(main)], check=True)
    ident = ["-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run(["git", "-C", str(main), *ident, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    wt = tmp_path / "wt"
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(wt)], check=True)
    assert (wt / ".git").is_file()
    run = Runner(make_config(wt, SANDBOXED))
    gitdir = Path(os.path.realpath(main / ".git"))
    script = f"echo x > {gitdir}/hooks/pre-commit; echo x > {gitdir}/worktrees/wt/x; echo y > .git"
    if not sandbox_status().available:
        with pytest.raises(ToolError, match="sandbox cannot work on this machine"):
            await run(argv=["sh", "-c", script])
    else:
        # The main repository lies outside the writable roots, so it is read-only like the system; the
        # .git file itself is re-bound read-only.
        out = await run(argv=["sh", "-c", script])
        assert out.exit_code != 0 and out.stderr.count("Read-only file system") == 3, out.stderr
    assert not (gitdir / "hooks" / "pre-commit").exists() and not (gitdir / "worktrees" / "wt" / "x").exists()
    assert (wt / ".git").read_text().startswith("gitdir:")
