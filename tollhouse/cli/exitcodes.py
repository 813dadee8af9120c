"""Exit codes shared by every command that runs or inspects a call."""

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
