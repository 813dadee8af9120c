"""A directory swapped for a symlink to outside, again and again, while the tools use paths through it.

The swapper thread renames ``sub`` away, puts a symlink to the outside directory in its place, then
puts the real directory back. Whatever interleaving happens, a tool either works on the real ``sub``
or fails; it never reads or changes anything outside.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

import pytest

from tests.files.conftest import SECRET
from tollhouse.tools.base import ToolError

pytestmark = pytest.mark.anyio

INSIDE = "inside content\n"
ROUNDS = 400
MIN_SWAPS = 100
DEADLINE_S = 4.0


def rounds(swaps: list[int]):
    """At least ROUNDS iterations, and on until the swapper has swapped MIN_SWAPS times (bounded)."""
    start = time.monotonic()
    i = 0
    while i < ROUNDS or (swaps[0] < MIN_SWAPS and time.monotonic() - start < DEADLINE_S):
        yield i
        i += 1


def _swapper(root, outside, stop: threading.Event, swaps: list[int]) -> None:
    sub, real = root / "sub", root / "sub.real"
    while not stop.is_set():
        try:
            os.rename(sub, real)
            os.symlink(outside, sub)
            time.sleep(0)
            os.unlink(sub)
            os.rename(real, sub)
            swaps[0] += 1
        except OSError:
            # a tool may have re-created "sub" (writes create parents): put things back and go on
            try:
                if os.path.islink(sub):
                    os.unlink(sub)
                elif os.path.isdir(sub) and os.path.isdir(real):
                    shutil.rmtree(sub)  # made by a tool while the real one was away; inside the root
                if os.path.isdir(real) and not os.path.lexists(sub):
                    os.rename(real, sub)
            except OSError:
                pass
        time.sleep(0)


@pytest.fixture
def swapping(env):
    (env.root / "sub").mkdir()
    (env.root / "sub/file.txt").write_text(INSIDE)
    (env.outside / "file.txt").write_text(SECRET)
    before = env.outside_state()
    stop = threading.Event()
    swaps = [0]
    # Switch threads every 10 µs instead of 5 ms, so swaps land in the middle of tool calls.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=_swapper, args=(env.root, env.outside, stop, swaps), daemon=True)
    thread.start()
    yield before, swaps
    stop.set()
    thread.join(5)
    sys.setswitchinterval(interval)
    assert not thread.is_alive()


async def test_reads_through_a_swapping_directory_never_leak(env, swapping):
    before, swaps = swapping
    ok = refused = 0
    for i in rounds(swaps):
        name, args = [
            ("files_read", {"path": "sub/file.txt"}),
            ("files_read_many", {"paths": ["sub/file.txt"]}),
            ("files_search", {"pattern": "content|SECRET", "path": "sub"}),
            ("files_list", {"path": "sub"}),
        ][i % 4]
        try:
            out = await env.run(name, **args)
        except ToolError as exc:
            assert "TOP-SECRET" not in str(exc)
            refused += 1
            continue
        dumped = out.model_dump_json()
        assert "TOP-SECRET" not in dumped, (name, dumped)
        ok += 1
    assert swaps[0] >= MIN_SWAPS, "the swapper must actually have raced the reads"
    assert ok > 0 and refused > 0, (ok, refused)
    assert env.outside_state() == before


async def test_writes_through_a_swapping_directory_never_land_outside(env, swapping):
    before, swaps = swapping
    for i in rounds(swaps):
        name, args = [
            ("files_write", {"path": "sub/new.txt", "content": f"w{i}", "overwrite": True}),
            ("files_write", {"path": "sub/file.txt", "content": INSIDE, "overwrite": True}),
            (
                "files_edit",
                {"path": "sub/file.txt", "edits": [{"old_text": "content", "new_text": "content"}]},
            ),
            ("files_edit", {"path": "sub/file.txt", "edits": [{"old_text": "TOP", "new_text": "PWN"}]}),
            ("files_mkdir", {"path": "sub/made"}),
            ("files_delete", {"path": "sub/file.txt"}),
            ("files_move", {"source": "sub/new.txt", "destination": "sub/moved.txt", "overwrite": True}),
        ][i % 7]
        try:
            await env.run(name, **args)
        except ToolError as exc:
            assert "TOP-SECRET" not in str(exc)
        assert env.outside_state() == before, (i, name)
    assert swaps[0] >= MIN_SWAPS
    assert env.outside_state() == before
