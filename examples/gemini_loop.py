"""A complete Gemini (google-genai) tool loop where every tool call passes the tollhouse gate and
every model request is receipted in the same chain.

Run from a folder holding a tollhouse.toml with a credential profile for the key:

    [credentials."gemini:default"]
    source = "env:GEMINI_API_KEY"        # or file:..., command:...

    python examples/gemini_loop.py "Summarise README.md"

Model and endpoint come from [run.gemini] (docs/run.md). `tollhouse run --provider gemini` is this
loop with streaming, retries, Ctrl-C and case handoffs.
"""

from __future__ import annotations

import sys
import time

import anyio
from google import genai
from google.genai import types

from tollhouse.adapters import gemini as tollhouse_gemini
from tollhouse.config import load_config
from tollhouse.gate.digest import sha256_hex
from tollhouse.gate.gate import Gate
from tollhouse.gate.model_turns import ModelTurn
from tollhouse.run import load_run_settings


async def main(prompt: str) -> int:
    config = load_config(None)
    settings = load_run_settings(config.section("run"), provider="gemini")
    gate = await Gate.open(config)
    async with gate:
        # The key is read through the profile, and from then on redacted from every receipt.
        api_key = await gate.services.credentials.resolve(settings.credential)
        client = genai.Client(
            api_key=api_key, vertexai=False, http_options=types.HttpOptions(base_url=settings.base_url)
        )
        config = types.GenerateContentConfig(
            tools=[tollhouse_gemini.tool(gate)],
            # the gate runs the tools, not the SDK's automatic function calling
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        contents: list[types.Content] = [types.Content(role="user", parts=[types.Part(text=prompt)])]
        for _turn in range(10):
            digest = sha256_hex("".join(c.model_dump_json(exclude_none=True) for c in contents))
            started = time.perf_counter_ns()
            response = await client.aio.models.generate_content(
                model=settings.model, contents=contents, config=config
            )
            text = "".join(p.text or "" for p in tollhouse_gemini.model_content(response).parts or [])
            await gate.record_model_turn(
                ModelTurn(
                    provider="gemini", model=settings.model, channel="gemini", request_digest=digest,
                    credential=settings.credential, latency_us=(time.perf_counter_ns() - started) // 1000,
                    response_id=response.response_id, text=text, client="example/gemini",
                )
            )  # fmt: skip
            if not response.function_calls:
                print(text)
                return 0
            contents.append(tollhouse_gemini.model_content(response))  # keeps thought signatures
            ids = {"provider": "gemini", "response_id": response.response_id or ""}
            contents.append(
                await tollhouse_gemini.dispatch(response, gate, client="example/gemini", provider_ids=ids)
            )
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
