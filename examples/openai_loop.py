"""A complete OpenAI Chat Completions tool loop where every tool call passes the tollhouse gate.

Run from a folder holding a tollhouse.toml:

    OPENAI_API_KEY=... python examples/openai_loop.py "Summarise README.md"

OPENAI_BASE_URL points the SDK at another endpoint; TOLLHOUSE_MODEL picks the model.
"""

from __future__ import annotations

import os
import sys

import anyio
from openai import AsyncOpenAI

from tollhouse.adapters import openai as tollhouse_openai
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate

MODEL = os.environ.get("TOLLHOUSE_MODEL", "gpt-4.1")


async def main(prompt: str) -> int:
    gate = await Gate.open(load_config(None))
    async with gate:
        client = AsyncOpenAI()
        tools = tollhouse_openai.chat_tools(gate)  # only what policy could allow; strict where possible
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _turn in range(10):
            completion = await client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
            message = completion.choices[0].message
            if not message.tool_calls:
                print(message.content)
                return 0
            messages.append(message.model_dump(exclude_none=True))
            messages += await tollhouse_openai.dispatch_chat(completion, gate, client="example/openai")
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
