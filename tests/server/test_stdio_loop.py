"""stdio served on the event loop: line framing, the message limit, and the threaded fallback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env, tollhouse_cmd
from tests.server.conftest import INIT
from tests.server.test_robustness import RawStdio
from tollhouse.server import stdio_loop
from tollhouse.server.stdio_loop import LineReader, Oversized


async def lines_of(chunks: list[bytes], limit: int) -> tuple[list[str], list[int | None]]:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    lines = LineReader(reader, limit, Oversized())
    got, flags = [], []
    async for line in lines:
        got.append(line)
        flags.append(lines.oversized.take())
    return got, flags


def test_lines_split_across_chunks_come_out_whole() -> None:
    got, flags = asyncio.run(lines_of([b'{"a":', b'1}\n{"b"', b":2}\n", b'{"c":3}'], 100))
    assert got == ['{"a":1}\n', '{"b":2}\n', '{"c":3}']  # the last line needs no newline
    assert flags == [None, None, None]


@pytest.mark.parametrize("chunked", [True, False])
def test_an_oversized_line_is_dropped_once_and_the_next_line_is_served(chunked: bool, monkeypatch) -> None:
    if chunked:  # small reads: the long line is dropped piece by piece as it arrives
        monkeypatch.setattr(stdio_loop, "READ_CHUNK", 16)
    big = b"x" * 250
    chunks = [b"ok\n", big[:100], big[100:], b"\nnext\n"] if chunked else [b"ok\n" + big + b"\nnext\n"]
    got, flags = asyncio.run(lines_of(chunks, 64))
    assert got == ["ok\n", "\n", "next\n"]  # one placeholder for the whole long line, not one per chunk
    assert flags == [None, 64, None]


def test_an_oversized_line_at_the_end_of_input_is_answered_once() -> None:
    got, flags = asyncio.run(lines_of([b"y" * 500], 64))
    assert got == ["\n"] and flags == [64]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    got, _ = asyncio.run(lines_of([b"\xff\xfe ok\n"], 100))
    assert got == ["\ufffd\ufffd ok\n"]


def test_the_message_limit_stays_above_the_argument_limit() -> None:
    assert stdio_loop.message_limit(1024) == stdio_loop.MIN_MESSAGE_BYTES
    assert stdio_loop.message_limit(64 * 1024 * 1024) == 8 * 64 * 1024 * 1024


def test_a_message_over_the_limit_gets_a_clear_error_and_the_server_carries_on(ws: Path) -> None:
    raw = RawStdio(ws)
    try:
        raw.handshake()
        assert raw.proc.stdin is not None
        raw.proc.stdin.write('{"jsonrpc":"2.0","id":9,"method":"ping","params":{"pad":"')
        raw.proc.stdin.write("p" * (stdio_loop.MIN_MESSAGE_BYTES + 1024))
        raw.proc.stdin.write('"}}\n')
        raw.proc.stdin.flush()
        err = raw.read()
        assert err["id"] is None and err["error"]["code"] == -32600
        assert f"over {stdio_loop.MIN_MESSAGE_BYTES} bytes was dropped" in err["error"]["message"]
        raw.send({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "demo_noop"}})
        assert raw.read_id(10)["result"]["content"][0]["text"] == "ok"
    finally:
        assert raw.close() == 0


def _servable_with(stdin: object, stdout: object, stderr: object) -> str:
    code = (
        "import asyncio; from tollhouse.server.stdio_loop import loop_servable\n"
        "async def main(): return loop_servable()\n"
        "import sys; print(asyncio.run(main()), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.returncode == 0
    return done.stderr.decode().strip() if isinstance(done.stderr, bytes) else ""


@pytest.mark.parametrize(
    ("stdin", "stdout", "expected"),
    [
        (subprocess.PIPE, subprocess.PIPE, "True"),
        (subprocess.DEVNULL, subprocess.PIPE, "False"),  # a character device that is not a pipe
        (subprocess.PIPE, "file", "False"),
    ],
)
def test_only_pipes_and_sockets_are_served_on_the_loop(tmp_path: Path, stdin, stdout, expected) -> None:
    if stdout == "file":
        with open(tmp_path / "out", "wb") as out:
            assert _servable_with(stdin, out, subprocess.PIPE) == expected
    else:
        assert _servable_with(stdin, stdout, subprocess.PIPE) == expected


def test_stdout_shared_with_stderr_stays_on_the_threaded_path() -> None:
    # Making the wire non-blocking would make stderr non-blocking too.
    code = (
        "import asyncio, sys; from tollhouse.server.stdio_loop import loop_servable\n"
        "async def main(): return loop_servable()\n"
        "print(asyncio.run(main()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
        timeout=60,
    )
    assert done.stdout.decode().strip() == "False"


def test_serve_falls_back_to_the_sdk_threads_for_files(ws: Path, tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        json.dumps(INIT)
        + "\n"
        + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        + "\n"
        + json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "demo_noop"}})
        + "\n"
    )
    with open(requests, "rb") as stdin, open(tmp_path / "out.jsonl", "wb") as stdout:
        done = subprocess.run(
            tollhouse_cmd("--config", str(ws / "tollhouse.toml"), "serve"),
            cwd=ws,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=subprocess_env(),
            timeout=60,
        )
    assert done.returncode == 0, done.stderr.decode()
    # The SDK's own path served the handshake (the call may be cut off by the end of the file).
    answers = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert answers[0]["id"] == 1 and answers[0]["result"]["serverInfo"]["name"] == "tollhouse"
