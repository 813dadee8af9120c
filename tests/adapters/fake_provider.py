"""A loopback HTTP server speaking OpenAI / Anthropic / Gemini wire JSON: the first request of a
conversation gets a tool call, the next one a final text answer. Requests are recorded."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOL_ARGS = {"text": "ping", "times": 2}


def openai_reply(body: dict) -> dict:
    done = any(m.get("role") == "tool" for m in body["messages"])
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if done:
        tool_text = next(m["content"] for m in body["messages"] if m.get("role") == "tool")
        message["content"] = f"final: {tool_text}"
    else:
        args = {**TOOL_ARGS, "tag-name": None}  # strict mode: optional fields arrive as null
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "ad_echo", "arguments": json.dumps(args)},
            }
        ]
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop" if done else "tool_calls"}],
    }  # fmt: skip


def anthropic_reply(body: dict) -> dict:
    last = body["messages"][-1]
    results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    if results:
        content = [{"type": "text", "text": f"final: {results[0]['content']}"}]
        stop = "end_turn"
    else:
        content = [{"type": "tool_use", "id": "toolu_1", "name": "ad_echo", "input": TOOL_ARGS}]
        stop = "tool_use"
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"], "content": content,
        "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }  # fmt: skip


def gemini_reply(body: dict) -> dict:
    responses = [
        p["functionResponse"] for c in body["contents"] for p in c["parts"] if "functionResponse" in p
    ]
    if responses:
        parts = [{"text": f"final: {json.dumps(responses[0]['response'])}"}]
    else:
        call = {"id": "fc-1", "name": "ad_echo", "args": {**TOOL_ARGS, "tag_name": "g"}}
        parts = [{"functionCall": call, "thoughtSignature": "c2lnLTE="}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}


class FakeProvider:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                outer.requests.append((self.path, body))
                if self.path.endswith("/chat/completions"):
                    reply = openai_reply(body)
                elif self.path.endswith("/messages"):
                    reply = anthropic_reply(body)
                elif ":generateContent" in self.path:
                    reply = gemini_reply(body)
                else:
                    self.send_error(404)
                    return
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
