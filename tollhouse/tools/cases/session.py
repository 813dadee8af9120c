"""The case a session works on, for clients that cannot send ``_meta``.

A stock MCP client sends only a tool's name and arguments. ``case_use`` (a tool like any other: it
passes the gate, its policy rule and its receipt) names the case for the rest of the session; the
gate then files each later call of that session under it, as if the client had sent
``_meta: {"tollhouse/case": ID}``. A case named in a call's own ``_meta`` or ``case_id`` argument
still wins. The choice lives in the gate's memory for the server's lifetime (``Services.shared``),
per session id: a restarted server starts with none.

Every case a call names, however it names it, must be a valid id; a call naming an invalid one is
refused before anything runs (``check_named_case``).
"""

from __future__ import annotations

from typing import Any

from tollhouse.state import cases

KEY = "cases.session_case"
NO_SESSION = ""
"""The key for calls without a session id (one CLI process, one gate)."""


def _table(services: Any) -> dict[str, str]:
    shared = getattr(services, "shared", None)
    if shared is None:
        return {}
    return shared.setdefault(KEY, {})  # type: ignore[no-any-return]


def session_case(services: Any, session: str | None) -> str | None:
    return _table(services).get(session or NO_SESSION)


def set_session_case(services: Any, session: str | None, case_id: str | None) -> None:
    table = _table(services)
    if case_id is None:
        table.pop(session or NO_SESSION, None)
    else:
        table[session or NO_SESSION] = case_id


def apply_session_case(services: Any, call: Any) -> str | None:
    """Fill ``call.case`` from the session's case when the call named none; then the refusal for
    an invalid case id, or None."""
    if call.case is None:
        call.case = session_case(services, call.session)
    if call.case is None:
        return None
    try:
        cases.check_case_id(call.case)
    except cases.CaseInputError as exc:
        return f"{exc}; nothing was run"
    return None
