"""The gate and its public types. Faces import from here, never from a tool module."""

from tollhouse.gate.catalogue import ToolSpec
from tollhouse.gate.types import (
    ApprovalAnswer,
    ApprovalRequest,
    Approver,
    Call,
    Decision,
    Outcome,
)

__all__ = [
    "ApprovalAnswer",
    "ApprovalRequest",
    "Approver",
    "Call",
    "Decision",
    "Gate",
    "Outcome",
    "ToolSpec",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Importing the gate pulls in policy, receipts and SQLite; faces that only need the types don't pay.
    if name == "Gate":
        from tollhouse.gate.gate import Gate

        return Gate
    raise AttributeError(name)
