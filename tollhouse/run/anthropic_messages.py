"""``tollhouse run --provider anthropic``: the Messages API through the official ``anthropic`` SDK."""

from __future__ import annotations

from typing import Any

from tollhouse.adapters import anthropic as adapter
from tollhouse.run.provider import SYSTEM_PROMPT, Failure, Provider, Reply, TextSink, sdk_failure


class AnthropicMessages(Provider):
    name = "anthropic"
    channel = "anthropic"

    def __init__(self, settings: Any, api_key: str) -> None:
        super().__init__(settings, api_key)
        from anthropic import AsyncAnthropic

        # base_url given explicitly: the SDK would otherwise read ANTHROPIC_BASE_URL.
        self.client = AsyncAnthropic(api_key=api_key, base_url=settings.base_url, max_retries=0, timeout=600)
        self.messages: list[dict[str, Any]] = []
        self.tools: list[dict[str, Any]] = []

    def start(self, goal: str, gate: Any) -> None:
        self.tools = adapter.tools(gate)
        self.messages = [{"role": "user", "content": goal}]

    def request_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "system": SYSTEM_PROMPT,
            "messages": self.messages,
            "max_tokens": self.settings.max_tokens,
        }
        if self.tools:
            body["tools"] = self.tools
        return body

    async def send(self, on_text: TextSink) -> Reply:
        body = self.request_body()
        if not self.settings.stream:
            message = await self.client.messages.create(**body)
            request_id = getattr(message, "_request_id", None)
            for block in message.content:
                if block.type == "text":
                    on_text(block.text)
        else:
            async with self.client.messages.stream(**body) as stream:
                request_id = stream.response.headers.get("request-id")
                async for text in stream.text_stream:
                    on_text(text)
                message = await stream.get_final_message()
        usage = None
        if message.usage is not None:
            used_in, used_out = int(message.usage.input_tokens or 0), int(message.usage.output_tokens or 0)
            usage = {"input_tokens": used_in, "output_tokens": used_out, "total_tokens": used_in + used_out}
        return Reply(
            raw=message,
            text="".join(b.text for b in message.content if b.type == "text"),
            calls=adapter.tool_uses(message),
            usage=usage,
            stop_reason=message.stop_reason,
            response_id=message.id,
            request_id=request_id,
        )

    async def dispatch(self, reply: Reply, gate: Any, **call_fields: Any) -> None:
        # The assistant turn goes back whole (thinking blocks keep their signatures).
        content = [b.model_dump(exclude_none=True, mode="json") for b in reply.raw.content]
        self.messages.append({"role": "assistant", "content": content})
        if reply.calls:
            self.messages.append(await adapter.dispatch(reply.raw, gate, **call_fields))

    def failure(self, exc: BaseException) -> Failure | None:
        import anthropic

        failure = sdk_failure(exc, anthropic.APIStatusError, anthropic.APIConnectionError)
        if failure is not None and failure.status == 200:
            # An error event inside a stream that began with 200 (Anthropic sends overloaded_error so):
            # judged by its type, as the status line cannot say.
            body = getattr(exc, "body", None)
            kind = body.get("error", {}).get("type") if isinstance(body, dict) else None
            retry = kind in ("overloaded_error", "api_error", "rate_limit_error", "timeout_error")
            return Failure(retry, None, f"{kind or 'error'} in the stream: {failure.message}")
        return failure

    async def list_models(self) -> list[str]:
        page = await self.client.models.list()
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self.client.close()
