"""What every provider of ``tollhouse run`` shares: the reply of one model request, the interface
each SDK wrapper implements, and how a failed request is judged (retry or give up, and how long
to wait).

A provider keeps the conversation in its own wire format, sends one request per turn through its
official SDK (with the SDK's own retries off: the runner retries, so each retry is receipted), and
hands the reply's tool calls to the adapter's dispatch, which runs them through the gate.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import to_jsonable_python

from tollhouse.adapters._dispatch import PendingCall
from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.run.settings import RunSettings

TextSink = Callable[[str], None]

SYSTEM_PROMPT = (
    "You are a coding agent working in a workspace through tools. Every tool call passes a policy "
    "gate and is receipted; a call may be denied or need a person's approval, and the result says "
    "so. Use the tools to do the task, check your work (run the tests when there are any), then "
    "answer with a short summary of what you did."
)


@dataclass
class Reply:
    """One model response, whole (a stream is gathered into one)."""

    raw: Any
    """What the adapter's dispatch takes (ChatCompletion, Response, Message, GenerateContentResponse)."""
    text: str
    calls: list[PendingCall]
    usage: dict[str, int] | None = None
    stop_reason: str | None = None
    response_id: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        return sha256_hex(canonical_json(to_jsonable_python(self.raw, fallback=str)))


@dataclass(frozen=True)
class Failure:
    """A request that failed: whether another attempt may help, and what the provider asked."""

    retryable: bool
    status: int | None
    message: str
    retry_after_s: float | None = None


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retryable_status(status: int | None) -> bool:
    return status in (408, 409, 429) or (status is not None and status >= 500)


class Provider:
    """One provider's conversation and request; subclasses fill in the SDK calls."""

    name: str = ""
    channel: Any = "api"

    def __init__(self, settings: RunSettings, api_key: str) -> None:
        self.settings = settings
        self.api_key = api_key

    def start(self, goal: str, gate: Any) -> None:
        """Begin the conversation with ``goal`` and the tools ``gate`` could allow."""
        raise NotImplementedError

    def request_body(self) -> dict[str, Any]:
        """The request the next ``send`` makes, as JSON (for the receipt's request digest)."""
        raise NotImplementedError

    def request_digest(self) -> str:
        return sha256_hex(canonical_json(to_jsonable_python(self.request_body(), fallback=str)))

    async def send(self, on_text: TextSink) -> Reply:
        """One attempt; ``on_text`` gets text as it streams."""
        raise NotImplementedError

    async def dispatch(self, reply: Reply, gate: Any, **call_fields: Any) -> None:
        """Add ``reply`` and its tool results (run through ``gate``) to the conversation."""
        raise NotImplementedError

    def failure(self, exc: BaseException) -> Failure | None:
        """How to treat ``exc`` from ``send``; None: not a provider error (let it rise)."""
        raise NotImplementedError

    async def list_models(self) -> list[str]:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def sdk_failure(exc: BaseException, status_error: type, connection_error: type) -> Failure | None:
    """OpenAI's and Anthropic's SDKs share their error shapes (``status_code``, ``response``)."""
    if isinstance(exc, status_error):
        status = int(getattr(exc, "status_code", 0) or 0)
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return Failure(retryable_status(status), status, _message(exc), parse_retry_after(headers))
    if isinstance(exc, connection_error):
        return Failure(True, None, f"could not reach the provider: {_message(exc)}")
    return None


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + "…"


def provider_for(settings: RunSettings, api_key: str) -> Provider:
    if settings.provider == "openai":
        from tollhouse.run.openai_chat import OpenAIChat

        return OpenAIChat(settings, api_key)
    if settings.provider == "openai-responses":
        from tollhouse.run.openai_responses import OpenAIResponses

        return OpenAIResponses(settings, api_key)
    if settings.provider == "anthropic":
        from tollhouse.run.anthropic_messages import AnthropicMessages

        return AnthropicMessages(settings, api_key)
    from tollhouse.run.gemini_content import GeminiContent

    return GeminiContent(settings, api_key)
