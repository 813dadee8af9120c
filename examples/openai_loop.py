"""A complete OpenAI Chat Completions tool loop where every tool call passes the tollhouse gate and
every model request is receipted in the same chain.

Run from a folder holding a tollhouse.toml with a credential profile for the key:

    [credentials."openai:default"]
    source = "env:OPENAI_API_KEY"        # or file:..., command:...

    python examples/openai_loop.py "Summarise README.md"

Model and endpoint come from [run.openai] (docs/run.md). `tollhouse run --provider openai` is this
loop with streaming, retries, Ctrl-C and case handoffs.
"""

from __future__ import annotations

import sys
import time

import anyio
from openai import AsyncOpenAI

from tollhouse.adapters import openai as tollhouse_openai
from tollhouse.config import load_config
from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.gate.gate import Gate
from tollhouse.gate.model_turns import ModelTurn
from tollhouse.run import load_run_settings


async def main(prompt: str) -> int:
    config = load_config(None)
    settings = load_run_settings(config.section("run"), provider="openai")
    gate = await Gate.open(config)
    async with gate:
        # The key is read through the profile, and from then on redacted from every receipt.
        api_key = await gate.services.credentials.resolve(settings.credential)
        client = AsyncOpenAI(api_key=api_key, base_url=settings.base_url)
        tools = tollhouse_openai.chat_tools(gate)  # only what policy could allow; strict where possible
        messages: list[dict] = [{"role": "user", "content": prompt}]
        for _turn in range(10):
            request = {"model": settings.model, "messages": messages, "tools": tools}
            started = time.perf_counter_ns()
            completion = await client.chat.completions.create(**request)
            message = completion.choices[0].message
            await gate.record_model_turn(
                ModelTurn(
                    provider="openai", model=settings.model, channel="openai",
                    request_digest=sha256_hex(canonical_json(request)), credential=settings.credential,
                    latency_us=(time.perf_counter_ns() - started) // 1000, response_id=completion.id,
                    stop_reason=completion.choices[0].finish_reason, text=message.content,
                    client="example/openai",
                )
            )  # fmt: skip
            if not message.tool_calls:
                print(message.content)
                return 0
            messages.append(message.model_dump(exclude_none=True))
            ids = {"provider": "openai", "response_id": completion.id}
            messages += await tollhouse_openai.dispatch_chat(
                completion, gate, client="example/openai", provider_ids=ids
            )
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
