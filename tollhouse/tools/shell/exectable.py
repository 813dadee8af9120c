"""The exec-capable table, as data: which programs and arguments can run something else.

Read by ``execcap.guarded_indices``; listed for people in docs/tools/shell.md (a test keeps the two in
step). Add a program here, not an ``if`` in the analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spec:
    """How one program (or one subcommand) can be made to execute something else."""

    self_: bool = False
    """The program token itself is exec-capable (wrappers, ``eval``, ``sudo``)."""
    rest: bool = False
    """Every token after the program is guarded (syntax too rich to analyse: sudo, watch, gdb...)."""
    opts: frozenset[str] = frozenset()
    """Exec-capable options. Long ones also match any abbreviation GNU getopt would accept
    (``--checkpoint-a``) and an attached value (``--rsh=cmd``)."""
    letters: str = ""
    """Exec-capable short options, also inside a cluster (``sh -ec``, ``tar -xIf``)."""
    values: frozenset[str] = frozenset()
    """Options that take the next token as their value (so that value is not taken for an operand)."""
    flags: frozenset[str] | None = None
    """For a strict wrapper: every option it knows that takes no value. Any other option guards the rest."""
    wrapper: bool = False
    """An operand (after ``skip`` of them) starts an inner command, itself analysed and guarded."""
    skip: int = 0
    assignments: bool = False
    """``NAME=value`` operands before the inner command are allowed (env)."""
    guard_assign: bool = False
    """``NAME=value`` operands are exec-capable (make: ``SHELL=...``, ``CC=...``)."""
    operand: int | None = None
    """Index of an operand that is program text (awk program, sed script)."""
    plus: bool = False
    """Operands starting with ``+`` are commands (vim ``+cmd``)."""
    old_letters: str = ""
    """Letters exec-capable in an old-style first operand without a dash (``tar cIf``)."""
    inner_opts: frozenset[str] = frozenset()
    """Options whose following tokens, up to ``;`` or ``+``, are an inner command (find -exec)."""
    subs: Mapping[str, Spec] = field(default_factory=dict)
    """Subcommand specs, chosen by the first operand (git rebase, uv run)."""
    module_opt: str = ""
    """An option naming a module run as a program (``python -m pytest``): the rest of argv is analysed
    with that program's own spec."""
    dashdash: bool = True
    """``--`` ends the options. Not so for find: there it only ends the global options (-H, -L, -D...),
    and every later ``-exec``/``-delete`` is still an action."""


def _s(*names: str) -> frozenset[str]:
    return frozenset(names)


GUARD_ALL = Spec(self_=True, rest=True)
RUN_ANYTHING = Spec(self_=True, rest=True)  # package runners: they fetch and run what they are told

SHELL = Spec(opts=_s("-c", "--rcfile", "--init-file", "--command"), letters="c", values=_s("-o", "-O"))
GIT_SUB_CONFIG = Spec(self_=True, rest=True)

_GIT_DIFFLIKE = Spec(opts=_s("--output", "--ext-diff", "--textconv"))
# git's own options before the subcommand (git.c handle_options), all of them, hidden ones included.
# git accepts no abbreviation here and takes the value of every value option as the next word or after
# `=`. The list is strict: any other option before the subcommand guards every later word, so a new
# option git gains can never make the analyser take its value for the subcommand. A test checks this list
# against `git --help`.
GIT_GLOBAL_FLAGS = _s(
    "-v",
    "--version",
    "-h",
    "--help",
    "--html-path",
    "--man-path",
    "--info-path",
    "-p",
    "--paginate",
    "-P",
    "--no-pager",
    "--no-replace-objects",
    "--literal-pathspecs",
    "--glob-pathspecs",
    "--noglob-pathspecs",
    "--icase-pathspecs",
    "--no-optional-locks",
)
GIT_GLOBAL_VALUES = _s(
    "-c",
    "-C",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--config-env",
    "--super-prefix",
    "--list-cmds",
    "--shallow-file",
    "--attr-source",
)
GIT = Spec(
    # -c/--config-env set any config key (aliases, pagers, hooks); -C, --git-dir, --work-tree and --bare
    # choose which repository (and so which config) git reads; --exec-path chooses the programs git runs;
    # --shallow-file names a file git may rewrite.
    opts=_s(
        "-c",
        "--config-env",
        "--exec-path",
        "-C",
        "--git-dir",
        "--work-tree",
        "--bare",
        "--shallow-file",
        "--attr-source",
        "--upload-pack",
        "--receive-pack",
    ),
    values=GIT_GLOBAL_VALUES,
    flags=GIT_GLOBAL_FLAGS | _s("--exec-path", "--bare"),
    subs={
        "clone": Spec(
            opts=_s("-c", "--config", "-u", "--upload-pack", "--template"),
            letters="cu",
            values=_s("-o", "-b", "--depth", "-j", "--origin", "--branch"),
        ),
        "fetch": Spec(opts=_s("--upload-pack")),
        "pull": Spec(opts=_s("--upload-pack")),
        "ls-remote": Spec(opts=_s("--upload-pack", "-u", "--exec")),
        "archive": Spec(opts=_s("--exec", "--remote", "--output", "-o"), values=_s("--format", "--prefix")),
        "push": Spec(opts=_s("--receive-pack", "--exec")),
        "send-pack": Spec(opts=_s("--receive-pack", "--exec")),
        "fetch-pack": Spec(opts=_s("--upload-pack", "--exec")),
        "rebase": Spec(opts=_s("-x", "--exec"), letters="x"),
        "grep": Spec(opts=_s("-O", "--open-files-in-pager"), letters="O"),
        "log": _GIT_DIFFLIKE,
        "diff": _GIT_DIFFLIKE,
        "show": _GIT_DIFFLIKE,
        "format-patch": Spec(opts=_s("--output", "-o", "--output-directory")),
        "whatchanged": _GIT_DIFFLIKE,
        "range-diff": _GIT_DIFFLIKE,
        "config": GIT_SUB_CONFIG,
        "difftool": GUARD_ALL,
        "mergetool": GUARD_ALL,
        "submodule": GUARD_ALL,
        "bisect": GUARD_ALL,
        "filter-branch": GUARD_ALL,
        "filter-repo": GUARD_ALL,
        "send-email": GUARD_ALL,
        "daemon": GUARD_ALL,
        "instaweb": GUARD_ALL,
        "remote-ext": GUARD_ALL,
        "credential": GUARD_ALL,
        "web--browse": GUARD_ALL,
    },
)

FIND = Spec(
    dashdash=False,
    opts=_s("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"),
    inner_opts=_s("-exec", "-execdir", "-ok", "-okdir"),
)
TAR = Spec(
    opts=_s(
        "--checkpoint-action",
        "--to-command",
        "-I",
        "--use-compress-program",
        "--info-script",
        "-F",
        "--new-volume-script",
        "--rsh-command",
        "--rmt-command",
        "--index-file",
    ),
    letters="IF",
    old_letters="IF",
)

# Wrappers: their first operand (after `skip`) is another command. They are strict where their option
# set is small and known, so a misparsed option cannot hide the inner command.
ENV = Spec(
    self_=True,
    wrapper=True,
    assignments=True,
    opts=_s("-S", "--split-string"),
    letters="S",
    values=_s("-u", "--unset", "-C", "--chdir"),
    flags=_s(
        "-i",
        "--ignore-environment",
        "-0",
        "--null",
        "-v",
        "--debug",
        "-",
        "--default-signal",
        "--ignore-signal",
        "--block-signal",
        "--list-signal-handling",
    ),
)
TIMEOUT = Spec(
    self_=True,
    wrapper=True,
    skip=1,
    values=_s("-s", "--signal", "-k", "--kill-after"),
    flags=_s("--preserve-status", "--foreground", "-v", "--verbose"),
)
NICE = Spec(self_=True, wrapper=True, values=_s("-n", "--adjustment"), flags=_s())
XARGS = Spec(
    self_=True,
    wrapper=True,
    values=_s(
        "-a",
        "--arg-file",
        "-d",
        "--delimiter",
        "-E",
        "-I",
        "-L",
        "-n",
        "--max-args",
        "-P",
        "--max-procs",
        "-s",
        "--max-chars",
        "--process-slot-var",
        "--max-lines",
    ),
    flags=_s(
        "-0",
        "--null",
        "-r",
        "--no-run-if-empty",
        "-t",
        "--verbose",
        "-p",
        "--interactive",
        "-x",
        "--exit",
        "-o",
        "--open-tty",
        "--show-limits",
        "-e",  # -e, -i, -l take an optional value attached only (-eEND): the next word is not theirs
        "--eof",
        "-i",
        "--replace",
        "-l",
    ),
)
STDBUF = Spec(
    self_=True, wrapper=True, values=_s("-i", "-o", "-e", "--input", "--output", "--error"), flags=_s()
)
NOHUP = Spec(self_=True, wrapper=True, flags=_s())
SETSID = Spec(self_=True, wrapper=True, flags=_s("-c", "--ctty", "-f", "--fork", "-w", "--wait"))
TIME = Spec(
    self_=True,
    wrapper=True,
    values=_s("-f", "--format", "-o", "--output"),
    flags=_s("-a", "--append", "-p", "--portability", "-v", "--verbose", "-q", "--quiet"),
)
IONICE = Spec(
    self_=True,
    wrapper=True,
    values=_s("-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "--pgid", "-u", "--uid"),
    flags=_s("-t", "--ignore"),
)
TASKSET = Spec(
    self_=True, wrapper=True, skip=1, flags=_s("-c", "--cpu-list", "-a", "--all-tasks", "-p", "--pid")
)
CHROOT = Spec(self_=True, wrapper=True, skip=1, values=_s("--groups", "--userspec"), flags=_s("--skip-chdir"))
FLOCK = Spec(
    self_=True,
    wrapper=True,
    skip=1,
    opts=_s("-c", "--command"),
    letters="c",
    values=_s("-w", "--wait", "--timeout", "-E", "--conflict-exit-code"),
    flags=_s(
        "-s",
        "--shared",
        "-x",
        "-e",
        "--exclusive",
        "-u",
        "--unlock",
        "-n",
        "--nb",
        "--nonblock",
        "-o",
        "--close",
        "-F",
        "--no-fork",
        "--verbose",
    ),
)
BUSYBOX = Spec(self_=True, wrapper=True, flags=_s())

INTERP_PY = Spec(opts=_s("-c"), letters="c", values=_s("-W", "-X", "-m"), module_opt="-m")

# Programs that read the workspace's configuration and take options that write anywhere or load code.
# Tests read `pytest --help` and `ruff <cmd> --help`: every option that names a file or folder to write,
# a config to read, or a plugin or class to import is here. Neither accepts abbreviated long options
# (argparse with allow_abbrev=False; clap), which tests also check by running them.
PYTEST = Spec(
    opts=_s(
        "-p",
        "-c",
        "--config-file",
        "--rootdir",
        "--basetemp",
        "--junitxml",
        "--junit-xml",
        "--debug",
        "--log-file",
        "-o",
        "--override-ini",
        "--confcutdir",
        "--pastebin",
        "--pdbcls",
    ),
    values=_s("-k", "-m", "-r", "-W"),
)
RUFF = Spec(opts=_s("-o", "--output-file", "--cache-dir", "--config"))
PERL = Spec(opts=_s("-e", "-E", "-M", "-m", "-x"), letters="eEMmx", values=_s("-I"))
RUBY = Spec(opts=_s("-e", "-r", "--require"), letters="er", values=_s("-I"))
NODE = Spec(
    opts=_s(
        "-e", "--eval", "-p", "--print", "-r", "--require", "--import", "--loader", "--experimental-loader"
    ),
    letters="epr",
)
AWK = Spec(
    opts=_s("-f", "--file", "-e", "--source", "-E", "--exec", "-i", "--include", "-l", "--load"),
    letters="feEil",
    values=_s("-F", "-v", "--field-separator", "--assign"),
    operand=0,
)
SED = Spec(
    opts=_s("-e", "--expression", "-f", "--file"), letters="ef", values=_s("-l", "--line-length"), operand=0
)
MAKE = Spec(
    opts=_s("--eval", "-E", "-f", "--file", "--makefile", "-C", "--directory"),
    letters="EfC",
    values=_s("-j", "-l", "-o", "-W", "-I"),
    guard_assign=True,
)
RSYNC = Spec(opts=_s("-e", "--rsh", "--rsync-path"), letters="e")
SSH = Spec(opts=_s("-o", "-F"), letters="oF")
SCP = Spec(opts=_s("-o", "-F", "-S", "-D"), letters="oFSD")
VIM = Spec(opts=_s("-c", "--cmd", "-S"), letters="cS", plus=True)
EMACS = Spec(opts=_s("--eval", "-l", "--load", "-f", "--funcall", "--script", "-x", "--batch", "-batch"))

SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash", "yash", "pwsh")

PROGRAMS: dict[str, Spec] = {
    **dict.fromkeys(SHELLS, SHELL),
    "git": GIT,
    "find": FIND,
    "tar": TAR,
    "bsdtar": TAR,
    "env": ENV,
    "timeout": TIMEOUT,
    "nice": NICE,
    "xargs": XARGS,
    "stdbuf": STDBUF,
    "nohup": NOHUP,
    "setsid": SETSID,
    "time": TIME,
    "ionice": IONICE,
    "taskset": TASKSET,
    "chroot": CHROOT,
    "flock": FLOCK,
    "busybox": BUSYBOX,
    **{
        name: GUARD_ALL
        for name in (
            "sudo",
            "su",
            "doas",
            "pkexec",
            "runuser",
            "watch",
            "strace",
            "ltrace",
            "gdb",
            "lldb",
            "valgrind",
            "perf",
            "fakeroot",
            "firejail",
            "bwrap",
            "unshare",
            "nsenter",
            "chrt",
            "script",
            "expect",
            "parallel",
            "at",
            "batch",
            "crontab",
            "systemd-run",
            "screen",
            "tmux",
            "docker",
            "podman",
            "kubectl",
            "exec",
            "eval",
            "source",
            ".",
            "command",
            "builtin",
            "trap",
            "alias",
            "unbuffer",
            "socat",
            "nc",
            "ncat",
            "netcat",
            "sshpass",
            "catchsegv",
            "cgexec",
            "prlimit",
            "numactl",
            "dbus-launch",
            "xdg-open",
            "open",
            "launchctl",
            "osascript",
        )
    },
    **{name: RUN_ANYTHING for name in ("npx", "pnpx", "bunx", "uvx", "pipx")},
    "uv": Spec(subs={"run": GUARD_ALL, "tool": GUARD_ALL}),
    "poetry": Spec(subs={"run": GUARD_ALL}),
    "pipenv": Spec(subs={"run": GUARD_ALL}),
    "pdm": Spec(subs={"run": GUARD_ALL}),
    "hatch": Spec(subs={"run": GUARD_ALL}),
    "conda": Spec(subs={"run": GUARD_ALL}),
    "npm": Spec(subs={"exec": GUARD_ALL, "x": GUARD_ALL}),
    "pnpm": Spec(subs={"exec": GUARD_ALL, "dlx": GUARD_ALL}),
    "yarn": Spec(subs={"exec": GUARD_ALL, "dlx": GUARD_ALL}),
    "pytest": PYTEST,
    "py.test": PYTEST,
    "ruff": RUFF,
    "python": INTERP_PY,
    "pypy": INTERP_PY,
    "perl": PERL,
    "ruby": RUBY,
    "node": NODE,
    "nodejs": NODE,
    "bun": NODE,
    "deno": Spec(subs={"eval": GUARD_ALL}, opts=_s("--eval")),
    "php": Spec(opts=_s("-r", "-B", "-R", "-F", "-E"), letters="rBRFE"),
    "lua": Spec(opts=_s("-e", "-l"), letters="el"),
    "luajit": Spec(opts=_s("-e", "-l"), letters="el"),
    "Rscript": Spec(opts=_s("-e")),
    "tclsh": Spec(),
    "awk": AWK,
    "gawk": AWK,
    "mawk": AWK,
    "nawk": AWK,
    "sed": SED,
    "make": MAKE,
    "gmake": MAKE,
    "rsync": RSYNC,
    "ssh": SSH,
    "scp": SCP,
    "sftp": SCP,
    "sort": Spec(opts=_s("--compress-program")),
    "zip": Spec(opts=_s("-TT", "--unzip-command")),
    "man": Spec(opts=_s("-P", "--pager", "-H", "--html"), letters="PH"),
    "vim": VIM,
    "vi": VIM,
    "nvim": VIM,
    "ex": VIM,
    "view": VIM,
    "vimdiff": VIM,
    "emacs": EMACS,
}
