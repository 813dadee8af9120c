"""The runner in-process against the loopback providers, through each official SDK."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows
from tests.run.helpers import API_KEY, handoffs, open_case, sample_workspace
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


BUDGET_RULE = """
[[rules]]
id = "budget-writes-per-run"
description = "a stand-in for a spent budget: the gate's budget checks deny naming the budget"
tools = ["files_write"]
paths = ["src/**"]
effect = "deny"
"""


def test_a_budget_denial_stops_the_run_with_a_blocked_handoff(workspace: Path) -> None:
    steps = [Step(calls=[("files_write", {"path": "src/x.py", "content": ""})]), Step(text="never asked")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=BUDGET_RULE)
        open_case(workspace, "C-9")
        result, _out, log = _run(workspace, "anthropic", case="C-9")
        assert len(loop.model_requests()) == 1, log  # the run stopped: no request after the denial
    assert result.status == "budget" and "budget-writes-per-run" in result.summary
    assert "files_write -> denied" in log
    handoff = handoffs(workspace, "C-9")[0]
    assert handoff.kind == "blocked" and "budget" in handoff.blockers[0]


def test_a_plain_denial_goes_back_to_the_model_and_the_run_goes_on(workspace: Path) -> None:
    steps = [Step(calls=[("files_write", {"path": "setup.cfg", "content": "x"})]), Step(text="ok, I stop")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, _out, _log = _run(workspace, "openai")
        second = loop.model_requests()[1].body["messages"][-1]
    assert result.status == "done" and not (workspace / "setup.cfg").exists()
    assert second["role"] == "tool" and second["content"].startswith("Denied by policy")


def test_approvals_go_to_the_approver_one_question_per_call(workspace: Path) -> None:
    from tollhouse.gate.types import ApprovalAnswer

    asked: list[object] = []

    async def approver(request: object) -> ApprovalAnswer:
        asked.append(request)
        return ApprovalAnswer(False, "terminal:tester", "not today")

    rule = '\n[[rules]]\nid = "docs-ask"\ntools = ["files_write"]\npaths = ["docs/**"]\neffect = "ask"\n'
    steps = [Step(calls=[("files_write", {"path": "docs/a.md", "content": "x"})]), Step(text="fine")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=rule)
        result, _out, log = _run(workspace, "gemini", approver=approver)
    assert result.status == "done" and len(asked) == 1 and asked[0].tool == "files_write"  # type: ignore[attr-defined]
    assert "files_write -> denied (declined by terminal:tester (not today)" in log
    assert not (workspace / "docs" / "a.md").exists()


def test_the_loopback_refuses_a_gemini_history_without_its_thought_signature() -> None:
    """What makes the round trip above meaningful: drop the signature and Gemini (3) says 400."""
    from google import genai
    from google.genai import errors, types

    steps = [Step(calls=[("files_read", {"path": "a"})]), Step(text="never")]
    with Loopback(steps) as loop:
        client = genai.Client(
            api_key="k", vertexai=False, http_options=types.HttpOptions(base_url=loop.base_url("gemini"))
        )

        async def go() -> None:
            first = await client.aio.models.generate_content(model="m", contents="hi")
            content = first.candidates[0].content
            assert content.parts[0].thought_signature  # sent on the function-call part
            content.parts[0].thought_signature = None
            response = types.FunctionResponse(
                id=content.parts[0].function_call.id, name="files_read", response={"output": "x"}
            )
            answer = types.Content(role="user", parts=[types.Part(function_response=response)])
            with pytest.raises(errors.ClientError, match="thought_signature"):
                await client.aio.models.generate_content(model="m", contents=["hi", content, answer])

        anyio.run(go)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_and_5xx_are_retried_honouring_retry_after_and_receipted(workspace: Path, provider: str) -> None:
    steps = [
        Step(status=429, retry_after="0.2", error_message="slow down"),
        Step(status=503, retry_after="0", error_message="overloaded"),
        Step(text="done"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        started = time.monotonic()
        result, _out, log = _run(workspace, provider)
        assert result.status == "done" and len(loop.model_requests()) == 3
    assert time.monotonic() - started > 0.2 and "slow down" in log
    (model,) = [r for r in receipt_rows(workspace / ".tollhouse") if r["kind"] == "model"]
    details = json.loads(model["details"])
    assert details["retries"] == 2
    assert [(r["status"], r["wait_s"]) for r in details["retry_log"]] == [(429, 0.2), (503, 0.0)]
    assert "slow down" in details["retry_log"][0]["error"]


def test_retry_after_over_the_bound_and_client_errors_fail_at_once(workspace: Path) -> None:
    for step in (Step(status=429, retry_after="3600"), Step(status=400), Step(status=401)):
        with Loopback([step, Step(text="never")], api_key=API_KEY) as loop:
            sample_workspace(workspace, loop)
            result, _out, _log = _run(workspace, "openai-responses")
            assert len(loop.model_requests()) == 1, step
        assert result.status == "failed" and str(step.status) in result.summary


@pytest.mark.parametrize("provider", ["openai-responses", "gemini"])
def test_a_key_the_model_repeats_is_redacted_on_the_terminal_and_in_receipts(
    workspace: Path, provider: str
) -> None:
    # streamed in 5-character pieces: the key arrives split, the redactor still sees it whole
    steps = [Step(text=f"Here it is:\n{API_KEY}\nand {API_KEY} again")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, out, _log = _run(workspace, provider)
    assert result.status == "done"
    assert "Here it is:" in out and " again" in out
    assert API_KEY not in out and API_KEY not in result.summary
    rows = receipt_rows(workspace / ".tollhouse")
    assert rows[0]["excerpt"] and API_KEY not in json.dumps(rows)


def test_only_tools_policy_could_allow_are_shown_and_others_are_refused_by_name(workspace: Path) -> None:
    steps = [
        Step(calls=[("memory_write", {"subject": "x", "predicate": "y", "object": "z"})]),
        Step(text="ok"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, _out, log = _run(workspace, "anthropic")
        shown = {t["name"] for t in loop.model_requests()[0].body["tools"]}
        answer = loop.model_requests()[1].body["messages"][-1]["content"][0]
    assert result.status == "done"
    assert {"files_read", "files_write", "shell_run"} <= shown and "memory_write" not in shown
    assert "github_comment" not in shown
    assert answer["is_error"] is True and "'memory_write' is not served here" in answer["content"]
    assert "memory_write -> error" in log


def test_cancelled_while_a_tool_runs_leaves_the_tools_and_the_runs_cancelled_receipts(
    workspace: Path,
) -> None:
    from tollhouse.gate.gate import Gate
    from tollhouse.run import Runner, load_run_settings, open_provider

    steps = [Step(calls=[("shell_run", {"argv": ["python", "-m", "pytest", "-q"]})]), Step(text="never")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        (workspace / "tests" / "test_slow.py").write_text(
            "import time\n\n\ndef test_slow():\n    time.sleep(60)\n"
        )
        open_case(workspace, "C-5")
        config = load_config(workspace / "tollhouse.toml")
        settings = load_run_settings(config.section("run"), provider="openai")

        async def go() -> object:
            gate = await Gate.open(config)
            async with gate:
                provider = await open_provider(gate, settings)
                runner = Runner(gate, provider, settings, case="C-5", out=io.StringIO(), log=io.StringIO())
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(runner.run, "go")
                        while (
                            not (workspace / ".tollhouse" / "receipts.db").exists()
                            or len(
                                [r for r in receipt_rows(workspace / ".tollhouse") if r["kind"] == "intent"]
                            )
                            < 1
                        ):
                            await anyio.sleep(0.05)
                        await anyio.sleep(0.5)  # pytest is running
                        scope.cancel()
                await provider.aclose()
                return runner.result

        started = time.monotonic()
        result = anyio.run(go)
        assert len(loop.model_requests()) == 1
    assert time.monotonic() - started < 30  # the 60 s test was stopped, not waited for
    assert result.status == "cancelled"  # type: ignore[attr-defined]
    rows = receipt_rows(workspace / ".tollhouse")
    outcome = next(r for r in rows if r["kind"] == "outcome" and r["tool"] == "shell_run")
    assert outcome["outcome"] == "cancelled"
    assert [r["outcome"] for r in rows if r["kind"] == "model"] == ["ok", "cancelled"]
    assert "while tools ran" in rows[-1]["message"]
    assert handoffs(workspace, "C-5")[0].kind == "interrupted"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_an_unreachable_provider_is_retried_with_backoff_then_fails_with_a_receipt(
    workspace: Path, provider: str
) -> None:
    import socket
    from dataclasses import replace

    from tollhouse.gate.gate import Gate
    from tollhouse.run import Runner, load_run_settings, open_provider

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Loopback(api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
    config = load_config(workspace / "tollhouse.toml")
    settings = load_run_settings(config.section("run"), provider=provider)
    base = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    settings = replace(settings, base_url=base, max_retries=2)

    async def go() -> object:
        gate = await Gate.open(config)
        async with gate:
            client = await open_provider(gate, settings)
            try:
                log = io.StringIO()
                runner = Runner(gate, client, settings, out=io.StringIO(), log=log, retry_base_s=0.01)
                return await runner.run("hi")
            finally:
                await client.aclose()

    result = anyio.run(go)
    assert result.status == "failed" and "could not reach the provider" in result.summary  # type: ignore[attr-defined]
    (model,) = receipt_rows(workspace / ".tollhouse")
    details = json.loads(model["details"])
    assert model["outcome"] == "error" and "after 3 attempt(s)" in model["message"]
    assert details["retries"] == 2 and all(r["status"] is None for r in details["retry_log"])
    assert [r["wait_s"] for r in details["retry_log"]] == sorted(r["wait_s"] for r in details["retry_log"])


def test_a_budget_the_gate_finds_spent_by_a_model_turn_stops_the_run_before_its_calls(
    workspace: Path,
) -> None:
    """The contract with the gate's budget checks: record_model_turn receipts the turn, then raises
    BudgetSpent; none of that turn's tool calls run and the case gets a blocked handoff."""
    from tollhouse.gate.gate import Gate
    from tollhouse.gate.model_turns import BudgetSpent
    from tollhouse.run import Runner, load_run_settings, open_provider

    class TokenBudgetGate(Gate):
        async def record_model_turn(self, turn):  # type: ignore[no-untyped-def]
            seq = await super().record_model_turn(turn)
            used = (turn.usage or {}).get("total_tokens", 0)
            if used > 10:
                raise BudgetSpent(f"budget model-tokens-per-run: {used} of 10 tokens used", seq)
            return seq

    steps = [Step(calls=[("files_write", {"path": "src/y.py", "content": "x"})]), Step(text="never")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        open_case(workspace, "C-7")
        config = load_config(workspace / "tollhouse.toml")
        settings = load_run_settings(config.section("run"), provider="gemini")

        async def go() -> object:
            gate = await TokenBudgetGate.open(config)
            async with gate:
                client = await open_provider(gate, settings)
                try:
                    runner = Runner(gate, client, settings, case="C-7", out=io.StringIO(), log=io.StringIO())
                    return await runner.run("go")
                finally:
                    await client.aclose()

        result = anyio.run(go)
        assert len(loop.model_requests()) == 1
    assert result.status == "budget" and "model-tokens-per-run" in result.summary  # type: ignore[attr-defined]
    assert result.receipts == [1]  # type: ignore[attr-defined]
    assert not (workspace / "src" / "y.py").exists()
    assert [r["kind"] for r in receipt_rows(workspace / ".tollhouse")] == ["model"]
    handoff = handoffs(workspace, "C-7")[0]
    assert handoff.kind == "blocked" and "model-tokens-per-run" in handoff.blockers[0]


def test_max_turns_stops_the_run_with_a_progress_handoff(workspace: Path) -> None:
    from dataclasses import replace

    from tollhouse.gate.gate import Gate
    from tollhouse.run import Runner, load_run_settings, open_provider

    steps = [Step(calls=[("files_read", {"path": "src/calc.py"})]), Step(text="never")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        open_case(workspace, "C-8")
        config = load_config(workspace / "tollhouse.toml")
        settings = replace(load_run_settings(config.section("run"), provider="openai"), max_turns=1)

        async def go() -> object:
            gate = await Gate.open(config)
            async with gate:
                client = await open_provider(gate, settings)
                try:
                    runner = Runner(gate, client, settings, case="C-8", out=io.StringIO(), log=io.StringIO())
                    return await runner.run("go")
                finally:
                    await client.aclose()

        result = anyio.run(go)
        assert len(loop.model_requests()) == 1
    assert result.status == "max_turns" and result.tool_calls == 1  # type: ignore[attr-defined]
    handoff = handoffs(workspace, "C-8")[0]
    assert handoff.kind == "progress" and "files_read -> ok" in handoff.done
    assert handoff.next_steps and sorted(handoff.receipts) == result.receipts  # type: ignore[attr-defined]


def test_an_anthropic_error_event_inside_a_stream_is_judged_by_its_type(workspace: Path) -> None:
    steps = [Step(stream_error="overloaded_error", error_message="Overloaded"), Step(text="fine now")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, out, _log = _run(workspace, "anthropic")
        assert len(loop.model_requests()) == 2
    assert result.status == "done" and "fine now" in out
    (model,) = receipt_rows(workspace / ".tollhouse")
    assert "overloaded_error in the stream" in json.loads(model["details"])["retry_log"][0]["error"]

    with Loopback([Step(stream_error="invalid_request_error", error_message="bad")], api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, _out, _log = _run(workspace, "anthropic")
        assert len(loop.model_requests()) == 1
    assert result.status == "failed" and "invalid_request_error in the stream" in result.summary


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sdk_environment_variables_neither_redirect_a_run_nor_add_a_credential(
    workspace: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_secret = "env-token-that-must-not-travel-0123456789"
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.setenv(name, "https://elsewhere.invalid")
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ):
        monkeypatch.setenv(name, env_secret)
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    with Loopback([Step(text="hi")], api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        result, _out, _log = _run(workspace, provider)
        (request,) = loop.model_requests()
    assert result.status == "done"
    assert env_secret not in json.dumps(request.headers) + request.path


def test_a_provider_error_quoting_the_key_is_redacted_everywhere(workspace: Path) -> None:
    steps = [
        Step(status=500, error_message=f"boom for {API_KEY}"),
        Step(status=401, error_message=f"bad key {API_KEY}"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop)
        open_case(workspace, "C-4")
        result, out, log = _run(workspace, "openai", case="C-4")
    assert result.status == "failed" and "bad key" in result.summary and "boom for" in log
    shown = out + log + result.summary + json.dumps(receipt_rows(workspace / ".tollhouse"))
    assert API_KEY not in shown + handoffs(workspace, "C-4")[0].summary + " ".join(
        handoffs(workspace, "C-4")[0].done
    )


TOKEN_BUDGET = """
[[budgets]]
id = "run-tokens"
per = "run"
max_tokens = 20
"""

CALL_BUDGET = """
[[budgets]]
id = "run-reads"
tools = ["files_read"]
per = "run"
max_calls = 1
"""


COST_BUDGET = """
[[budgets]]
id = "run-cost"
per = "run"
max_cost_usd = 2.0

[prices."loop-model-1"]
input = 100000.0
output = 100000.0
"""


@pytest.mark.parametrize(
    "extra,budget,limit",
    [(TOKEN_BUDGET, "run-tokens", "max_tokens"), (COST_BUDGET, "run-cost", "max_cost_usd")],
    ids=["tokens", "cost"],
)
def test_each_model_budget_kind_stops_the_run_after_the_turn_that_spent_it(
    workspace: Path, extra: str, budget: str, limit: str
) -> None:
    """18 tokens (11 in, 7 out) a turn: 1.8 USD at these prices. The first turn fits 20 tokens / 2 USD,
    the second spends the budget, so its calls never run."""
    steps = [
        Step(text="first", calls=[("files_read", {"path": "src/calc.py"})]),
        Step(text="second", calls=[("files_write", {"path": "src/z.py", "content": "x"})]),
        Step(text="never asked"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=extra)
        result, _out, _log = _run(workspace, "openai")
        assert len(loop.model_requests()) == 2
    assert result.status == "budget" and budget in result.summary and limit in result.summary
    assert not (workspace / "src" / "z.py").exists()
    assert [r["kind"] for r in receipt_rows(workspace / ".tollhouse")] == ["model", "outcome", "model"]


def test_model_usage_that_cannot_be_counted_stops_the_run(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Budgets fail closed for model turns too: a charge that fails ends the run after the turn's
    receipt (budget.error), and none of that turn's calls run."""
    from tollhouse.gate.budgets import Budgets

    async def broken(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk I/O error")

    monkeypatch.setattr(Budgets, "charge_model", broken)
    steps = [Step(calls=[("files_write", {"path": "src/w.py", "content": "x"})]), Step(text="never")]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=TOKEN_BUDGET)
        result, _out, _log = _run(workspace, "anthropic")
        assert len(loop.model_requests()) == 1
    assert result.status == "budget" and "budget.error" in result.summary
    assert not (workspace / "src" / "w.py").exists()
    assert [r["kind"] for r in receipt_rows(workspace / ".tollhouse")] == ["model"]


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_a_real_token_budget_stops_the_run_after_the_turn_that_spent_it(
    workspace: Path, provider: str
) -> None:
    """The loopback reports 18 tokens a turn: the first turn fits in 20, the second spends the budget,
    so its calls never run and the case gets a blocked handoff naming the budget."""
    steps = [
        Step(text="first", calls=[("files_read", {"path": "src/calc.py"})]),
        Step(text="second", calls=[("files_write", {"path": "src/z.py", "content": "x"})]),
        Step(text="never asked"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=TOKEN_BUDGET)
        open_case(workspace, "C-5")
        result, _out, _log = _run(workspace, provider, case="C-5")
        assert len(loop.model_requests()) == 2
    assert result.status == "budget" and "run-tokens" in result.summary and "max_tokens" in result.summary
    assert not (workspace / "src" / "z.py").exists()
    rows = receipt_rows(workspace / ".tollhouse")
    assert [r["kind"] for r in rows] == ["model", "outcome", "model"]
    handoff = handoffs(workspace, "C-5")[0]
    assert handoff.kind == "blocked" and "run-tokens" in handoff.blockers[0]


def test_a_real_call_budget_denies_the_second_read_and_stops_the_run(workspace: Path) -> None:
    steps = [
        Step(calls=[("files_read", {"path": "src/calc.py"}), ("files_read", {"path": "tests/test_calc.py"})]),
        Step(text="never asked"),
    ]
    with Loopback(steps, api_key=API_KEY) as loop:
        sample_workspace(workspace, loop, extra=CALL_BUDGET)
        result, _out, _log = _run(workspace, "openai")
        assert len(loop.model_requests()) == 1
    assert result.status == "budget" and "run-reads" in result.summary
    outcomes = [r for r in receipt_rows(workspace / ".tollhouse") if r["kind"] == "outcome"]
    assert sorted(r["outcome"] for r in outcomes) == ["denied", "ok"]
    denied = next(r for r in outcomes if r["outcome"] == "denied")
    assert json.loads(denied["rules"]) == ["budget.run-reads"]
