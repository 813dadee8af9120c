"""git runs only in the workspace's own repository, with the configuration that runs commands pinned.

git reads configuration from the repository it finds by walking up from the working folder, and much
of that configuration names programs to run: ``core.fsmonitor`` (run by ``git status``), ``diff.external``
(``git diff``), aliases (``alias.x = !cmd``), ``core.pager``, ``filter.<drv>.*`` and
``diff.<drv>.textconv`` (chosen by ``.gitattributes``), hooks. A ``.git`` an agent wrote under ``src/``,
or one that came with a downloaded tree, would make ``git status`` with ``cwd = "src"`` run its command.

So, for every command (git is often run by other programs, such as make or a test suite):

- the child's environment pins what git may discover and obey: ``GIT_CEILING_DIRECTORIES`` stops the
  search at the workspace root (never a repository above it), ``safe.bareRepository=explicit`` stops a
  folder that merely looks like a repository (HEAD, objects/, refs/) from being used as one, and
  ``core.fsmonitor=false`` and ``core.hooksPath=/dev/null`` (command-scope config, which beats every
  repository's own) keep ``git status`` and ``git commit`` from running a hook or monitor;
- a call may not set git's own environment variables (``GIT_CONFIG_*``, ``GIT_DIR``, ``GIT_SSH_COMMAND``,
  ...) whatever ``allow_env`` says: they are configuration, and policy sees none of them;
- no command runs with its working folder inside a ``.git`` folder;

and a ``git`` command is refused when a ``.git`` (folder or file) or a bare-looking repository stands
between its working folder and the workspace root: git would use that repository, not the workspace's.
"""

from __future__ import annotations

import os
from pathlib import Path

from tollhouse.tools.base import PolicyDenied
from tollhouse.tools.shell.gitspec import GIT_GLOBAL_VALUES

# git variables a call may set: identity and dates only. Every other GIT_* chooses a repository, a
# config, a program to run or a file to write (GIT_TRACE=/path), so it is refused.
SAFE_GIT_ENV = frozenset(
    {
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
    }
)

# Command-scope configuration (GIT_CONFIG_COUNT/KEY/VALUE, git >= 2.31) overrides system, global and
# repository config alike; only `-c` on the command line (guarded by the analyser) comes later.
PINNED_CONFIG = (
    ("safe.bareRepository", "explicit"),
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
)


def check_env_name(name: str) -> None:
    """Refuse a call's ``env`` entry that would configure git."""
    if name.startswith("GIT_") and name not in SAFE_GIT_ENV:
        raise PolicyDenied(
            "shell.git_env",
            f"environment variable {name!r} configures git (which repository, which config, which "
            "program to run) and may not be set by a call, whatever [shell] allow_env lists; "
            f"the variables a call may set for git are {', '.join(sorted(SAFE_GIT_ENV))}",
        )


def pinned_env(roots: tuple[Path, ...] | list[Path]) -> dict[str, str]:
    """What every child's environment gets, after the call's own entries (so it wins)."""
    ceilings = dict.fromkeys(str(Path(root).parent) for root in roots)
    env = {"GIT_CEILING_DIRECTORIES": os.pathsep.join(ceilings), "GIT_CONFIG_COUNT": str(len(PINNED_CONFIG))}
    for i, (key, value) in enumerate(PINNED_CONFIG):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _looks_like_gitdir(folder: Path) -> bool:
    """What git's discovery takes for a repository folder: HEAD, objects/ and refs/."""
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()


def check_cwd(cwd: Path, root: Path) -> None:
    """No command runs inside a ``.git`` folder (git would take it for the repository itself)."""
    rel = cwd.relative_to(root)
    if ".git" in rel.parts:
        raise PolicyDenied(
            "shell.git_dir",
            f"cwd {rel.as_posix()!r} is inside a .git folder; commands do not run there (git would read "
            "that folder's config, which can name commands to run). Use a folder of the working tree",
        )


def check_git_repository(cwd: Path, root: Path) -> None:
    """Refuse when git, started in ``cwd``, would find a repository other than the root's own."""
    rel = cwd.relative_to(root)
    folder = cwd
    for _ in rel.parts:  # cwd and each parent below the root, innermost first
        where = folder.relative_to(root).as_posix()
        if os.path.lexists(folder / ".git") or _looks_like_gitdir(folder):
            found = f"{where}/.git" if os.path.lexists(folder / ".git") else where
            raise PolicyDenied(
                "shell.nested_repo",
                f"git would use the repository at {found!r}, not the workspace's own: tollhouse runs git "
                "only where the repository it finds is the workspace root's (a nested repository's config "
                "can run commands: core.fsmonitor, diff.external, aliases). Run git from a folder outside "
                "that repository, or remove it",
            )
        folder = folder.parent


_CHOOSERS = ("-C", "--git-dir", "--work-tree")


def check_git_options(argv: list[str], cwd: Path, root: Path) -> None:
    """Refuse git options that choose another repository than the root's own, wherever git appears in
    ``argv`` (as the program or under a wrapper): ``-C DIR`` moves where discovery starts, so the folder
    it lands in is judged like ``cwd``; ``--git-dir`` must name the root's own ``.git`` and
    ``--work-tree`` the root itself; ``--bare`` makes the current folder the repository."""
    for start, token in enumerate(argv):
        if os.path.basename(token) != "git":
            continue
        where = cwd
        i = start + 1
        while i < len(argv) and argv[i].startswith("-"):
            word = argv[i]
            name, eq, attached = word.partition("=")
            if word == "--bare":
                _refuse("--bare makes the current folder the repository")
            if name in GIT_GLOBAL_VALUES:
                value = attached if eq else (argv[i + 1] if i + 1 < len(argv) else "")
                i += 1 if eq else 2
                if name not in _CHOOSERS:
                    continue
                target = Path(os.path.realpath(where / value))
                if not target.is_relative_to(root):
                    _refuse(f"{name} {value!r} leads outside the workspace")
                if name == "-C":
                    where = target
                    check_cwd(where, root)
                    check_git_repository(where, root)
                elif name == "--git-dir" and target != root / ".git":
                    _refuse(f"--git-dir {value!r} is not the workspace's own .git")
                elif name == "--work-tree" and target != root:
                    _refuse(f"--work-tree {value!r} is not the workspace root")
                continue
            i += 1


def _refuse(why: str) -> None:
    raise PolicyDenied(
        "shell.nested_repo",
        f"{why}: tollhouse runs git only on the workspace's own repository (another repository's config "
        "can run commands: core.fsmonitor, diff.external, aliases)",
    )
