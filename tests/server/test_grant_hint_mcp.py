"""The hint end to end under the shipped `dev` profile: a real MCP stdio session is refused a delete,
a person pastes the hint into bash, and the grant lets exactly that delete run once, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from tests.gate.test_grants import HINT_LEAD, paste
from tests.server.test_publish import init, params

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", ["a'$(touch PWNED)'b.txt", "*.txt", "a;touch PWNED;b`touch PWNED2`.txt"])
async def test_a_pasted_hint_allows_exactly_the_refused_delete(
    workspace: Path, tmp_path: Path, name: str
) -> None:
    ws = init(workspace, "dev")
    (ws / "tmp").mkdir()
    for f in (name, "a.txt", "b.txt", "ab.txt"):
        (ws / "tmp" / f).write_text(f)
    async with Client(params(ws)) as client:  # no elicitation: nobody to ask
        refused = await client.call_tool("files_delete", {"path": f"tmp/{name}"})
        assert refused.is_error and HINT_LEAD in refused.content[0].text
        hint = refused.content[0].text.split(HINT_LEAD, 1)[1]
        ran = paste(ws, tmp_path, hint)
        assert ran.returncode == 0, ran.stderr
        for sibling in ("a.txt", "b.txt", "ab.txt"):
            r = await client.call_tool("files_delete", {"path": f"tmp/{sibling}"})
            assert r.is_error and "needs approval" in r.content[0].text.lower(), r.content[0].text
        done = await client.call_tool("files_delete", {"path": f"tmp/{name}"})
        assert not done.is_error, done.content[0].text
        again = await client.call_tool("files_delete", {"path": f"tmp/{name}"})
        assert again.is_error  # one use
    assert sorted(p.name for p in (ws / "tmp").iterdir()) == ["a.txt", "ab.txt", "b.txt"]
    assert list(ws.rglob("PWNED*")) == [] and list(tmp_path.rglob("PWNED*")) == []
