"""git runs only in the workspace's own repository, and config that runs commands cannot be slipped in.

Each attack is first shown to work on the real git when run plainly (so the test could fail), then run
through shell_run, which must refuse it (with the exact rule) or neutralise it; the marker file a
payload would create must never appear.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shell.conftest import Runner, make_config
from tollhouse.config import parse_config
from tollhouse.gate.policy import Policy
from tollhouse.gate.types import Call
from tollhouse.tools.base import PolicyDenied, Registry
from tollhouse.tools.shell import SHELL_RUN, ShellRunInput

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(shutil.which("git") is None, reason="needs git")]

ID = ["-c", "user.name=t", "-c", "user.email=t@e"]


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def repo(ws: Path) -> Path:
    """The workspace is a git repository with one commit and a modified tracked file."""
    git("init", "-q", cwd=ws)
    (ws / "src").mkdir()
    (ws / "src" / "a.txt").write_text("one\n")
    git("add", ".", cwd=ws)
    git(*ID, "commit", "-qm", "x", cwd=ws)
    (ws / "src" / "a.txt").write_text("two\n")
    return ws


def _handmade_repo(folder: Path, config: str) -> None:
    """What files_mkdir/files_write could build: a repository by hand, no git involved."""
    (folder / "objects").mkdir(parents=True)
    (folder / "refs" / "heads").mkdir(parents=True)
    (folder / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n" + config)


def _payloads(marker: Path) -> dict[str, tuple[str, list[str], str]]:
    """config that runs a command, the git command that triggers it, and a .gitattributes line."""
    cmd = f"touch {marker}"
    return {
        "fsmonitor": (f'[core]\n\tfsmonitor = "{cmd}"\n', ["status"], ""),
        "diff-external": (f'[diff]\n\texternal = "{cmd}"\n', ["diff"], ""),
        "textconv": (f'[diff "x"]\n\ttextconv = "{cmd};cat"\n', ["diff"], "*.txt diff=x\n"),
        "filter-clean": (f'[filter "x"]\n\tclean = "{cmd};cat"\n', ["diff"], "*.txt filter=x\n"),
        "alias": (f'[alias]\n\tst = "!{cmd}"\n', ["st"], ""),
    }


@pytest.mark.parametrize("kind", ["fsmonitor", "diff-external", "textconv", "filter-clean", "alias"])
@pytest.mark.parametrize("shape", ["git-init", "handmade", "gitfile", "bare-looking"])
async def test_a_nested_repository_never_runs(repo: Path, tmp_path: Path, kind: str, shape: str) -> None:
    marker = tmp_path / "MARKER"
    config, command, attributes = _payloads(marker)[kind]
    src = repo / "src"
    if shape == "git-init":
        git("init", "-q", cwd=src)
        git("add", ".", cwd=src)
        git(*ID, "commit", "-qm", "x", cwd=src)
        with open(src / ".git" / "config", "a", encoding="utf-8") as fh:
            fh.write(config)
        (src / "a.txt").write_text("three\n")
    elif shape == "handmade":
        _handmade_repo(src / ".git", config)
    elif shape == "gitfile":  # a .git file pointing at a repository outside the workspace
        _handmade_repo(tmp_path / "elsewhere", config)
        (src / ".git").write_text(f"gitdir: {tmp_path / 'elsewhere'}\n")
    else:  # the folder itself looks like a repository (implicit bare discovery)
        _handmade_repo(src, config)
    if attributes:
        (src / ".gitattributes").write_text(attributes)
    if shape == "git-init":
        # The attack is real: plain git in that folder runs the payload.
        git(*command, cwd=src)
        assert marker.exists(), f"{kind}: the payload did not run under plain git; the test proves nothing"
        marker.unlink()

    run = Runner(make_config(repo))
    for cwd in ("src", "src/sub") if shape != "bare-looking" else ("src",):
        (repo / cwd).mkdir(exist_ok=True)
        with pytest.raises(PolicyDenied) as info:
            await run(argv=["git", *command], cwd=cwd)
        assert info.value.rule == "shell.nested_repo"
        assert "not the workspace's own" in str(info.value)
        with pytest.raises(PolicyDenied) as info:  # under a wrapper too
            await run(argv=["timeout", "30", "git", *command], cwd=cwd)
        assert info.value.rule == "shell.nested_repo"
    assert not marker.exists()


async def test_git_at_the_root_works_and_other_programs_run_in_a_nested_repo(repo: Path) -> None:
    git("init", "-q", cwd=repo / "src")
    run = Runner(make_config(repo))
    out = await run(argv=["git", "status", "--short"])
    assert out.exit_code == 0 and "src/" in out.stdout
    out = await run(argv=["ls"], cwd="src")  # only git is judged by where its repository is
    assert out.exit_code == 0 and "a.txt" in out.stdout


async def test_git_in_a_subfolder_of_the_workspace_repository_works(repo: Path) -> None:
    run = Runner(make_config(repo))
    out = await run(argv=["git", "diff", "--stat"], cwd="src")
    assert out.exit_code == 0 and "a.txt" in out.stdout


@pytest.mark.parametrize("cwd", [".git", ".git/hooks", "src/.git"])
@pytest.mark.parametrize("argv", [["git", "status"], ["ls"]])
async def test_no_command_runs_inside_a_git_folder(repo: Path, cwd: str, argv: list[str]) -> None:
    (repo / "src" / ".git").mkdir(exist_ok=True)
    run = Runner(make_config(repo))
    with pytest.raises(PolicyDenied) as info:
        await run(argv=argv, cwd=cwd)
    assert info.value.rule == "shell.git_dir"
    assert "inside a .git folder" in str(info.value)


async def test_git_never_searches_above_the_workspace(tmp_path: Path) -> None:
    """A repository around the workspace is not the workspace's: GIT_CEILING_DIRECTORIES stops git."""
    git("init", "-q", cwd=tmp_path)
    marker = tmp_path / "MARKER"
    with open(tmp_path / ".git" / "config", "a", encoding="utf-8") as fh:
        fh.write(f'[core]\n\tfsmonitor = "touch {marker}"\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    run = Runner(make_config(ws))
    out = await run(argv=["git", "status"])
    assert out.exit_code == 128 and "not a git repository" in out.stderr
    assert not marker.exists()


async def test_root_repository_hooks_and_fsmonitor_are_pinned_off(repo: Path, tmp_path: Path) -> None:
    """The workspace's own .git is the operator's, but an allowed git command still runs no hook and no
    monitor, even if one was planted there (say by a test an agent wrote)."""
    marker = tmp_path / "MARKER"
    with open(repo / ".git" / "config", "a", encoding="utf-8") as fh:
        fh.write(f'[core]\n\tfsmonitor = "touch {marker}"\n')
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    git("status", cwd=repo)
    assert marker.exists()  # plain git obeys both
    marker.unlink()
    run = Runner(make_config(repo))
    out = await run(argv=["git", "status"])
    assert out.exit_code == 0 and not marker.exists()
    out = await run(argv=["git", *ID, "commit", "-qam", "y"])
    assert out.exit_code == 0, out.stderr
    assert not marker.exists()
    assert git("log", "--oneline", cwd=repo).stdout.count("\n") == 2  # the commit itself happened


GIT_ENV_ATTACKS = {
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "core.fsmonitor",
    "GIT_CONFIG_VALUE_0": "touch {M}",
    "GIT_CONFIG_PARAMETERS": "'core.fsmonitor'='touch {M}'",
    "GIT_CONFIG_GLOBAL": "{OUT}/evil.gitconfig",
    "GIT_CONFIG_SYSTEM": "{OUT}/evil.gitconfig",
    "GIT_DIR": "{OUT}/evil",
    "GIT_WORK_TREE": "{OUT}",
    "GIT_CEILING_DIRECTORIES": "",
    "GIT_EXTERNAL_DIFF": "touch {M}",
    "GIT_PAGER": "touch {M}",
    "GIT_SSH_COMMAND": "touch {M}",
    "GIT_EXEC_PATH": "{OUT}",
    "GIT_TRACE": "{OUT}/trace",
}


@pytest.mark.parametrize("name", sorted(GIT_ENV_ATTACKS))
async def test_a_call_cannot_configure_git_through_env(repo: Path, tmp_path: Path, name: str) -> None:
    marker = tmp_path / "MARKER"
    value = GIT_ENV_ATTACKS[name].replace("{M}", str(marker)).replace("{OUT}", str(tmp_path))
    # Even an operator who listed the name in allow_env does not open git's configuration to calls.
    run = Runner(make_config(repo, f'[shell]\nallow_env = ["{name}", "GIT_AUTHOR_NAME"]\n'))
    with pytest.raises(PolicyDenied) as info:
        await run(argv=["git", "diff"], env={name: value})
    assert info.value.rule == "shell.git_env"
    assert f"environment variable {name!r} configures git" in str(info.value)
    assert not marker.exists() and not (tmp_path / "trace").exists()
    out = await run(argv=["git", "log", "-1", "--format=%an"], env={"GIT_AUTHOR_NAME": "x"})
    assert out.exit_code == 0  # identity variables stay settable where allow_env lists them


async def test_client_root_does_not_hide_a_nested_repository(repo: Path, tmp_path: Path) -> None:
    """A client that announces src/ as its root must not make src/.git look like the top."""
    marker = tmp_path / "MARKER"
    _handmade_repo(repo / "src" / ".git", f'[core]\n\tfsmonitor = "touch {marker}"\n')
    run = Runner(make_config(repo))
    arguments = {"argv": ["git", "status"]}
    ctx = run.context(arguments)
    ctx.call = Call(tool="shell_run", arguments=arguments, client_roots=(str(repo / "src"),))
    with pytest.raises(PolicyDenied) as info:
        await SHELL_RUN.run(ShellRunInput.model_validate(arguments), ctx)
    assert info.value.rule == "shell.nested_repo"
    assert not marker.exists()


RUFF = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))


@pytest.mark.skipif(not Path(RUFF).exists(), reason="ruff is not installed")
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("ruff.toml", 'cache-dir = "{OUT}"\n'),
        (".ruff.toml", 'cache-dir = "{OUT}"\n'),
        ("pyproject.toml", '[tool.ruff]\ncache-dir = "{OUT}"\n'),
        ("sub/ruff.toml", 'cache-dir = "{OUT}"\n'),
    ],
)
async def test_ruff_cache_dir_in_a_workspace_config_cannot_write_outside(
    ws: Path, tmp_path: Path, name: str, body: str
) -> None:
    outside = tmp_path / "outside-cache"
    (ws / name).parent.mkdir(exist_ok=True)
    (ws / name).write_text(body.replace("{OUT}", str(outside)))
    (ws / "sub").mkdir(exist_ok=True)
    (ws / "sub" / "a.py").write_text("x = 1\n")
    subprocess.run([RUFF, "check", "."], cwd=ws / "sub", capture_output=True, check=False)
    assert outside.is_dir()  # plain ruff obeys the workspace's cache-dir
    shutil.rmtree(outside)
    run = Runner(make_config(ws))
    out = await run(argv=[RUFF, "check", "."], cwd="sub")
    assert out.exit_code == 0, out.stderr
    assert not outside.exists() and (ws / ".ruff_cache").is_dir()


# Config keys that make git run a program, with the command that would trigger each.
COMMAND_KEYS = [
    ("core.fsmonitor", ["status"]),
    ("core.sshCommand", ["fetch", "origin"]),
    ("core.pager", ["log"]),
    ("core.editor", ["commit"]),
    ("diff.external", ["diff"]),
    ("diff.x.textconv", ["diff"]),
    ("filter.x.clean", ["status"]),
    ("filter.x.smudge", ["checkout", "."]),
    ("filter.x.process", ["status"]),
    ("alias.st", ["st"]),
    ("credential.helper", ["fetch", "origin"]),
    ("core.hooksPath", ["commit"]),
    ("gpg.program", ["log", "--show-signature"]),
    ("uploadpack.packObjectsHook", ["fetch", "origin"]),
    ("sequence.editor", ["rebase", "-i", "HEAD"]),
    ("include.path", ["status"]),
    ("includeIf.gitdir:/.path", ["status"]),
]


@pytest.mark.parametrize(("key", "command"), COMMAND_KEYS, ids=[k for k, _ in COMMAND_KEYS])
def test_config_keys_that_run_commands_never_pass_a_wildcard_rule(
    key: str, command: list[str], ws: Path
) -> None:
    """Through `-c` and `--config-env` (as a flag or with `=`), no rule `git *` covers the form."""
    text = '[tools]\nfamilies = ["shell"]\n\n[[rules]]\nid = "wide"\ntools = ["shell_run"]\n'
    text += 'argv = ["git *"]\neffect = "allow"\n'
    policy = Policy.load(parse_config(text, ws / "tollhouse.toml"), Registry([SHELL_RUN]))
    for prefix in (["-c", f"{key}=!touch M"], [f"--config-env={key}=EVIL"], ["--config-env", f"{key}=EVIL"]):
        args = ShellRunInput.model_validate({"argv": ["git", *prefix, *command]})
        decision = policy.decide(SHELL_RUN, args)
        assert decision.effect == "deny", (key, prefix, decision)


@pytest.mark.parametrize(("key", "command"), COMMAND_KEYS, ids=[k for k, _ in COMMAND_KEYS])
async def test_config_keys_through_env_are_refused(
    key: str, command: list[str], repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    names = ["GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"]
    run = Runner(make_config(repo, f"[shell]\nallow_env = {names!r}\n".replace("'", '"')))
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": f"!touch {marker}"}
    with pytest.raises(PolicyDenied) as info:
        await run(argv=["git", *command], env=env)
    assert info.value.rule == "shell.git_env" and "GIT_CONFIG_COUNT" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(("key", "command"), COMMAND_KEYS, ids=[k for k, _ in COMMAND_KEYS])
async def test_config_keys_in_a_nested_repository_are_refused(
    key: str, command: list[str], repo: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    section, _, name = key.rpartition(".")
    head, _, sub = section.partition(".")
    header = f'[{head} "{sub}"]' if sub else f"[{head}]"
    _handmade_repo(repo / "src" / ".git", f'{header}\n\t{name} = "!touch {marker}"\n')
    (repo / "src" / ".gitattributes").write_text("* diff=x filter=x\n")
    run = Runner(make_config(repo))
    with pytest.raises(PolicyDenied) as info:
        await run(argv=["git", *command], cwd="src")
    assert info.value.rule == "shell.nested_repo"
    assert not marker.exists()


async def test_a_root_that_looks_like_a_bare_repository_is_not_used(ws: Path, tmp_path: Path) -> None:
    """No .git at all, but HEAD, objects/ and refs/ at the root: plain git takes the root for a bare
    repository and obeys its config; the pinned safe.bareRepository=explicit stops that."""
    marker = tmp_path / "MARKER"
    _handmade_repo(ws, f'[alias]\n\tst = "!touch {marker}"\n')
    git("st", cwd=ws)
    assert marker.exists()  # the attack is real under plain git
    marker.unlink()
    run = Runner(make_config(ws))
    out = await run(argv=["git", "st"])
    assert out.exit_code != 0 and "'st' is not a git command" in out.stderr, out.stderr  # no config read
    status = await run(argv=["git", "status"])
    assert status.exit_code == 128 and "safe.bareRepository" in status.stderr, status.stderr
    assert not marker.exists()


def _choosers(repo: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "-C": ["-C", "src"],
        "-C twice": ["-C", ".", "-C", "src"],
        "-C to a subfolder of it": ["-C", "src/sub"],
        "--git-dir=": ["--git-dir=src/.git"],
        "--git-dir": ["--git-dir", "src/.git"],
        "--git-dir outside": [f"--git-dir={tmp_path / 'elsewhere'}"],
        "--work-tree": ["--work-tree=src", "--git-dir=src/.git"],
        "--bare": ["--bare"],
        "-C outside": ["-C", str(tmp_path)],
    }


@pytest.mark.parametrize(
    "chooser",
    ["-C", "-C twice", "-C to a subfolder of it", "--git-dir=", "--git-dir", "--git-dir outside",
     "--work-tree", "--bare", "-C outside"],
)  # fmt: skip
async def test_git_options_that_choose_another_repository_are_refused(
    repo: Path, tmp_path: Path, chooser: str
) -> None:
    """Starting at the root does not help: -C, --git-dir, --work-tree and --bare move git to a nested
    repository (whose diff.external ran in a review) just as a cwd would."""
    marker = tmp_path / "MARKER"
    src = repo / "src"
    (src / "sub").mkdir()
    git("init", "-q", cwd=src)
    git("add", "a.txt", cwd=src)
    git(*ID, "commit", "-qm", "x", cwd=src)
    with open(src / ".git" / "config", "a", encoding="utf-8") as fh:
        fh.write(f'[diff]\n\texternal = "touch {marker}"\n')
    (src / "a.txt").write_text("three\n")
    _handmade_repo(tmp_path / "elsewhere", f'[diff]\n\texternal = "touch {marker}"\n')
    options = _choosers(repo, tmp_path)[chooser]
    git(*options, "diff", cwd=repo)
    assert chooser in ("--bare", "-C outside", "--git-dir outside") or marker.exists(), "not a real attack"
    marker.unlink(missing_ok=True)
    run = Runner(make_config(repo))
    for argv in (["git", *options, "diff"], ["timeout", "30", "git", *options, "diff"]):
        with pytest.raises(PolicyDenied) as info:
            await run(argv=argv)
        assert info.value.rule == "shell.nested_repo", str(info.value)
        assert "workspace's own" in str(info.value) or "outside the workspace" in str(info.value)
    assert not marker.exists()


async def test_git_options_naming_the_workspace_repository_still_work(repo: Path) -> None:
    run = Runner(make_config(repo))
    for options in (["-C", "src"], ["-C", "."], ["--git-dir=.git"], ["--work-tree=.", "--git-dir", ".git"]):
        out = await run(argv=["git", *options, "status", "--short"])
        assert out.exit_code == 0 and "a.txt" in out.stdout, (options, out.stderr)
