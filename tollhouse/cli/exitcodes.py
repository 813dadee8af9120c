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

BY_STATUS = {
    "ok": OK,
    "error": TOOL_ERROR,
    "denied": DENIED,
    "needs_approval": NEEDS_APPROVAL,
    "timeout": TIMEOUT,
    "cancelled": CANCELLED,
}
