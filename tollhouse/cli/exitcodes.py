"""Exit codes, the same for every command. ``TABLE`` is what `--help` and docs/cli.md show."""

OK = 0
TOOL_ERROR = 1
USAGE = 2
DENIED = 3
NEEDS_APPROVAL = 4
TIMEOUT = 5
CANCELLED = 6
STORE_UNUSABLE = 7
VERIFY_FAILED = 8
UNTRUSTED = 9
"""The policy file's hash is not one a person trusted (`tollhouse policy trust`): nothing ran."""
COMMAND_FAILED = 10
"""The tool ran, but the command it ran failed (shell_run: non-zero exit or a signal; the result and
receipt say which). A command that hit its own timeout exits TIMEOUT (5) instead."""
BROKEN_PIPE = 141
"""The reader of our output went away (`... | head`): 128 + SIGPIPE, as `cat` or `git` exit."""

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "ok"),
    (TOOL_ERROR, "the tool (or check) ran and failed: a tool error, a failing `doctor` check"),
    (USAGE, "usage or config error: bad arguments, no tollhouse.toml, a policy that does not load"),
    (DENIED, "denied by policy"),
    (NEEDS_APPROVAL, "needs approval (grant it with `tollhouse grant`)"),
    (TIMEOUT, "timed out"),
    (CANCELLED, "cancelled or interrupted (Ctrl-C)"),
    (STORE_UNUSABLE, "state unusable: receipt or state store read-only, disk full, locked or damaged"),
    (VERIFY_FAILED, "receipts failed verification"),
    (UNTRUSTED, "policy not trusted (see `tollhouse policy diff`); nothing ran"),
    (COMMAND_FAILED, "the tool ran but its command failed (`call shell_run`: non-zero exit or a signal)"),
    (BROKEN_PIPE, "the reader closed our output early (`| head`); nothing else went wrong"),
)
"""Every exit code any command returns, with its meaning (a test checks commands stay inside it)."""

BY_STATUS = {
    "ok": OK,
    "error": TOOL_ERROR,
    "denied": DENIED,
    "needs_approval": NEEDS_APPROVAL,
    "timeout": TIMEOUT,
    "cancelled": CANCELLED,
}


def of_outcome(status: str, failed: str | None = None) -> int:
    """The exit code for a call's outcome, a command's failure included (``Outcome.failed``)."""
    if status == "ok" and failed is not None:
        return TIMEOUT if failed == "timeout" else COMMAND_FAILED
    return BY_STATUS[status]


def render_table(indent: str = "  ") -> str:
    """The table as aligned text lines, for epilogs and docs/cli.md."""
    return "\n".join(f"{indent}{code:>3}  {text}" for code, text in TABLE)
