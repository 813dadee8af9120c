from __future__ import annotations

import pytest

from tests.upstreams.conftest import call, make_config, open_gate, tiny_upstream, trust_upstream

pytestmark = pytest.mark.anyio


async def test_echo_through_gate(tmp_path):
    root = tmp_path / "ws"
    make_config(root, tiny_upstream() + '\n[[rules]]\nid = "tiny"\ntools = ["tiny_*"]\neffect = "allow"\n')
    await trust_upstream(root, "tiny")
    gate = await open_gate(root)
    async with gate:
        out = await gate.call(call("tiny_echo", {"text": "hi"}))
        print(out)
        assert out.status == "ok"
