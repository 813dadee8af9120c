"""A complete Anthropic Messages tool loop where every tool call passes the tollhouse gate.

    ANTHROPIC_API_KEY=... python examples/anthropic_loop.py "Summarise README.md"

ANTHROPIC_BASE_URL points the SDK at another endpoint; TOLLHOUSE_MODEL picks the model.
"""

from __future__ import annotations

import os
import sys

import anyio
from anthropic import AsyncAnthropic

from tollhouse.adapters import anthropic as tollhouse_anthropic
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate

MODEL = os.environ.get("TOLLHOUSE_MODEL", "claude-sonnet-4-5")


async def main(prompt: str) -> int:
    gate = await Gate.open(load_config(None))
    async with gate:
        client = AsyncAnthropic()
        tools = tollhouse_anthropic.tools(gate)
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _turn in range(10):
            message = await client.messages.create(
                model=MODEL, max_tokens=1024, messages=messages, tools=tools
            )
            if message.stop_reason != "tool_use":
                print("".join(b.text for b in message.content if b.type == "text"))
                return 0
            messages.append(
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]}
            )
            # every tool_result of this turn goes back in ONE user message, as Anthropic requires
            messages.append(await tollhouse_anthropic.dispatch(message, gate, client="example/anthropic"))
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
