"""Provider responses (real JSON shapes, parsed into the SDK types) go through the real gate; the exact
next-turn payloads come back, and every call leaves receipts with the provider's channel."""

from __future__ import annotations

import json
import time

import pytest
from anthropic.types import Message
from google.genai import types as gtypes
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from tests.adapters.conftest import receipts
from tollhouse.adapters import anthropic, gemini, openai

pytestmark = pytest.mark.anyio

BAD_JSON = '{"text": "hi"'
NOT_JSON = "Error: invalid arguments for ad_echo: arguments are not valid JSON; send a JSON object"


def chat_completion(*calls: tuple[str, str, str]) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                        for cid, name, args in calls
                    ],
                },
            }
        ],
    }


def outcomes_by_channel(config, channel: str) -> list[tuple[str, str]]:
    return [
        (r["tool"], r["outcome"])
        for r in receipts(config)
        if r["kind"] == "outcome" and r["channel"] == channel
    ]


async def test_openai_chat_parallel_calls_errors_and_receipts(gate, config) -> None:
    raw = chat_completion(
        ("call_a", "ad_echo", json.dumps({"text": "hi", "times": 2, "tag-name": None})),
        ("call_b", "ad_echo", BAD_JSON),
        ("call_c", "ad_fail", json.dumps({"text": "x", "times": None, "tag-name": None})),
        ("call_d", "ad_echo", json.dumps({"text": "hi", "times": 11, "tag-name": None})),
        ("call_e", "ad_hidden", json.dumps({"seconds": 0})),
    )
    messages = await openai.dispatch_chat(ChatCompletion.model_validate(raw), gate)
    assert [m["tool_call_id"] for m in messages] == ["call_a", "call_b", "call_c", "call_d", "call_e"]
    assert messages[0] == {
        "role": "tool",
        "tool_call_id": "call_a",
        "content": '{"text": "hihi", "tag": null}',
    }
    assert messages[1]["content"] == (
        "Error: invalid arguments for ad_echo: arguments are not valid JSON; send a JSON object"
    )
    assert messages[2]["content"] == "Error: cannot echo 'x'; send a shorter text"
    assert messages[3]["content"].startswith("Error: invalid arguments for ad_echo: times")
    assert messages[4]["content"].startswith("Denied by policy: ")
    got = outcomes_by_channel(config, "openai")
    assert sorted(got) == sorted(
        [
            ("ad_echo", "ok"),
            ("ad_echo", "error"),
            ("ad_fail", "error"),
            ("ad_echo", "error"),
            ("ad_hidden", "denied"),
        ]
    )
    # the unparseable text itself is what the receipt keeps as evidence
    bad = [r for r in receipts(config) if r["kind"] == "outcome" and "not valid JSON" in (r["message"] or "")]
    assert len(bad) == 1 and BAD_JSON in bad[0]["excerpt"]


async def test_openai_chat_plain_dict_and_parallel_calls_overlap(gate, config) -> None:
    raw = chat_completion(
        ("c1", "ad_slow", '{"seconds": 0.4}'),
        ("c2", "ad_slow", '{"seconds": 0.4}'),
        ("c3", "ad_slow", '{"seconds": 0.4}'),
    )
    started = time.monotonic()
    messages = await openai.dispatch_chat(raw, gate)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"three 0.4 s calls took {elapsed:.2f} s: not concurrent"
    assert messages == [
        {"role": "tool", "tool_call_id": f"c{i}", "content": '{"slept": 0.4}'} for i in (1, 2, 3)
    ]


async def test_openai_responses_function_call_output(gate, config) -> None:
    raw = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-test",
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "ad_echo",
                "arguments": '{"text": "yo", "times": null, "tag-name": "t"}',
                "status": "completed",
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_2",
                "name": "ad_fail",
                "arguments": "{}",
            },
        ],
    }
    items = await openai.dispatch_responses(Response.model_validate(raw), gate)
    assert items == [
        {"type": "function_call_output", "call_id": "call_1", "output": '{"text": "yo", "tag": "t"}'},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": "Error: invalid arguments for ad_fail: text: Field required",
        },
    ]
    assert sorted(outcomes_by_channel(config, "openai")) == [("ad_echo", "ok"), ("ad_fail", "error")]


async def test_anthropic_tool_results_in_one_user_message(gate, config) -> None:
    raw = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "ad_echo", "input": {"text": "a", "tag-name": "x"}},
            {"type": "tool_use", "id": "toolu_2", "name": "ad_fail", "input": {"text": "b"}},
            {"type": "tool_use", "id": "toolu_3", "name": "ad_echo", "input": {"text": 5}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    reply = await anthropic.dispatch(Message.model_validate(raw), gate)
    assert reply["role"] == "user"
    assert reply["content"][:2] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "content": '{"text": "a", "tag": "x"}',
            "is_error": False,
        },
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": "Error: cannot echo 'b'; send a shorter text",
            "is_error": True,
        },
    ]
    third = reply["content"][2]
    assert third["is_error"] is True and third["content"].startswith(
        "Error: invalid arguments for ad_echo: text"
    )
    assert sorted(outcomes_by_channel(config, "anthropic")) == [
        ("ad_echo", "error"), ("ad_echo", "ok"), ("ad_fail", "error")
    ]  # fmt: skip
    assert await anthropic.dispatch(raw, gate) == reply  # the plain-dict JSON gives the same answer


async def test_gemini_function_responses_keep_ids_and_thought_signature(gate, config) -> None:
    raw = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {
                                "id": "fc-1",
                                "name": "ad_echo",
                                "args": {"text": "g", "tag_name": "r"},
                            },
                            "thoughtSignature": "c2lnLTE=",
                        },
                        {"functionCall": {"id": "fc-2", "name": "ad_fail", "args": {"text": "z"}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    response = gtypes.GenerateContentResponse.model_validate(raw)
    content = await gemini.dispatch(response, gate)
    assert content.role == "user"
    assert [p.function_response.model_dump(exclude_none=True) for p in content.parts] == [
        {"id": "fc-1", "name": "ad_echo", "response": {"output": {"text": "g", "tag": "r"}}},
        {
            "id": "fc-2",
            "name": "ad_fail",
            "response": {"error": "Error: cannot echo 'z'; send a shorter text"},
        },
    ]
    model_turn = gemini.model_content(raw)
    assert model_turn.parts[0].thought_signature == b"sig-1"
    wire = model_turn.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["parts"][0]["thoughtSignature"] == "c2lnLTE="
    assert sorted(outcomes_by_channel(config, "gemini")) == [("ad_echo", "ok"), ("ad_fail", "error")]


async def test_export_leaves_out_what_policy_never_allows(gate) -> None:
    names = [t["function"]["name"] for t in openai.chat_tools(gate)]
    assert names == ["ad_echo", "ad_fail", "ad_slow"]
    assert [t["name"] for t in anthropic.tools(gate)] == names
    decls = gemini.function_declarations(gate)
    assert [d.name for d in decls] == names
    assert "tag_name" in decls[0].parameters_json_schema["properties"]


async def test_unparseable_arguments_become_readable_errors_and_receipts_per_channel(gate, config) -> None:
    items = await openai.dispatch_responses(
        [{"type": "function_call", "call_id": "call_x", "name": "ad_echo", "arguments": BAD_JSON}], gate
    )
    assert items == [
        {
            "type": "function_call_output",
            "call_id": "call_x",
            "output": NOT_JSON,
        }
    ]
    # a proxy that hands Anthropic's `input` on as raw text: the same readable error, is_error set
    reply = await anthropic.dispatch(
        [{"type": "tool_use", "id": "toolu_x", "name": "ad_echo", "input": BAD_JSON}], gate
    )
    assert reply == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_x",
                "content": NOT_JSON,
                "is_error": True,
            }
        ],
    }
    # Gemini sends an object; one missing a required field is the model-readable failure there
    content = await gemini.dispatch(
        {"role": "model", "parts": [{"functionCall": {"id": "g1", "name": "ad_echo"}}]}, gate
    )
    assert content.parts[0].function_response.response == {
        "error": "Error: invalid arguments for ad_echo: text: Field required"
    }
    rows = [r for r in receipts(config) if r["kind"] == "outcome"]
    assert sorted((r["channel"], r["outcome"]) for r in rows) == [
        ("anthropic", "error"),
        ("gemini", "error"),
        ("openai", "error"),
    ]
    for row in rows:
        if row["channel"] != "gemini":
            assert "not valid JSON" in row["message"] and BAD_JSON in row["excerpt"], row
