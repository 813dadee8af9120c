"""git's grammar for the exec-capable table: its own options before the subcommand, and the
subcommands whose options write files or run programs. Checked against the installed git by
tests/shell/test_grammar.py."""

from __future__ import annotations

from tollhouse.tools.shell.specs import GUARD_ALL, Spec
from tollhouse.tools.shell.specs import names as _s

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
