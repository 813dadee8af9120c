"""Every `.git` is immutable, at any depth and in every form: no file tool creates, writes, moves onto,
moves or deletes a `.git` folder or file (gitdir redirection) or a `.gitmodules`, whatever the config's
`immutable` list says. A `src/.git/config` with `core.fsmonitor` would be code the next allowed
`git status` runs. Through the real gate, with a policy that allows every file tool everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.files.conftest import tree_state
from tests.files.test_gate import outcome_row
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HOOK = "[core]\n\tfsmonitor = touch /tmp/pwned\n"

ATTEMPTS = [
    ("files_mkdir", {"path": "src/.git"}),
    ("files_mkdir", {"path": "src/.git/hooks"}),
    ("files_mkdir", {"path": "src/./.git/"}),
    ("files_mkdir", {"path": "src/x/../.git"}),
    ("files_write", {"path": "src/.git/config", "content": HOOK}),
    ("files_write", {"path": "src/deep/er/.git/HEAD", "content": "ref: refs/heads/main\n"}),
    ("files_write", {"path": "src/.git", "content": "gitdir: ../elsewhere\n"}),  # a .git *file*
    ("files_write", {"path": ".gitmodules", "content": '[submodule "x"]\n\tpath = x\n'}),
    ("files_write", {"path": "src/.gitmodules", "content": '[submodule "x"]\n\tpath = x\n'}),
    ("files_edit", {"path": "vendor/lib/.git/config", "edits": [{"old_text": "bare", "new_text": "x"}]}),
    ("files_write", {"path": "gitlink/config", "content": HOOK, "overwrite": True}),  # via a symlink
    ("files_move", {"source": "src/dotgit", "destination": "src/.git"}),
    ("files_move", {"source": "src/dotgit", "destination": "src/sub/.gitmodules"}),
    ("files_move", {"source": "vendor/lib/.git", "destination": "vendor/lib/git-old"}),
    ("files_delete", {"path": "vendor/lib/.git", "recursive": True}),
    ("files_delete", {"path": "vendor/lib/.git/config"}),
]


@pytest.fixture
def seeded(setup):
    config, root, _ = setup
    (root / "src" / "dotgit").mkdir(parents=True)
    (root / "src" / "dotgit" / "config").write_text(HOOK)
    (root / "vendor" / "lib" / ".git").mkdir(parents=True)
    (root / "vendor" / "lib" / ".git" / "config").write_text("[core]\n\tbare = false\n")
    os.symlink(root / "vendor" / "lib" / ".git", root / "gitlink")
    return config, root


async def test_no_file_tool_makes_or_changes_any_git(seeded):
    config, root = seeded
    before = {k: v for k, v in tree_state(root).items() if not k.startswith(".tollhouse")}
    async with await Gate.open(config) as gate:
        outs = [await gate.call(Call(tool, args)) for tool, args in ATTEMPTS]
    for (tool, args), out in zip(ATTEMPTS, outs, strict=True):
        assert out.status == "denied", (tool, args, out.status, out.message)
        assert out.decision.rules == ("workspace.immutable",), (tool, args, out.decision)
        assert "is immutable" in out.message, out.message
        assert outcome_row(config, out.call_id)["outcome"] == "denied"
    after = {k: v for k, v in tree_state(root).items() if not k.startswith(".tollhouse")}
    assert after == before


async def test_the_message_names_the_path_and_the_built_in(seeded):
    config, _ = seeded
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("files_write", {"path": "src/.git/config", "content": HOOK}))
    assert out.message.startswith(
        "denied by built-in rule workspace.immutable: path src/.git/config is immutable"
    )
    assert "**/.git/**" in out.message and "**/.gitmodules" in out.message


def git(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_other_spellings_are_not_a_repository_to_git(seeded, tmp_path):
    """Only `.git` is sealed: git on Linux discovers exactly that name. The test asks git itself."""
    config, root = seeded
    async with await Gate.open(config) as gate:
        for name in (".GIT", ".Git", "git", ".git~"):
            out = await gate.call(Call("files_mkdir", {"path": f"src/spell/{name}"}))
            assert out.status == "ok", (name, out.message)
    real = tmp_path / "real"
    assert git("init", "-q", str(real), cwd=tmp_path).returncode == 0
    for name in (".GIT", ".Git", "git", ".git~"):
        shutil.rmtree(root / "src" / "spell" / name)
        shutil.copytree(real / ".git", root / "src" / "spell" / name)
        probe = git("rev-parse", "--git-dir", cwd=root / "src" / "spell")
        assert probe.returncode != 0 and "not a git repository" in probe.stderr, (name, probe)
    # The sealed spelling is the one git honours, as a folder and as a gitdir file.
    (root / "src" / "spell" / "f").mkdir()
    (root / "src" / "spell" / "f" / ".git").write_text(f"gitdir: {real / '.git'}\n")
    assert git("rev-parse", "--git-dir", cwd=root / "src" / "spell" / "f").stdout.strip() == str(
        real / ".git"
    )
