"""A complete Gemini (google-genai) tool loop where every tool call passes the tollhouse gate.

    GEMINI_API_KEY=... python examples/gemini_loop.py "Summarise README.md"

GEMINI_BASE_URL points the SDK at another endpoint; TOLLHOUSE_MODEL picks the model.
"""

from __future__ import annotations

import os
import sys

import anyio
from google import genai
from google.genai import types

from tollhouse.adapters import gemini as tollhouse_gemini
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate

MODEL = os.environ.get("TOLLHOUSE_MODEL", "gemini-2.5-flash")


async def main(prompt: str) -> int:
    gate = await Gate.open(load_config(None))
    async with gate:
        base_url = os.environ.get("GEMINI_BASE_URL")
        client = genai.Client(
            api_key=os.environ.get("GEMINI_API_KEY"),
            http_options=types.HttpOptions(base_url=base_url) if base_url else None,
        )
        config = types.GenerateContentConfig(
            tools=[tollhouse_gemini.tool(gate)],
            # the gate runs the tools, not the SDK's automatic function calling
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        contents: list[types.Content] = [types.Content(role="user", parts=[types.Part(text=prompt)])]
        for _turn in range(10):
            response = await client.aio.models.generate_content(model=MODEL, contents=contents, config=config)
            if not response.function_calls:
                print(response.text)
                return 0
            contents.append(tollhouse_gemini.model_content(response))  # keeps thought signatures
            contents.append(await tollhouse_gemini.dispatch(response, gate, client="example/gemini"))
    print("stopped after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, " ".join(sys.argv[1:]) or "What tools do you have?"))
