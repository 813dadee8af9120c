"""The exec-capable table, as data: which programs and arguments can run something else.

Read by ``execcap.guarded_indices``; listed for people in docs/tools/shell.md (a test keeps the two in
step). Add a program here, not an ``if`` in the analysis.
"""

from __future__ import annotations

from tollhouse.tools.shell.gitspec import GIT, GIT_GLOBAL_FLAGS, GIT_GLOBAL_VALUES, GIT_SUB_CONFIG
from tollhouse.tools.shell.specs import GUARD_ALL, RUN_ANYTHING, Spec
from tollhouse.tools.shell.specs import names as _s

__all__ = ["GIT", "GIT_GLOBAL_FLAGS", "GIT_GLOBAL_VALUES", "GIT_SUB_CONFIG", "GUARD_ALL", "PROGRAMS", "Spec"]


SHELL = Spec(opts=_s("-c", "--rcfile", "--init-file", "--command"), letters="c", values=_s("-o", "-O"))
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
