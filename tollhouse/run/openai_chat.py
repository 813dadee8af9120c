"""``tollhouse run --provider openai``: Chat Completions through the official ``openai`` SDK."""

from __future__ import annotations

from typing import Any

from tollhouse.adapters import openai as adapter
from tollhouse.run.provider import SYSTEM_PROMPT, Failure, Provider, Reply, TextSink, sdk_failure


def _usage(usage: Any) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "input_tokens": int(usage.prompt_tokens or 0),
        "output_tokens": int(usage.completion_tokens or 0),
        "total_tokens": int(usage.total_tokens or 0),
    }


class OpenAIChat(Provider):
    name = "openai"
    channel = "openai"

    def __init__(self, settings: Any, api_key: str) -> None:
        super().__init__(settings, api_key)
        from openai import AsyncOpenAI

        # base_url given explicitly: the SDK would otherwise read OPENAI_BASE_URL from the environment.
        self.client = AsyncOpenAI(api_key=api_key, base_url=settings.base_url, max_retries=0, timeout=600)
        self.messages: list[dict[str, Any]] = []
        self.tools: list[dict[str, Any]] = []

    def start(self, goal: str, gate: Any) -> None:
        self.tools = adapter.chat_tools(gate)
        self.messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": goal}]

    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": self.messages,
            "max_completion_tokens": self.settings.max_tokens,
        }
        if self.tools:
            body["tools"] = self.tools
        return body

    async def send(self, on_text: TextSink) -> Reply:
        body = self.request_body()
        if not self.settings.stream:
            completion = await self.client.chat.completions.create(**body)
            message = completion.choices[0].message
            if message.content:
                on_text(message.content)
            request_id = getattr(completion, "_request_id", None)
        else:
            from openai.lib.streaming.chat import ChatCompletionStreamState

            # The SDK's own accumulator (no input_tools given: it must not insist on strict tools).
            state = ChatCompletionStreamState()
            stream = await self.client.chat.completions.create(
                **body, stream=True, stream_options={"include_usage": True}
            )
            request_id = stream.response.headers.get("x-request-id")
            async with stream:
                async for chunk in stream:
                    state.handle_chunk(chunk)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            on_text(choice.delta.content)
            completion = state.get_final_completion()
        choice = completion.choices[0]
        return Reply(
            raw=completion,
            text=choice.message.content or "",
            calls=adapter.chat_calls(completion),
            usage=_usage(completion.usage),
            stop_reason=choice.finish_reason,
            response_id=completion.id,
            request_id=request_id,
        )

    async def dispatch(self, reply: Reply, gate: Any, **call_fields: Any) -> None:
        message = reply.raw.choices[0].message
        # Only the fields the API takes back (the stream state adds parsed fields of its own).
        assistant: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            assistant["tool_calls"] = [
                {"id": tc.id, "type": "function",
                 "function": {"name": tc.function.name, "arguments": tc.function.arguments}}
                for tc in message.tool_calls
            ]  # fmt: skip
        self.messages.append(assistant)
        if reply.calls:
            self.messages += await adapter.dispatch_chat(reply.raw, gate, **call_fields)

    def failure(self, exc: BaseException) -> Failure | None:
        import openai

        return sdk_failure(exc, openai.APIStatusError, openai.APIConnectionError)

    async def list_models(self) -> list[str]:
        page = await self.client.models.list()
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self.client.close()
