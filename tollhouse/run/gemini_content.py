"""``tollhouse run --provider gemini``: generateContent through the official ``google-genai`` SDK.

A stream arrives as chunks, each a ``GenerateContentResponse`` holding some parts; the parts are
gathered in order into one model turn. Function-call parts keep their ``thought_signature``
(Gemini 3 refuses a history without it), so the turn goes back exactly as it came.
"""

from __future__ import annotations

from typing import Any

from tollhouse.adapters import gemini as adapter
from tollhouse.run.provider import (
    SYSTEM_PROMPT,
    Failure,
    Provider,
    Reply,
    TextSink,
    parse_retry_after,
    retryable_status,
)


class GeminiContent(Provider):
    name = "gemini"
    channel = "gemini"

    def __init__(self, settings: Any, api_key: str) -> None:
        super().__init__(settings, api_key)
        from google import genai
        from google.genai import types

        # vertexai=False and base_url explicit: the SDK would otherwise consult GOOGLE_* variables.
        self.client = genai.Client(
            api_key=api_key, vertexai=False, http_options=types.HttpOptions(base_url=settings.base_url)
        )
        self.contents: list[Any] = []
        self.tool: Any = None

    def start(self, goal: str, gate: Any) -> None:
        from google.genai import types

        self.tool = adapter.tool(gate)
        self.contents = [types.Content(role="user", parts=[types.Part(text=goal)])]

    def _config(self) -> Any:
        from google.genai import types

        return types.GenerateContentConfig(
            system_instruction=SYSTEM_PROMPT,
            tools=[self.tool] if self.tool and self.tool.function_declarations else None,
            max_output_tokens=self.settings.max_tokens,
            # The gate runs every call: the SDK must never call a Python function itself.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    def request_body(self) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "contents": [c.model_dump(mode="json", exclude_none=True) for c in self.contents],
            "config": self._config().model_dump(mode="json", exclude_none=True),
        }

    async def send(self, on_text: TextSink) -> Reply:
        from google.genai import types

        models = self.client.aio.models
        if not self.settings.stream:
            response = await models.generate_content(
                model=self.settings.model, contents=self.contents, config=self._config()
            )
            chunks = [response]
        else:
            chunks = []
            async for chunk in await models.generate_content_stream(
                model=self.settings.model, contents=self.contents, config=self._config()
            ):
                chunks.append(chunk)
                for part in _parts(chunk):
                    if part.text and not part.thought:
                        on_text(part.text)
        if not self.settings.stream:
            for part in _parts(chunks[0]):
                if part.text and not part.thought:
                    on_text(part.text)
        last = chunks[-1] if chunks else types.GenerateContentResponse()
        parts = _merge_text([p for chunk in chunks for p in _parts(chunk)])
        finish = None
        for chunk in chunks:
            if chunk.candidates and chunk.candidates[0].finish_reason is not None:
                finish = str(chunk.candidates[0].finish_reason.value)
        merged = types.GenerateContentResponse(
            candidates=[types.Candidate(content=types.Content(role="model", parts=parts), index=0)],
            response_id=last.response_id,
            model_version=last.model_version,
            usage_metadata=last.usage_metadata,
        )
        usage = None
        if last.usage_metadata is not None:
            u = last.usage_metadata
            usage = {
                "input_tokens": int(u.prompt_token_count or 0),
                "output_tokens": int(u.candidates_token_count or 0) + int(u.thoughts_token_count or 0),
                "total_tokens": int(u.total_token_count or 0),
            }
        headers = last.sdk_http_response.headers if last.sdk_http_response is not None else None
        return Reply(
            raw=merged,
            text="".join(p.text for p in parts if p.text and not p.thought),
            calls=adapter.function_calls(merged),
            usage=usage,
            stop_reason=finish,
            response_id=last.response_id,
            request_id=(headers or {}).get("x-request-id"),
        )

    async def dispatch(self, reply: Reply, gate: Any, **call_fields: Any) -> None:
        self.contents.append(adapter.model_content(reply.raw))
        if reply.calls:
            self.contents.append(await adapter.dispatch(reply.raw, gate, **call_fields))

    def failure(self, exc: BaseException) -> Failure | None:
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            status = int(exc.code or 0)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            text = f"{status} {exc.status or ''}: {exc.message or ''}".strip()
            return Failure(retryable_status(status), status, text, parse_retry_after(headers))
        if isinstance(exc, _transport_errors()):
            return Failure(True, None, f"could not reach the provider: {exc}")
        return None

    async def list_models(self) -> list[str]:
        pager = await self.client.aio.models.list()
        return [m.name or "" async for m in pager]

    async def aclose(self) -> None:
        await self.client.aio.aclose()


def _parts(chunk: Any) -> list[Any]:
    if not chunk.candidates or chunk.candidates[0].content is None:
        return []
    return list(chunk.candidates[0].content.parts or [])


def _merge_text(parts: list[Any]) -> list[Any]:
    """Adjacent plain text parts of a stream joined into one (a part with a signature, a thought or
    a function call is kept as it came: its bytes are what Gemini checks)."""
    from google.genai import types

    out: list[Any] = []
    last_plain = False
    for part in parts:
        plain = part.text is not None and not part.thought and not part.thought_signature
        plain = plain and part.function_call is None
        if plain and last_plain:
            out[-1] = types.Part(text=out[-1].text + part.text)
        else:
            out.append(types.Part(text=part.text) if plain else part)
        last_plain = plain
    return out


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of whichever HTTP client google-genai runs on (httpx, or its httpx2 fork)."""
    import importlib

    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)
