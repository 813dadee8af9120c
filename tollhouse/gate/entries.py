"""The layout of one receipt entry, built from a Call. The store adds seq, time and the chain."""

from __future__ import annotations

from typing import Any

from tollhouse.gate.digest import canonical_json
from tollhouse.gate.redact import Redactor
from tollhouse.gate.types import Call, Decision


def make_entry(
    kind: str,
    call: Call,
    *,
    operator: str,
    operator_groups: tuple[str, ...] = (),
    policy_hash: str | None,
    process: str | None,
    redactor: Redactor,
    arguments: Any = None,
    arguments_text: str | None = None,
    args_digest: str | None = None,
    decision: Decision | None = None,
    approver: str | None = None,
    outcome: str | None = None,
    duration_us: int | None = None,
    result_digest: str | None = None,
    excerpt: str | None = None,
    message: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every free-text or JSON field passes the redactor here, so no caller can forget it: the
    client-chosen names too (tool, case, session, client), since an unknown tool name or a case id is
    as free as any argument, and JSON keys as well as values.

    ``arguments_text`` is the already-redacted canonical text of the arguments, for a call that writes
    two entries (intent and outcome) and should redact and encode them once. ``excerpt`` is the one
    field that arrives redacted (``Gate._excerpt``): it must be redacted before it is cut short."""
    text = redactor.redact_text

    def name(value: str | None) -> str | None:
        return None if value is None else text(value)

    credentials = sorted({text(c) for c in call.credentials_used})
    groups = call.groups if call.operator else operator_groups
    if groups:
        # Who the operator is, as policy saw it: the groups a principals rule could have matched.
        details = {**(details or {}), "operator_groups": sorted(groups)}
    if call.provider_ids:  # ids a model provider gave this call, on every entry of it
        details = {**(details or {}), "provider": dict(call.provider_ids)}
    return {
        "kind": kind,
        "call_id": name(call.call_id),
        "operator": name(call.operator or operator),
        "credentials": canonical_json(credentials) if credentials else "[]",
        "channel": name(call.channel),
        "client": name(call.client),
        "session": name(call.session),
        "case_id": name(call.case),
        "tool": name(call.tool),
        "arguments": arguments_text
        if arguments_text is not None
        else (None if arguments is None else canonical_json(redactor.redact(arguments))),
        "args_digest": args_digest,
        "decision": decision.effect if decision else None,
        "rules": canonical_json(list(decision.rules)) if decision else None,
        "policy_hash": policy_hash,
        "approver": approver,
        "outcome": outcome,
        "duration_us": duration_us,
        "result_digest": result_digest,
        "excerpt": excerpt,
        "message": name(message),
        "details": None if details is None else canonical_json(redactor.redact(details)),
        "process": process,
    }
