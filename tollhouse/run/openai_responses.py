"""``tollhouse run --provider openai-responses``: the Responses API through the ``openai`` SDK.

The conversation is sent whole each turn (no ``previous_response_id``): the output items of each
response (reasoning, messages, function calls) go back as input with their ``function_call_output``
items, so a run does not depend on state kept by the provider.
"""

from __future__ import annotations

from typing import Any

from tollhouse.adapters import openai as adapter
from tollhouse.run.openai_chat import OpenAIChat
from tollhouse.run.provider import SYSTEM_PROMPT, Reply, TextSink


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": int(usage.input_tokens or 0),
        "output_tokens": int(usage.output_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


class OpenAIResponses(OpenAIChat):
    name = "openai-responses"
    channel = "openai"

    def start(self, goal: str, gate: Any) -> None:
        self.tools = adapter.responses_tools(gate)
        self.messages = [{"role": "user", "content": goal}]

    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "instructions": SYSTEM_PROMPT,
            "input": self.messages,
            "max_output_tokens": self.settings.max_tokens,
        }
        if self.tools:
            body["tools"] = self.tools
        return body

    async def send(self, on_text: TextSink) -> Reply:
        body = self.request_body()
        if not self.settings.stream:
            response = await self.client.responses.create(**body)
            if response.output_text:
                on_text(response.output_text)
            request_id = getattr(response, "_request_id", None)
        else:
            response = None
            stream = await self.client.responses.create(**body, stream=True)
            request_id = stream.response.headers.get("x-request-id")
            async with stream:
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        on_text(event.delta)
                    elif event.type in ("response.completed", "response.incomplete", "response.failed"):
                        response = event.response
            if response is None:
                raise RuntimeError("the response stream ended without a response.completed event")
        stop = response.status
        if response.incomplete_details is not None and response.incomplete_details.reason:
            stop = f"incomplete:{response.incomplete_details.reason}"
        return Reply(
            raw=response,
            text=response.output_text or "",
            calls=adapter.responses_calls(response),
            usage=_usage(response.usage),
            stop_reason=stop,
            response_id=response.id,
            request_id=request_id,
        )

    async def dispatch(self, reply: Reply, gate: Any, **call_fields: Any) -> None:
        # Output items go back as they came (reasoning items included: a reasoning model needs them).
        for item in reply.raw.output:
            self.messages.append(item.model_dump(exclude_none=True, mode="json"))
        if reply.calls:
            self.messages += await adapter.dispatch_responses(reply.raw, gate, **call_fields)
