"""A model turn with no tool calls (the model answered in text) ends the loop: no dispatcher builds a
next message out of nothing (an empty user turn, which Anthropic and Gemini reject), and no receipt
is written because no call was made."""

from __future__ import annotations

import pytest
from anthropic.types import Message
from google.genai import types as gtypes
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.adapters.conftest import receipts
from tollhouse.adapters import anthropic, gemini, openai

pytestmark = pytest.mark.anyio

ANTHROPIC = [
    {"type": "text", "text": "All done."},
    {"type": "thinking", "thinking": "…", "signature": "s"},
]


def anthropic_message(content: list) -> dict:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": content,
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip


@pytest.mark.parametrize("content", [[], ANTHROPIC[:1], ANTHROPIC])
async def test_anthropic_text_only_gives_no_message(gate, config, content) -> None:
    raw = anthropic_message(content)
    assert await anthropic.dispatch(raw, gate) is None
    assert await anthropic.dispatch(Message.model_validate(raw), gate) is None
    assert await anthropic.dispatch(content, gate) is None
    assert receipts(config) == []


@pytest.mark.parametrize(
    "parts", [[], [{"text": "done"}], [{"text": "x", "thought": True, "thoughtSignature": "c2ln"}]]
)
async def test_gemini_text_only_gives_no_content(gate, config, parts) -> None:
    raw = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    assert await gemini.dispatch(raw, gate) is None
    assert await gemini.dispatch(gtypes.GenerateContentResponse.model_validate(raw), gate) is None
    assert await gemini.dispatch({"candidates": []}, gate) is None
    assert receipts(config) == []


async def test_openai_text_only_gives_nothing_to_append(gate, config) -> None:
    chat = {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "done", "tool_calls": []}}],
    }  # fmt: skip
    assert await openai.dispatch_chat(chat, gate) == []
    assert await openai.dispatch_chat(ChatCompletion.model_validate(chat), gate) == []
    resp = {
        "id": "r", "object": "response", "created_at": 1, "model": "m", "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [],
        "output": [{"type": "message", "id": "m1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "done", "annotations": []}]}],
    }  # fmt: skip
    assert await openai.dispatch_responses(resp, gate) == []
    assert await openai.dispatch_responses(Response.model_validate(resp), gate) == []
    assert receipts(config) == []
