"""The event store in-process: per-session views, ordering, ids, both backends, and sharing a file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from tollhouse.server.http_events import EventLog, SessionEvents, open_log


def response(i: int) -> types.JSONRPCResponse:
    return types.JSONRPCResponse(jsonrpc="2.0", id=i, result={"n": i})


async def replay(view: SessionEvents, after: str) -> tuple[str | None, list[tuple[str, int]]]:
    got: list[tuple[str, int]] = []

    async def send(event) -> None:  # type: ignore[no-untyped-def]
        got.append((event.event_id, event.message.id))

    stream = await view.replay_events_after(after, send)
    return stream, got


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_replay_is_ordered_per_stream_and_per_session(tmp_path: Path, kind: str) -> None:
    log = open_log(kind, tmp_path)
    assert log is not None
    a, b = SessionEvents(log, "session-a"), SessionEvents(log, "session-b")

    async def run() -> None:
        prime = await a.store_event("1", None)
        ids = [await a.store_event("1", response(i)) for i in range(3)]
        await a.store_event("2", response(99))  # another stream of the same session
        await b.store_event("1", response(50))  # the same stream id in another session
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in [prime, *ids])
        assert await replay(a, prime) == ("1", [(ids[0], 0), (ids[1], 1), (ids[2], 2)])
        assert await replay(a, ids[1]) == ("1", [(ids[2], 2)])
        assert await replay(b, prime) == (None, [])  # another session's id finds nothing
        assert await replay(a, "f" * 32) == (None, [])

    anyio.run(run)
    log.close()


def test_the_sqlite_log_is_private_and_shared_by_processes_on_one_state_folder(tmp_path: Path) -> None:
    first = open_log("sqlite", tmp_path)
    second = EventLog(tmp_path / "http-events.db")  # as another replica opens it
    assert first is not None
    assert stat.S_IMODE((tmp_path / "http-events.db").stat().st_mode) == 0o600

    async def run() -> None:
        prime = await SessionEvents(first, "s").store_event("7", None)
        await SessionEvents(first, "s").store_event("7", response(7))
        assert (await replay(SessionEvents(second, "s"), prime))[1][0][1] == 7

    anyio.run(run)
    first.close()
    second.close()
    assert open_log("off", tmp_path) is None
