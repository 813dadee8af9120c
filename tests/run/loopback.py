# ruff: noqa: E501  -- wire-format literals read best on one line each
"""Loopback model providers: one real HTTP server on 127.0.0.1 speaking the wire formats of OpenAI
Chat Completions and Responses, Anthropic Messages and Gemini generateContent, streaming (SSE) and
not, scripted per test.

A script is a list of :class:`Step`; each model request takes the next one. The server checks what
a real provider checks about the history it is sent (every tool call answered by its id in the next
request, Gemini's thought signatures sent back on their function-call parts) and answers a broken
history with that provider's 400 error body, so a runner that loses an id fails here as it would
there. Every request is recorded (path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODEL = "loop-model-1"


@dataclass
class Step:
    """One scripted model reply: text, tool calls (name, arguments), or an HTTP error."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    retry_after: str | None = None
    error_message: str = "scripted error"
    hang_s: float = 0.0
    """Stream the text, then wait this long before finishing (for a Ctrl-C test)."""
    stream_error: str | None = None
    """Anthropic: start the stream (200), then send an ``error`` event of this type (``overloaded_error``)."""
    input_tokens: int = 11
    output_tokens: int = 7


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Loopback:
    """The server; ``base_url(provider)`` is what a runner's ``base_url`` setting takes."""

    def __init__(self, steps: list[Step] | None = None, *, api_key: str | None = None) -> None:
        self.steps = list(steps or [])
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.sent_calls: list[dict[str, Any]] = []
        """Per provider reply with calls: the ids (and signatures) the next request must answer."""
        self._lock = threading.Lock()
        self._counter = 0
        handler = type("Handler", (_Handler,), {"loop": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Loopback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def base_url(self, provider: str) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if provider in ("openai", "openai-responses") else root

    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}_{self._counter:04d}"

    def take(self) -> Step:
        with self._lock:
            if not self.steps:
                return Step(text="(script exhausted)")
            return self.steps.pop(0)

    def model_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]


class HistoryError(Exception):
    """The request's history breaks a rule the real provider enforces (answered with a 400)."""


class _Handler(BaseHTTPRequestHandler):
    loop: Loopback
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # -- plumbing ------------------------------------------------------------------------------

    def _record(self) -> Recorded:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        rec = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.loop.requests.append(rec)
        return rec

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", self.loop.next_id("req"))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.send_header("x-request-id", self.loop.next_id("req"))
        self.end_headers()
        self.close_connection = True

    def _sse(self, data: Any, event: str | None = None) -> None:
        text = (f"event: {event}\n" if event else "") + f"data: {json.dumps(data)}\n\n"
        self.wfile.write(text.encode())
        self.wfile.flush()

    def _provider(self, path: str) -> str:
        names = {k.lower() for k in self.headers}
        if "x-goog-api-client" in names or ":generateContent" in path or ":streamGenerateContent" in path:
            return "gemini"
        if path == "/v1/messages" or "anthropic-version" in {k.lower() for k in self.headers}:
            return "anthropic"
        return "openai-responses" if path == "/v1/responses" else "openai"

    def _key(self, provider: str) -> str | None:
        if provider == "gemini":
            return self.headers.get("x-goog-api-key")
        if provider == "anthropic" and self.headers.get("x-api-key"):
            return self.headers.get("x-api-key")  # anthropic 2.x sends the key as a bearer token instead
        auth = self.headers.get("authorization") or ""
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _error(self, provider: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, error_body(provider, status, message), headers)

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        rec = self._record()
        path = urlsplit(rec.path).path
        provider = self._provider(path)
        if self.loop.api_key is not None and self._key(provider) != self.loop.api_key:
            return self._error(provider, 401, "invalid api key")
        if path.endswith("/models") and provider == "anthropic":
            return self._json(200, {"data": [{"type": "model", "id": MODEL, "display_name": "Loop",
                                              "created_at": "2026-01-01T00:00:00Z"}],
                                    "has_more": False, "first_id": MODEL, "last_id": MODEL})  # fmt: skip
        if path.endswith("/models") and provider == "openai":
            return self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model",
                                                                "created": 0, "owned_by": "loopback"}]})  # fmt: skip
        if provider == "gemini" and path.endswith("/models"):
            return self._json(200, {"models": [{"name": f"models/{MODEL}", "displayName": "Loop"}]})
        self._json(404, {"error": {"message": f"no route {path}"}})

    def do_POST(self) -> None:
        rec = self._record()
        path = urlsplit(rec.path).path
        provider = self._provider(path)
        if self.loop.api_key is not None and self._key(provider) != self.loop.api_key:
            return self._error(provider, 401, "invalid api key")
        try:
            check_history(provider, rec.body or {}, self.loop.sent_calls)
        except HistoryError as exc:
            return self._error(provider, 400, str(exc))
        step = self.loop.take()
        if step.status != 200:
            headers = {"retry-after": step.retry_after} if step.retry_after is not None else None
            return self._error(provider, step.status, step.error_message, headers)
        stream = bool((rec.body or {}).get("stream")) or ":streamGenerateContent" in path
        model = (rec.body or {}).get("model") or path.rsplit("/", 1)[-1].split(":")[0]
        reply = Reply(self.loop, provider, step, model)
        self.loop.sent_calls = reply.expected
        if not stream:
            return self._json(200, reply.whole())
        self._sse_start()
        if step.stream_error and provider == "anthropic":
            start = reply.events()[0]
            self._sse(start[1], start[0])
            body = {"type": "error", "error": {"type": step.stream_error, "message": step.error_message}}
            return self._sse(body, "error")
        try:
            for event, data in reply.events():
                self._sse(data, event)
            if step.hang_s:
                time.sleep(step.hang_s)
            for event, data in reply.closing_events():
                self._sse(data, event)
            if provider == "openai":
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (Ctrl-C): nothing to finish


def error_body(provider: str, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        kind = {429: "rate_limit_error", 401: "authentication_error", 400: "invalid_request_error",
                529: "overloaded_error"}.get(status, "api_error")  # fmt: skip
        return {"type": "error", "error": {"type": kind, "message": message}}
    if provider == "gemini":
        name = {429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
                503: "UNAVAILABLE"}.get(status, "INTERNAL")  # fmt: skip
        return {"error": {"code": status, "message": message, "status": name}}
    kind = {429: "rate_limit_exceeded", 400: "invalid_request_error", 401: "invalid_api_key"}.get(status)
    return {"error": {"message": message, "type": kind or "server_error", "param": None, "code": kind}}


def check_history(provider: str, body: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    """What the real APIs refuse: a tool call left unanswered, or (Gemini 3) a function call sent
    back without its thought signature."""
    if not expected:
        return
    ids = {e["id"] for e in expected if e.get("id")}
    if provider == "openai":
        answered = {m.get("tool_call_id") for m in body.get("messages", []) if m.get("role") == "tool"}
        what = "An assistant message with 'tool_calls' must be followed by tool messages responding to each"
    elif provider == "openai-responses":
        items = body.get("input", [])
        answered = {
            i.get("call_id") for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"
        }
        what = "No tool output found for function call"
    elif provider == "anthropic":
        last = body.get("messages", [])[-1]
        blocks = last.get("content") if isinstance(last.get("content"), list) else []
        answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        what = "tool_use ids were found without tool_result blocks immediately after"
    else:
        contents = body.get("contents", [])
        answered = {
            p["functionResponse"].get("id") for p in contents[-1].get("parts", []) if "functionResponse" in p
        } if contents else set()  # fmt: skip
        sent = [
            p for c in contents if c.get("role") == "model" for p in c.get("parts", []) if "functionCall" in p
        ]
        signatures = {p.get("thoughtSignature") for p in sent}
        for e in expected:
            if e.get("signature") and e["signature"] not in signatures:
                raise HistoryError(
                    f"Function call is missing a thought_signature in functionCall parts. "
                    f"Additional data, function call `{e['name']}`, position 1."
                )
        what = "Please ensure that the number of function response parts is equal to the number of function call parts"
    missing = ids - answered
    if missing:
        raise HistoryError(f"{what}: {sorted(missing)}")


def _signature(loop: Loopback) -> str:
    """An opaque thought signature, base64 as Gemini sends it."""
    return base64.b64encode(f"thought-signature:{loop.next_id('sig')}".encode()).decode()


class Reply:
    """One scripted step in one provider's format, whole or as its stream of events."""

    def __init__(self, loop: Loopback, provider: str, step: Step, model: str) -> None:
        self.loop, self.provider, self.step, self.model = loop, provider, step, model
        self.response_id = loop.next_id({"openai": "chatcmpl", "openai-responses": "resp",
                                          "anthropic": "msg", "gemini": "gemresp"}[provider])  # fmt: skip
        prefix = {"openai": "call", "openai-responses": "call", "anthropic": "toolu", "gemini": "fc"}[
            provider
        ]
        self.calls = [
            {"id": loop.next_id(prefix), "name": name, "args": args,
             "signature": _signature(loop) if provider == "gemini" and i == 0 else None}
            for i, (name, args) in enumerate(step.calls)
        ]  # fmt: skip  # Gemini signs the first function call of a step only, as Gemini 3 does
        self.expected = self.calls

    @property
    def stop(self) -> str:
        return {
            "openai": "tool_calls" if self.calls else "stop",
            "openai-responses": "completed",
            "anthropic": "tool_use" if self.calls else "end_turn",
            "gemini": "STOP",
        }[self.provider]

    def whole(self) -> dict[str, Any]:
        s, p = self.step, self.provider
        if p == "openai":
            message: dict[str, Any] = {"role": "assistant", "content": s.text or None, "refusal": None}
            if self.calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": json.dumps(c["args"])}}
                    for c in self.calls
                ]  # fmt: skip
            return {"id": self.response_id, "object": "chat.completion", "created": 0, "model": self.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": self.stop, "logprobs": None}],
                    "usage": {"prompt_tokens": s.input_tokens, "completion_tokens": s.output_tokens,
                              "total_tokens": s.input_tokens + s.output_tokens}}  # fmt: skip
        if p == "openai-responses":
            return self._response("completed", self._output())
        if p == "anthropic":
            content: list[dict[str, Any]] = [{"type": "text", "text": s.text}] if s.text else []
            content += [
                {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["args"]} for c in self.calls
            ]
            return {"id": self.response_id, "type": "message", "role": "assistant", "model": self.model,
                    "content": content, "stop_reason": self.stop, "stop_sequence": None,
                    "usage": {"input_tokens": s.input_tokens, "output_tokens": s.output_tokens}}  # fmt: skip
        return self._gemini(self._gemini_parts(), usage=True)

    # -- per-format helpers ----------------------------------------------------------------------

    def _output(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.step.text:
            out.append({"type": "message", "id": self.response_id.replace("resp", "msg"), "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": self.step.text, "annotations": []}]})  # fmt: skip
        out += [
            {"type": "function_call", "id": "fc" + c["id"], "call_id": c["id"], "name": c["name"],
             "arguments": json.dumps(c["args"]), "status": "completed"}
            for c in self.calls
        ]  # fmt: skip
        return out

    def _response(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        s = self.step
        return {"id": self.response_id, "object": "response", "created_at": 0, "model": self.model,
                "status": status, "output": output, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "error": None, "incomplete_details": None, "instructions": None,
                "metadata": {}, "temperature": None, "top_p": None,
                "usage": {"input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
                          "total_tokens": s.input_tokens + s.output_tokens,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}  # fmt: skip

    def _gemini_parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = [{"text": self.step.text}] if self.step.text else []
        for c in self.calls:
            part: dict[str, Any] = {"functionCall": {"id": c["id"], "name": c["name"], "args": c["args"]}}
            if c["signature"]:
                part["thoughtSignature"] = c["signature"]
            parts.append(part)
        return parts

    def _gemini(self, parts: list[dict[str, Any]], *, usage: bool, finish: bool = True) -> dict[str, Any]:
        s = self.step
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = self.stop
        out: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": self.model,
            "responseId": self.response_id,
        }
        if usage:
            out["usageMetadata"] = {"promptTokenCount": s.input_tokens, "candidatesTokenCount": s.output_tokens,
                                    "totalTokenCount": s.input_tokens + s.output_tokens}  # fmt: skip
        return out

    # -- streams -----------------------------------------------------------------------------------

    def _pieces(self) -> list[str]:
        text = self.step.text
        return [text[i : i + 5] for i in range(0, len(text), 5)]

    def events(self) -> list[tuple[str | None, Any]]:
        """Everything up to (not including) the closing events."""
        s, p = self.step, self.provider
        out: list[tuple[str | None, Any]] = []
        if p == "openai":
            base = {
                "id": self.response_id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": self.model,
            }
            first = {"role": "assistant", "content": ""}
            out.append((None, {**base, "choices": [{"index": 0, "delta": first, "finish_reason": None}]}))
            for piece in self._pieces():
                out.append(
                    (
                        None,
                        {
                            **base,
                            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                        },
                    )
                )
            for i, c in enumerate(self.calls):
                args = json.dumps(c["args"])
                head = {
                    "index": i,
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": ""},
                }
                out.append(
                    (
                        None,
                        {
                            **base,
                            "choices": [{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}],
                        },
                    )
                )
                for j in range(0, len(args), 8):
                    frag = {"index": i, "function": {"arguments": args[j : j + 8]}}
                    out.append(
                        (
                            None,
                            {
                                **base,
                                "choices": [
                                    {"index": 0, "delta": {"tool_calls": [frag]}, "finish_reason": None}
                                ],
                            },
                        )
                    )
            self._base = base
            return out
        if p == "openai-responses":
            seq = iter(range(10_000))
            out.append(("response.created", {"type": "response.created", "sequence_number": next(seq),
                                             "response": self._response("in_progress", [])}))  # fmt: skip
            if s.text:
                item_id = self.response_id.replace("resp", "msg")
                for piece in self._pieces():
                    out.append(("response.output_text.delta", {
                        "type": "response.output_text.delta", "sequence_number": next(seq), "item_id": item_id,
                        "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}))  # fmt: skip
            self._seq = seq
            return out
        if p == "anthropic":
            message = {"id": self.response_id, "type": "message", "role": "assistant", "model": self.model,
                       "content": [], "stop_reason": None, "stop_sequence": None,
                       "usage": {"input_tokens": s.input_tokens, "output_tokens": 1}}  # fmt: skip
            out.append(("message_start", {"type": "message_start", "message": message}))
            index = 0
            if s.text:
                out.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}}))  # fmt: skip
                for piece in self._pieces():
                    out.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                        "delta": {"type": "text_delta", "text": piece}}))  # fmt: skip
                out.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
                index = 1
            for c in self.calls:
                out.append(("content_block_start", {"type": "content_block_start", "index": index,
                            "content_block": {"type": "tool_use", "id": c["id"], "name": c["name"], "input": {}}}))  # fmt: skip
                args = json.dumps(c["args"])
                for j in range(0, len(args), 8):
                    out.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": args[j : j + 8]}}))  # fmt: skip
                out.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
                index += 1
            return out
        # Gemini: text in pieces, then one chunk per function call (the signature on its part)
        for piece in self._pieces():
            out.append((None, self._gemini([{"text": piece}], usage=False, finish=False)))
        return out

    def closing_events(self) -> list[tuple[str | None, Any]]:
        s, p = self.step, self.provider
        if p == "openai":
            base = self._base
            return [
                (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self.stop}]}),
                (None, {**base, "choices": [], "usage": {"prompt_tokens": s.input_tokens,
                        "completion_tokens": s.output_tokens, "total_tokens": s.input_tokens + s.output_tokens}}),
            ]  # fmt: skip
        if p == "openai-responses":
            seq = self._seq
            out: list[tuple[str | None, Any]] = []
            for index, item in enumerate(self._output()):
                out.append(("response.output_item.done", {"type": "response.output_item.done",
                            "sequence_number": next(seq), "output_index": index, "item": item}))  # fmt: skip
            out.append(("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                               "response": self._response("completed", self._output())}))  # fmt: skip
            return out
        if p == "anthropic":
            return [
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": self.stop, "stop_sequence": None},
                                   "usage": {"output_tokens": s.output_tokens}}),
                ("message_stop", {"type": "message_stop"}),
            ]  # fmt: skip
        parts = [p for p in self._gemini_parts() if "functionCall" in p]
        return [(None, self._gemini(parts, usage=True))]
