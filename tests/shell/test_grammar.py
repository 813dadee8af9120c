"""The analyser's grammar, checked against the installed programs themselves.

The exec-capable table is only as good as its knowledge of each program's options. These tests read the
option lists the real programs print (`git --help`, `git <cmd> -h`, `find --help`) and run the programs,
so a table that drifts from the installed program fails here, not in an attacker's hands.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tollhouse.tools.shell.execcap import guarded_indices
from tollhouse.tools.shell.exectable import FIND, GIT, GIT_GLOBAL_FLAGS, GIT_GLOBAL_VALUES, PROGRAMS

GIT_EXE = shutil.which("git")
FIND_EXE = shutil.which("find")
needs_git = pytest.mark.skipif(GIT_EXE is None, reason="git is not installed")


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, timeout=30, check=False)


def _git_usage_options() -> list[tuple[str, str]]:
    """(name, value form) for each option in `git --help`'s usage block: "" (none), " " or "=" (a value
    is required, as the next word or after =), "[=" (an optional attached value)."""
    text = _git("--help").stdout
    usage = text.split("\n\n", 1)[0]
    found: list[tuple[str, str]] = []
    for group in re.findall(r"\[([^\]]*(?:\[[^\]]*\][^\]]*)*)\]", usage):
        if not group.lstrip().startswith("-"):
            continue  # [<args>]
        for item in group.split(" | "):
            m = re.match(r"\s*(--?[A-Za-z][\w-]*)(\[=|=| <)?", item)
            assert m, f"cannot read {item!r} in git's usage"
            found.append((m.group(1), {None: "", " <": " "}.get(m.group(2), m.group(2))))
    return found


@needs_git
def test_every_global_option_git_lists_is_known_to_the_table() -> None:
    options = _git_usage_options()
    assert len(options) >= 15, options  # the usage block was really read
    known = GIT_GLOBAL_FLAGS | GIT_GLOBAL_VALUES | GIT.opts
    unknown = [name for name, _ in options if name not in known]
    assert not unknown, f"git lists global options the table lacks: {unknown}"
    takes_value = [name for name, form in options if form in ("=", " ")]
    missing = [name for name in takes_value if name not in GIT_GLOBAL_VALUES]
    assert not missing, f"git's value-taking global options missing from GIT_GLOBAL_VALUES: {missing}"
    optional = [name for name, form in options if form == "[="]
    assert optional and all(name in GIT.opts for name in optional)  # --exec-path[=<path>]: guarded


VALUE_SAMPLES = {
    "-C": ".",
    "-c": "a.b=c",
    "--git-dir": ".git",
    "--work-tree": ".",
    "--namespace": "x",
    "--config-env": "a.b=HOME",
    "--super-prefix": "x/",
    "--shallow-file": "x",
    "--attr-source": "HEAD",
}


@needs_git
@pytest.mark.parametrize("option", sorted(VALUE_SAMPLES))
def test_git_takes_the_next_word_as_the_value(option: str, tmp_path: Path) -> None:
    """Run git: `git OPTION VALUE version` works only if git consumed VALUE as the option's value."""
    assert option in GIT_GLOBAL_VALUES
    _git("init", "-q", str(tmp_path))
    done = _git(option, VALUE_SAMPLES[option], "version", cwd=tmp_path)
    if "unknown option" in done.stderr:
        # Newer than this git: the table knows it ahead of time, and guards it, so either way is safe.
        assert option in GIT.opts and guarded_indices(["git", option, "x", "status"]) == [1]
        return
    # Either it ran `version`, or it said `version` (so not VALUE) cannot take the option.
    ran = done.returncode == 0 and done.stdout.startswith("git version")
    assert ran or f"version doesn't support {option}" in done.stderr, done.stderr
    # The analyser agrees: the value is not taken for the subcommand, and the option is judged.
    argv = ["git", option, "config", "log"]
    assert guarded_indices(argv) != [] if option in GIT.opts else guarded_indices(argv) == []


@needs_git
@pytest.mark.parametrize("flag", sorted(GIT_GLOBAL_FLAGS - {"-h", "--help", "-v", "--version"}))
def test_git_global_flags_take_no_value(flag: str, tmp_path: Path) -> None:
    _git("init", "-q", str(tmp_path))
    done = _git(flag, "version", cwd=tmp_path)
    assert "unknown option" not in done.stderr
    if flag.endswith("-path"):
        return  # --html-path and friends print a folder and stop
    assert done.returncode == 0 and done.stdout.startswith("git version"), (flag, done.stderr)


@needs_git
@pytest.mark.parametrize("word", ["--no-pag", "--git-d=x", "--bar", "--exec-pat=/x"])
def test_git_refuses_abbreviated_global_options_and_the_analyser_guards_them(word: str) -> None:
    done = _git(word, "status")
    assert done.returncode == 129 and f"unknown option: {word}" in done.stderr
    assert guarded_indices(["git", word, "log"]) != []


@pytest.mark.parametrize(
    ("argv", "guarded"),
    [
        # A value-taking global option unknown to the old table made its value look like the subcommand.
        (["git", "--shallow-file", "x", "log", "-c", "alias.zz=!cmd", "zz"], [1]),
        (["git", "--shallow-file", "x", "config", "core.fsmonitor", "x"], [1, 3, 4, 5]),
        (["git", "--namespace", "config", "core.fsmonitor", "x"], []),  # the value, not the subcommand
        (["git", "--namespace", "x", "config", "core.fsmonitor", "x"], [3, 4, 5]),
        (["git", "--super-prefix", "x/", "-c", "core.pager=sh", "log"], [3]),
        (["git", "--attr-source", "HEAD", "status"], [1]),
        (["git", "--bare", "log"], [1]),
        (["git", "--no-pager", "-p", "log"], []),
        # An option the table does not know: every later word is guarded.
        (["git", "--frobnicate", "x", "log"], [1, 2, 3]),
        (["git", "-x", "log"], [1, 2]),
    ],
)
def test_git_global_grammar(argv: list[str], guarded: list[int]) -> None:
    assert guarded_indices(argv) == guarded


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "archive", "-o/any/path", "HEAD"],
        ["git", "archive", "-vo/any/path", "HEAD"],
        ["git", "archive", "--outp=/any/path", "HEAD"],
        ["git", "archive", "--output", "/any/path", "HEAD"],
        ["git", "format-patch", "-o/dir", "-1"],
        ["git", "format-patch", "-o", "/dir", "-1"],
        ["git", "format-patch", "--output-d=/dir", "-1"],
        ["git", "format-patch", "--output-directory=/dir", "-1"],
        ["git", "diff", "--outp=/x"],
        ["git", "log", "--output=/x"],
        ["git", "rebase", "-x/bin/true"],
        ["git", "rebase", "-ix", "cmd"],
        ["git", "grep", "-Ovim", "x"],
        ["git", "clone", "-u/bin/sh", "url"],
        ["git", "clone", "--templ=/t", "url"],
        ["git", "ls-remote", "--upload-p=/x", "url"],
    ],
)
def test_git_subcommand_attached_and_abbreviated_values_are_guarded(argv: list[str]) -> None:
    assert 2 in guarded_indices(argv)


_HELP_LINE = re.compile(
    r"^\s{2,}(?:(-[A-Za-z0-9]),\s+)?(--?[A-Za-z0-9][\w-]*)(\[=<[^>]*>\]| ?<[^>]*>)?\s*(.*)$"
)
_RISKY_TEXT = re.compile(r"\bwrite\b|output to a|\bstore\b|execut|run external|\bpager\b|\bcommand\b", re.I)
_RISKY_VALUE = re.compile(r"<(command|exec|cmd|receive-pack|pager|template-directory|program)>")


def _risky_options(sub: str, cwd: Path) -> list[tuple[str | None, str]]:
    """Options `git SUB -h` lists that write a file, run a program or choose one to run."""
    done = _git(sub, "-h", cwd=cwd)
    assert done.returncode == 129, (sub, done.returncode)
    lines = (done.stdout + done.stderr).splitlines()
    risky = []
    for i, line in enumerate(lines):
        m = _HELP_LINE.match(line)
        if not m:
            continue
        short, name, value, text = m.groups()
        if not text and i + 1 < len(lines) and not _HELP_LINE.match(lines[i + 1]):
            text = lines[i + 1].strip()  # the description wrapped to the next line
        takes = bool(value)
        if (takes and (_RISKY_TEXT.search(text) or _RISKY_VALUE.search(value) or "pack" in name)) or (
            not takes and re.search(r"execut|run external", text)
        ):
            risky.append((short, name))
    return risky


@needs_git
@pytest.mark.parametrize(
    "sub", ["clone", "fetch", "pull", "ls-remote", "archive", "push", "send-pack", "rebase", "grep",
            "format-patch", "range-diff"]
)  # fmt: skip
def test_every_risky_option_git_lists_is_guarded(sub: str, tmp_path: Path) -> None:
    """From `git SUB -h`, exit 129: each option that writes a file or runs a program is guarded, in
    every spelling git's parse-options accepts: long, `--name=v`, a unique prefix, short, attached."""
    _git("init", "-q", str(tmp_path))
    risky = _risky_options(sub, tmp_path)
    assert risky, f"git {sub} -h listed no risky option; the help parser is broken"
    for short, name in risky:
        forms = [name, f"{name}=v", name[: max(4, len(name) - 2)]]
        if short:
            forms += [short, f"{short}v", f"-q{short[1]}v"]
        for form in forms:
            assert 2 in guarded_indices(["git", sub, form, "x"]), f"git {sub} {form} is not guarded"
    if sub == "range-diff":  # the diff options, shared by log, diff, show, whatchanged, format-patch
        for diffy in ("log", "diff", "show", "whatchanged"):
            for _, name in risky:
                assert 2 in guarded_indices(["git", diffy, name]), f"git {diffy} {name} is not guarded"


@needs_git
def test_git_really_accepts_the_forms_the_analyser_guards(tmp_path: Path) -> None:
    """parse-options takes unique prefixes and attached short values: check that on the real git."""
    repo, out = tmp_path / "repo", tmp_path / "out"
    out.mkdir()
    _git("init", "-q", str(repo))
    _git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x", cwd=repo)
    for i, form in enumerate(["-o{}", "--output={}"]):
        target = out / f"a{i}.tar"
        argv = ["git", "archive", form.format(target), "HEAD"]
        assert _git(*argv[1:], cwd=repo).returncode == 0 and target.exists(), form
        assert 2 in guarded_indices(argv)
    done = _git("format-patch", f"-o{out / 'fp'}", "-1", cwd=repo)
    assert done.returncode == 0 and any((out / "fp").iterdir())
    # A unique prefix: `--templ` is --template, whose hooks run (post-checkout) during the clone.
    hooks = tmp_path / "tpl" / "hooks"
    hooks.mkdir(parents=True)
    marker = tmp_path / "MARKER"
    (hooks / "post-checkout").write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    (hooks / "post-checkout").chmod(0o755)
    argv = ["git", "clone", "-q", f"--templ={hooks.parent}", str(repo), str(tmp_path / "clone")]
    assert _git(*argv[1:]).returncode == 0 and marker.exists()
    assert 3 in guarded_indices(argv)


def _find_actions() -> dict[str, str]:
    text = subprocess.run(["find", "--help"], capture_output=True, text=True, check=False).stdout
    section = text.split("Actions:", 1)[1].split("\n\n", 1)[0]
    words = section.split()
    return {w: (words[i + 1] if i + 1 < len(words) else "") for i, w in enumerate(words) if w.startswith("-")}


@pytest.mark.skipif(FIND_EXE is None, reason="find is not installed")
def test_every_find_action_that_writes_or_runs_is_guarded() -> None:
    actions = _find_actions()
    assert "-print" in actions and "-exec" in actions, actions
    runs = {a for a, arg in actions.items() if arg == "COMMAND"}
    writes = {a for a, arg in actions.items() if arg == "FILE"} | {"-delete"}
    assert runs and writes
    assert runs <= FIND.inner_opts, runs - FIND.inner_opts
    assert runs | writes <= FIND.opts, (runs | writes) - FIND.opts


@pytest.mark.parametrize(
    ("argv", "guarded"),
    [
        (["find", "--", ".", "-exec", "sh", "-c", "x", "{}", ";"], [3, 4, 5]),
        (["find", "-L", "--", ".", "-delete"], [4]),
        (["find", "-H", "-O3", "-D", "exec", "--", ".", "-fprint", "/x"], [7]),
        (["find", "--", "-fls", "/x"], [2]),
        (["find", ".", "--", "-okdir", "rm", "{}", "+"], [3, 4]),
        (["find", "--", ".", "-name", "x"], []),
    ],
)
def test_find_double_dash_ends_only_the_global_options(argv: list[str], guarded: list[int]) -> None:
    assert guarded_indices(argv) == guarded


@pytest.mark.skipif(FIND_EXE is None, reason="find is not installed")
def test_find_really_runs_exec_after_double_dash(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    argv = ["find", "--", str(tmp_path), "-maxdepth", "0", "-exec", "touch", str(marker), ";"]
    subprocess.run(argv, check=True, timeout=30)
    assert marker.exists()  # so the guard below is needed, not decorative
    assert 5 in guarded_indices(argv)


RUFF_EXE = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
# ruff's options whose value is a file or folder it writes, or a config it reads.
_RUFF_RISKY = re.compile(r"<(\w+_)?(FILE|DIR)>|<CONFIG\w*>")


@pytest.mark.skipif(not Path(RUFF_EXE).exists(), reason="ruff is not installed")
@pytest.mark.parametrize("sub", [[], ["check"], ["format"]], ids=["ruff", "check", "format"])
def test_every_ruff_option_that_writes_or_configures_is_guarded(sub: list[str]) -> None:
    text = subprocess.run([RUFF_EXE, *sub, "--help"], capture_output=True, text=True, check=True).stdout
    risky = re.findall(r"^\s+(?:(-\w), )?(--[\w-]+)(?:[ =\[](<[^>]+>))?", text, re.M)
    names = [(short, name) for short, name, value in risky if value and _RUFF_RISKY.search(value)]
    assert ("", "--config") in names or ("-o", "--output-file") in names, text
    for short, name in names:
        forms = [name, f"{name}=v"] + ([short, f"{short}v", f"-n{short[1]}"] if short else [])
        for form in forms:
            argv = ["ruff", *sub, form, "x"]
            assert len(sub) + 1 in guarded_indices(argv), f"{argv} is not guarded"
            argv = ["python", "-m", "ruff", *sub, form]
            assert len(sub) + 3 in guarded_indices(argv), f"{argv} is not guarded"


# pytest options that read a file or folder and cannot write or load code through it.
PYTEST_READS = {"--ignore", "--ignore-glob", "--deselect", "--doctest-glob", "--rootdir-ignore"}
_PYTEST_RISKY = re.compile(
    r"^(path|dir|FILE|ROOTDIR|name|OVERRIDE_INI|LOG_FILE|DEBUG_FILE_NAME|modulename:classname|mode)$"
)


def test_every_pytest_option_that_writes_or_loads_is_guarded() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    found: list[tuple[str, str]] = []
    for line in done.stdout.splitlines():
        m = re.match(r"^\s{2}(-\w(?: \S+)?, )?(--?[\w-]+)(?:\[?[= ]([^\s\]]+))?", line)
        if not m:
            continue
        short = (m.group(1) or "").split(" ")[0].rstrip(",")
        if m.group(3) and _PYTEST_RISKY.match(m.group(3)) and m.group(2) not in PYTEST_READS:
            found.append((short, m.group(2)))
    names = {name for _, name in found}
    assert {"--basetemp", "--junit-xml", "--override-ini", "--rootdir"} <= names, names
    assert "-p" in names  # `-p name`: a plugin module to import
    for short, name in found:
        forms = [name] if name == "-p" else [name, f"{name}=v"]
        forms += [short, f"{short}v", f"-q{short[1]}"] if short else []
        for form in forms:
            assert 1 in guarded_indices(["pytest", form, "x"]), f"pytest {form} is not guarded"
            assert 3 in guarded_indices(["python", "-m", "pytest", form]), f"python -m pytest {form}"


def test_pytest_takes_no_abbreviation_but_takes_clusters(tmp_path: Path) -> None:
    """The reason the table matches clusters (`-qo cache_dir=...`) and need not match abbreviations."""
    (tmp_path / "test_a.py").write_text("def test_a():\n    pass\n")
    outside = tmp_path / "elsewhere"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]
    short = subprocess.run(
        [*argv, f"--basete={outside}"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert short.returncode == 4 and "unrecognized arguments: --basete" in short.stderr
    cluster = subprocess.run(
        [*argv, "-qo", f"cache_dir={outside}"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert cluster.returncode == 0 and outside.is_dir()  # the cluster really wrote outside
    assert 1 in guarded_indices(["pytest", "-qo", f"cache_dir={outside}"])


_GNU_OPT = re.compile(
    r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)(\[=?[^\]\s]*\]|=[^\s,]+| <[^>]+>| [A-Z][A-Z_-]*\b| [a-z]+(?=,))?"
)


def _gnu_options(program: str) -> dict[str, str]:
    """name -> "flag", "value" (the next word, or after =) or "optional" (attached only) from the
    program's own `--help`. GNU prints a value once, on the long form (`-k, --kill-after=DURATION`)."""
    text = subprocess.run([program, "--help"], capture_output=True, text=True, check=False, timeout=30).stdout
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not re.match(r"^\s{1,8}-", line):
            continue
        head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        pairs = [(m.group(1), m.group(2) or "") for m in _GNU_OPT.finditer(head)]
        kinds = ["flag" if not v else ("optional" if v.startswith("[") else "value") for _, v in pairs]
        shared = "value" if "value" in kinds else "flag"
        for (name, _), kind in zip(pairs, kinds, strict=True):
            found[name] = "optional" if kind == "optional" else shared
    return found


GNU_PROGRAMS = ["timeout", "env", "xargs", "nice", "stdbuf", "nohup", "setsid", "ionice", "taskset", "chroot",
                "flock", "sed"]  # fmt: skip


@pytest.mark.parametrize("program", GNU_PROGRAMS)
def test_wrapper_and_sed_options_match_their_help(program: str) -> None:
    """Every option the installed program lists is known to its (strict) spec, and every option that
    takes the next word as its value is in `values`, so that word is never taken for the command."""
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")  # a wrapper that is absent cannot be run either
    spec = PROGRAMS[program]
    options = _gnu_options(program)
    assert len(options) >= 3 or program == "nohup", options
    known = (spec.flags or frozenset()) | spec.values | spec.opts
    wrong = []
    for name, kind in options.items():
        if name in ("--help", "--version", "-h", "-V"):
            continue
        if spec.flags is not None and name not in known:
            wrong.append(f"{name} ({kind}) unknown")
        elif kind == "value" and name not in spec.values | spec.opts:
            wrong.append(f"{name} takes a value")
        elif kind != "value" and name in spec.values:
            wrong.append(f"{name} takes no next word")
    assert not wrong, f"{program}: {wrong}"


@pytest.mark.parametrize(
    ("argv", "guarded"),
    [
        (["xargs", "--max-lines", "1", "sh", "-c", "x"], [0, 3, 4]),
        (["ionice", "-p", "1", "sh"], [0, 3]),
        (["chroot", "--userspec", "u:g", "/", "sh", "-c", "x"], [0, 4, 5]),
        (["sed", "-l", "5", "e touch x"], [3]),
        (["sed", "--line-length=5", "e touch x"], [2]),
    ],
)
def test_value_options_do_not_hide_the_command(argv: list[str], guarded: list[int]) -> None:
    assert guarded_indices(argv) == guarded
