"""What a person approves is what they see: control, bidi, zero-width, tag and odd-space characters
in any argument reach every approver (MCP elicitation in both eras, the terminal prompt) as visible
escapes, never raw."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client

from tests.server.conftest import stdio_params
from tollhouse.display import show_text, show_value
from tollhouse.gate.types import ApprovalRequest
from tollhouse.server.approvals import INPUT_KEY

HOSTILE = {
    "\u202e": "\\u202e",  # right-to-left override: "txt.exe" reads as "exe.txt"
    "\u2066": "\\u2066",  # left-to-right isolate
    "\u200f": "\\u200f",  # right-to-left mark
    "\u061c": "\\u061c",  # arabic letter mark
    "\x1b": "\\u001b",  # ESC: restyles or erases the terminal line
    "\x9b": "\\u009b",  # C1 CSI
    "\x85": "\\u0085",  # C1 next line
    "\r": "\\r",  # carriage return: overwrites what was shown
    "\x08": "\\b",  # backspace
    "\x7f": "\\u007f",
    "\u200b": "\\u200b",  # zero-width space
    "\u2060": "\\u2060",  # word joiner
    "\ufeff": "\\ufeff",  # zero-width no-break space
    "\U000e0041": "\\U000e0041",  # tag character: invisible ASCII "A"
    "\u2028": "\\u2028",  # line separator
    "\u00a0": "\\u00a0",  # no-break space
    "\u3164": "\\u3164",  # hangul filler
    "\ufe0f": "\\ufe0f",  # variation selector
}


@pytest.mark.parametrize(("char", "shown"), list(HOSTILE.items()))
def test_every_hidden_character_is_shown_as_an_escape(char: str, shown: str) -> None:
    value = {"argv": ["echo", f"a{char}b"]}
    rendered = show_value(value)
    assert char not in rendered and shown in rendered
    assert char not in show_text(f"a{char}b")
    assert show_text(f"a{char}b").startswith("a\\") and show_text(f"a{char}b").endswith("b")


def test_plain_text_and_visible_unicode_are_untouched() -> None:
    assert show_text("notes/todo.txt") == "notes/todo.txt"
    assert show_text("café naïve 日本語 emoji 🙂") == "café naïve 日本語 emoji 🙂"
    assert show_value({"path": "日本/ü.txt"}) == '{"path": "日本/ü.txt"}'
    assert json.loads(show_value({"b": [1, True, None], "a": "x"})) == {"a": "x", "b": [1, True, None]}


def test_an_escape_typed_by_the_agent_cannot_pass_for_one_made_here() -> None:
    assert show_text("\\u202e") != show_text("\u202e")
    assert show_value("\\u202e") != show_value("\u202e")


def _request(arguments: dict, reason: str = "approval required by rule r") -> ApprovalRequest:
    return ApprovalRequest(
        call_id="c1", tool="shell_run", title="Run", arguments=arguments, rules=("r",), reason=reason,
        args_digest="d" * 64, policy_hash="p" * 64, expires_at=time.time() + 60,
    )  # fmt: skip


def _all_hostile() -> str:
    return "txt" + "".join(HOSTILE) + ".exe"


def _clean(message: str) -> None:
    for char, shown in HOSTILE.items():
        assert char not in message, repr(char)
        assert shown in message, shown


@pytest.mark.anyio
async def test_terminal_prompt_shows_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    from tollhouse.cli import call_cmd

    seen: list[str] = []
    monkeypatch.setattr(call_cmd, "_ask", lambda prompt: seen.append(prompt) or False)
    answer = await call_cmd.TerminalApprover()(
        _request({"argv": ["echo", _all_hostile()]}, reason="path " + _all_hostile())
    )
    assert answer is not None and not answer.approved
    _clean(seen[0].split("arguments:")[1])
    _clean(seen[0].split("arguments:")[0])  # the reason quotes agent text too


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_mcp_elicitation_message_shows_escapes(ws: Path, mode: str) -> None:
    messages: list[str] = []

    async def decline(ctx, params):  # type: ignore[no-untyped-def]
        messages.append(params.message)
        return types.ElicitResult(action="decline")

    args = {"path": "notes/n.txt", "text": _all_hostile()}
    async with Client(stdio_params(ws), mode=mode, elicitation_callback=decline) as client:
        if mode == "auto":  # 2026: the message travels in the input_required result
            asked = await client.session.call_tool("demo_note_write", args, allow_input_required=True)
            assert isinstance(asked, types.InputRequiredResult)
            messages.append(asked.input_requests[INPUT_KEY].params.message)
        else:
            r = await client.call_tool("demo_note_write", args)
            assert r.is_error
    assert messages
    for message in messages:
        _clean(message)
    assert not (ws / "notes" / "n.txt").exists()
