"""A complete Anthropic Messages tool loop where every tool call passes the tollhouse gate and every
model request is receipted in the same chain.

Run from a folder holding a tollhouse.toml with a credential profile for the key:

    [credentials."anthropic:default"]
    source = "env:ANTHROPIC_API_KEY"     # or file:..., command:...

    python examples/anthropic_loop.py "Summarise README.md"

Model and endpoint come from [run.anthropic] (docs/run.md). `tollhouse run --provider anthropic` is
this loop with streaming, retries, Ctrl-C and case handoffs.
"""

from __future__ import annotations

import sys
import time

import anyio
from anthropic import AsyncAnthropic

from tollhouse.adapters import anthropic as tollhouse_anthropic
from tollhouse.config import load_config
from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.gate.gate import Gate
from tollhouse.gate.model_turns import ModelTurn
from tollhouse.run import load_run_settings


async def main(prompt: str) -> int:
    config = load_config(None)
    settings = load_run_settings(config.section("run"), provider="anthropic")
    gate = await Gate.open(config)
    async with gate:
        # The key is read through the profile, and from then on redacted from every receipt.
        api_key = await gate.services.credentials.resolve(settings.credential)
        client = AsyncAnthropic(api_key=api_key, base_url=settings.base_url)
        tools = tollhouse_anthropic.tools(gate)
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _turn in range(10):
            request = {"model": settings.model, "max_tokens": 4096, "tools": tools, "messages": messages}
            started = time.perf_counter_ns()
            message = await client.messages.create(**request)
            text = "".join(b.text for b in message.content if b.type == "text")
            await gate.record_model_turn(
                ModelTurn(
                    provider="anthropic", model=settings.model, channel="anthropic",
                    request_digest=sha256_hex(canonical_json(request)), credential=settings.credential,
                    latency_us=(time.perf_counter_ns() - started) // 1000, response_id=message.id,
                    stop_reason=message.stop_reason, text=text, client="example/anthropic",
                )
            )  # fmt: skip
            if message.stop_reason != "tool_use":
                print(text)
                return 0
            messages.append(
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]}
            )
            ids = {"provider": "anthropic", "response_id": message.id}
            # every tool_result in ONE user message, as Anthropic requires
            messages.append(
                await tollhouse_anthropic.dispatch(
                    message, gate, client="example/anthropic", provider_ids=ids
                )
            )
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
