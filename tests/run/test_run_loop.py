"""The runner in-process against the loopback providers, through each official SDK."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows
from tests.run.helpers import API_KEY, sample_workspace
from tests.run.loopback import Loopback, Step
from tollhouse.config import load_config
from tollhouse.run import run_agent

PROVIDERS = ["openai", "openai-responses", "anthropic", "gemini"]


def _run(root: Path, provider: str, goal: str = "fix add", **kwargs: object) -> tuple[object, str, str]:
    out, log = io.StringIO(), io.StringIO()
    config = load_config(root / "tollhouse.toml")
    result = anyio.run(lambda: run_agent(config, goal, provider, out=out, log=log, **kwargs))  # type: ignore[arg-type]
    return result, out.getvalue(), log.getvalue()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_parallel_calls_round_trip_with_ids_and_receipts(
    workspace: Path, provider: str, stream: bool
) -> None:
    steps = [
        Step(
            text="Reading both.",
            calls=[("files_read", {"path": "src/calc.py"}), ("files_read", {"path": "tests/test_calc.py"})],
        ),
        Step(text="add() subtracts."),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, out, _log = _run(workspace, provider, stream=stream)
        assert result.status == "done", result.summary
        assert "Reading both." in out and "add() subtracts." in out
        posts = loop.model_requests()
        assert len(posts) == 2
        assert posts[0].body.get("stream", False) is (stream and provider != "gemini") or provider == "gemini"
    rows = receipt_rows(workspace / ".tollhouse")
    models = [r for r in rows if r["kind"] == "model"]
    calls = [r for r in rows if r["kind"] != "model"]
    assert [m["outcome"] for m in models] == ["ok", "ok"]
    first = json.loads(models[0]["details"])
    assert first["provider"] == provider and first["model"] == "loop-model-1"
    assert first["usage"] == {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
    assert len(first["tool_calls"]) == 2 and first["retries"] == 0
    assert models[0]["credentials"] == json.dumps([f"{provider.split('-')[0]}:loop"])
    assert models[0]["session"] == result.run_id and models[0]["tool"] is None
    # each tool call's receipt names the provider's call id and the response it came in
    provider_ids = [json.loads(c["details"])["provider"] for c in calls]
    assert sorted(p["call_id"] for p in provider_ids) == sorted(c["call_id"] for c in first["tool_calls"])
    assert {p["response_id"] for p in provider_ids} == {first["response_id"]}
    assert all(c["outcome"] == "ok" and c["session"] == result.run_id for c in calls)
    # model turn, its two calls, the next model turn: one chain, in that order
    assert [r["kind"] for r in rows] == ["model", "outcome", "outcome", "model"]
    assert API_KEY not in json.dumps(rows)
