"""Budgets and rate limits: each limit kind stops exactly the call over it, with a receipt naming
the budget and the limit; counts hold under parallel calls and across processes; a bad [[budgets]]
table fails the load with a located message."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows, subprocess_env, tollhouse_cmd, write_config
from tests.gate.conftest import make_config
from tollhouse.config import ConfigError, load_config, parse_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import ApprovalAnswer, Call

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def open_gate(workspace: Path, budgets: str) -> tuple[Gate, Clock]:
    gate = await Gate.open(make_config(workspace, textwrap.dedent(budgets)))
    clock = Clock()
    gate.budgets.clock = clock
    return gate, clock


def denial(gate: Gate, outcome) -> dict:
    rows = receipt_rows(gate.config.state_dir, outcome.call_id)
    assert len(rows) == 1 and rows[0]["outcome"] == "denied", rows
    return rows[0]


async def test_calls_per_minute_per_session(workspace) -> None:
    gate, clock = await open_gate(workspace, """
        [[budgets]]
        id = "echo-rate"
        tools = ["fx_echo"]
        per = "session"
        calls_per_minute = 3
    """)  # fmt: skip
    async with gate:
        outs = [await gate.call(Call("fx_echo", {"text": "a"}, session="s1")) for _ in range(4)]
        assert [o.status for o in outs] == ["ok", "ok", "ok", "denied"]
        last = outs[-1]
        assert last.decision.rules == ("budget.echo-rate",)
        assert last.message == (
            "denied by budget echo-rate: calls_per_minute 3 reached (next call possible in 60 s) "
            "per session (session:s1)"
        )
        row = denial(gate, last)
        assert json.loads(row["rules"]) == ["budget.echo-rate"] and row["decision"] == "deny"
        assert json.loads(row["details"]) == {
            "budget": "echo-rate", "limit": "calls_per_minute",
            "policy": {"effect": "allow", "rules": ["read-all"]},
        }  # fmt: skip
        assert json.loads(row["arguments"]) == {"text": "a", "times": 1}
        # another session, and another tool, are not counted here
        assert (await gate.call(Call("fx_echo", {"text": "a"}, session="s2"))).status == "ok"
        assert (await gate.call(Call("fx_noop", {}, session="s1"))).status == "ok"
        clock.now += 30
        assert (await gate.call(Call("fx_echo", {"text": "a"}, session="s1"))).status == "denied"
        clock.now += 31  # the first three left the window
        assert (await gate.call(Call("fx_echo", {"text": "a"}, session="s1"))).status == "ok"


async def test_max_calls_holds_under_parallel_calls(workspace) -> None:
    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "five"
        per = "session"
        max_calls = 5
    """)  # fmt: skip
    async with gate:
        outs = []

        async def one(i: int) -> None:
            outs.append(await gate.call(Call("fx_echo", {"text": str(i)}, session="par")))

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        assert sorted(o.status for o in outs) == ["denied"] * 15 + ["ok"] * 5
        denied = [o for o in outs if o.status == "denied"]
        assert all(o.message.startswith("denied by budget five: max_calls 5 calls made") for o in denied)


async def test_max_calls_per_principal_across_gates_and_processes(workspace) -> None:
    budgets = """
        [[budgets]]
        id = "per-person"
        tools = ["fx_*"]
        principals = ["ci:*"]
        per = "principal"
        max_calls = 4
    """
    gate_a, _ = await open_gate(workspace, budgets)
    gate_b = await Gate.open(gate_a.config)  # a second process's gate: its own connection
    async with gate_a, gate_b:
        outs = []

        async def one(gate: Gate) -> None:
            outs.append(await gate.call(Call("fx_noop", {}, operator="ci:bot", session=None)))

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(one, gate_a if i % 2 else gate_b)
        assert sorted(o.status for o in outs) == ["denied"] * 6 + ["ok"] * 4
        # another principal is not covered by this budget
        assert (await gate_a.call(Call("fx_noop", {}, operator="local:me"))).status == "ok"
    # a new process (the CLI, operator from [identity]) sees the same count
    path = workspace / "tollhouse.toml"
    path.write_text(path.read_text() + '\n[identity]\noperator = "ci:bot"\n')
    write_config(workspace, path.read_text())
    proc = subprocess.run(
        tollhouse_cmd("call", "fx_noop", "{}"), cwd=workspace, env=subprocess_env(), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert (
        "denied by budget per-person: max_calls 4 calls made per principal (principal:ci:bot)" in proc.stderr
    )


async def test_model_tokens_stop_the_run_and_its_tool_calls(workspace) -> None:
    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "run-tokens"
        per = "run"
        max_tokens = 1000
    """)  # fmt: skip
    async with gate:
        status = await gate.charge_model(model="gpt-4.1", input_tokens=400, output_tokens=200, run="r1")
        assert not status.spent and status.cost_usd == pytest.approx((400 * 2.0 + 200 * 8.0) / 1e6)
        assert (await gate.call(Call("fx_echo", {"text": "a"}, session="r1"))).status == "ok"
        status = await gate.charge_model(model="gpt-4.1", input_tokens=300, output_tokens=100, run="r1")
        assert status.spent
        assert status.reasons == [
            "denied by budget run-tokens: max_tokens 1000 model tokens used (1000) per run (run:r1)"
        ]
        out = await gate.call(Call("fx_echo", {"text": "a"}, session="r1"))
        assert out.status == "denied" and out.decision.rules == ("budget.run-tokens",)
        assert json.loads(denial(gate, out)["details"])["limit"] == "max_tokens"
        assert not (await gate.budget_status(run="r2")).spent  # another run has its own budget
        assert (await gate.call(Call("fx_echo", {"text": "a"}, session="r2"))).status == "ok"


async def test_cost_from_price_table_override_and_unpriced_models(workspace) -> None:
    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "dollar"
        per = "session"
        max_cost_usd = 1.0

        [prices."house-model"]
        input = 1000
        output = 0

        [prices."gpt-4.1"]
        input = 500000
        output = 0
    """)  # fmt: skip
    async with gate:
        s = await gate.charge_model(model="house-model", input_tokens=999, output_tokens=5000, session="a")
        assert s.cost_usd == pytest.approx(0.999) and not s.spent
        s = await gate.charge_model(model="house-model", input_tokens=1, output_tokens=0, session="a")
        assert s.spent and s.reasons == [
            "denied by budget dollar: max_cost_usd $1 spent ($1.0000) per session (session:a)"
        ]
        # the operator's price wins over the built-in estimate (a dated name uses its base's price)
        s = await gate.charge_model(model="gpt-4.1-2025-04-14", input_tokens=2, output_tokens=0, session="b")
        assert s.spent and s.cost_usd == pytest.approx(1.0)
        # a model without a price cannot be kept under a cost limit: spent, and said so
        s = await gate.charge_model(model="mystery-1", input_tokens=1, output_tokens=1, session="c")
        assert s.spent and s.cost_usd is None
        assert "model 'mystery-1' has no price (add it to [prices])" in s.reasons[0]
        out = await gate.call(Call("fx_noop", {}, session="c"))
        assert out.status == "denied" and "has no price" in out.message
        # an explicit cost wins over the table
        s = await gate.charge_model(
            model="mystery-1", input_tokens=1, output_tokens=1, session="d", cost_usd=0.5
        )
        assert not s.spent and s.cost_usd == 0.5


async def test_wall_time_per_session(workspace) -> None:
    gate, clock = await open_gate(workspace, """
        [[budgets]]
        id = "ten-minutes"
        per = "session"
        max_wall_s = 600
    """)  # fmt: skip
    async with gate:
        assert (await gate.call(Call("fx_noop", {}, session="w"))).status == "ok"
        clock.now += 599
        assert (await gate.call(Call("fx_noop", {}, session="w"))).status == "ok"
        clock.now += 1
        out = await gate.call(Call("fx_noop", {}, session="w"))
        assert out.status == "denied"
        assert out.message == (
            "denied by budget ten-minutes: max_wall_s 600 s of wall time used (600 s) per session (session:w)"
        )
        assert (await gate.budget_status(session="w")).spent
        assert (await gate.call(Call("fx_noop", {}, session="fresh"))).status == "ok"


async def test_deny_wins_and_no_person_is_asked_for_a_call_over_budget(workspace) -> None:
    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "none-left"
        tools = ["fx_note"]
        per = "session"
        max_calls = 0
    """)  # fmt: skip
    asked = []

    async def approver(request):
        asked.append(request)
        return ApprovalAnswer(True, "test:person")

    async with gate:
        # policy denies: the policy's rule is named, not the budget
        out = await gate.call(Call("fx_note", {"path": "notes/secret.md"}, session="s"))
        assert out.decision.rules == ("no-secret-notes",)
        # policy asks: the budget refuses before anyone is asked, and nothing is written
        out = await gate.call(Call("fx_note", {"path": "drafts/a.md", "content": "x"}, approver=approver))
        assert out.status == "denied" and out.decision.rules == ("budget.none-left",) and asked == []
        assert not (workspace / "drafts" / "a.md").exists()
        assert json.loads(denial(gate, out)["details"])["policy"] == {"effect": "ask", "rules": ["notes-ask"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[budgets]]\nid = "x"\nper = "day"\nmax_calls = 1\n',
            "budget x: per must be one of session, run, principal (got 'day')",
        ),
        (
            '[[budgets]]\nid = "x"\n',
            "budget x: set at least one of calls_per_minute, max_calls, max_tokens, max_cost_usd, max_wall_s",
        ),
        (
            '[[budgets]]\nid = "x"\nmax_calls = "5"\n',
            "budget x: max_calls must be a whole number >= 0 (got '5')",
        ),
        (
            '[[budgets]]\nid = "x"\nmax_calls = 1.5\n',
            "budget x: max_calls must be a whole number >= 0 (got 1.5)",
        ),
        (
            '[[budgets]]\nid = "x"\nmax_cost_usd = -1\n',
            "budget x: max_cost_usd must be a number >= 0 (got -1)",
        ),
        ('[[budgets]]\nid = "x"\nmax_calls = 1\nwindow = 5\n', "budgets[0]: unknown key(s) window"),
        ("[[budgets]]\nmax_calls = 1\n", "budgets[0]: id must be 1-64 letters"),
        (
            '[[budgets]]\nid = "x"\nmax_calls = 1\n[[budgets]]\nid = "x"\nmax_calls = 2\n',
            "budgets[1]: id 'x' is used twice",
        ),
        (
            '[[budgets]]\nid = "x"\ntools = []\nmax_calls = 1\n',
            "budget x: tools must be a non-empty list of name globs",
        ),
        ('[prices."m"]\ninput = 1\n', "prices.m: give input and output, USD per million tokens"),
        (
            '[[budgets]]\nid = "x"\neach_tool = true\nmax_tokens = 5\n',
            "budget x: each_tool counts tool calls, so",
        ),
        (
            '[[budgets]]\nid = "x"\neach_tool = "yes"\nmax_calls = 5\n',
            "budget x: each_tool must be true or false",
        ),
        ('[prices."m"]\ninput = 1\noutput = true\n', "prices.m: input and output must be numbers >= 0"),
    ],
)
def test_bad_budget_tables_fail_the_load_located(workspace, body: str, message: str) -> None:
    text = '[[rules]]\nid = "r"\ntools = ["*"]\neffect = "allow"\n' + body
    with pytest.raises(ConfigError) as err:
        parse_config(text, workspace / "tollhouse.toml")
    assert message in str(err.value)
    assert str(err.value).startswith(f"{workspace / 'tollhouse.toml'}:")
    assert err.value.line is not None
    assert not (workspace / ".tollhouse").exists()  # nothing was created


def test_a_good_budget_config_loads(workspace) -> None:
    path = write_config(workspace, '[[budgets]]\nid = "ok"\nper = "principal"\nmax_calls = 3\n')
    assert load_config(path).data["budgets"][0]["id"] == "ok"


async def test_replay_compares_what_policy_said_for_a_budget_denial(workspace) -> None:
    from tollhouse.gate.replay import load_recorded

    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "one"
        per = "session"
        max_calls = 1
    """)  # fmt: skip
    async with gate:
        await gate.call(Call("fx_echo", {"text": "a"}, session="s"))
        out = await gate.call(Call("fx_echo", {"text": "b"}, session="s"))
        assert out.decision.rules == ("budget.one",)
    recorded = load_recorded(gate.config.state_dir / "receipts.db")
    assert [(r.effect, r.rules) for r in recorded] == [("allow", ("read-all",))] * 2


async def test_a_reloaded_policy_brings_its_budgets(workspace) -> None:
    from tollhouse.gate.policy import Policy

    gate, _ = await open_gate(workspace, '[[budgets]]\nid = "b"\nper = "session"\nmax_calls = 1\n')
    async with gate:
        assert (await gate.call(Call("fx_noop", {}, session="s"))).status == "ok"
        assert (await gate.call(Call("fx_noop", {}, session="s"))).status == "denied"
        looser = make_config(workspace, '[[budgets]]\nid = "b"\nper = "session"\nmax_calls = 3\n')
        gate.policy = Policy.load(looser, gate.registry)  # what the policy watcher does
        outs = [await gate.call(Call("fx_noop", {}, session="s")) for _ in range(3)]
        assert [o.status for o in outs] == ["ok", "ok", "denied"]  # usage is kept per budget id
        gate.policy = Policy.load(make_config(workspace), gate.registry)  # no budgets: no limit
        assert (await gate.call(Call("fx_noop", {}, session="s"))).status == "ok"


async def test_each_tool_counts_every_tool_on_its_own(workspace) -> None:
    gate, _ = await open_gate(workspace, """
        [[budgets]]
        id = "two-each"
        tools = ["fx_*"]
        per = "session"
        each_tool = true
        max_calls = 2

        [[budgets]]
        id = "five-together"
        tools = ["fx_*"]
        per = "session"
        max_calls = 5
    """)  # fmt: skip
    async with gate:
        statuses = []
        for tool, args in [("fx_noop", {}), ("fx_echo", {"text": "a"})] * 3:
            statuses.append((await gate.call(Call(tool, args, session="s"))).status)
        assert statuses == ["ok", "ok", "ok", "ok", "denied", "denied"]
        out = await gate.call(Call("fx_leak", {}, session="s"))  # a third tool: its own two...
        assert out.status == "ok"
        out = await gate.call(Call("fx_leak", {}, session="s"))  # ...but the five together are spent
        assert out.status == "denied" and out.decision.rules == ("budget.five-together",)
        assert "(session:s)" in out.message
        noop = await gate.call(Call("fx_noop", {}, session="s"))
        assert noop.decision.rules == ("budget.two-each",) and "(session:s tool:fx_noop)" in noop.message


def test_budgets_command_shows_usage(workspace, monkeypatch, capsys) -> None:
    from tollhouse.cli import main

    body = '[[budgets]]\nid = "two"\nper = "session"\nmax_calls = 2\n'

    async def spend() -> None:
        gate, _ = await open_gate(workspace, body)
        async with gate:
            for _ in range(3):
                await gate.call(Call("fx_noop", {}, session="s9"))
            await gate.call(Call("fx_noop", {}, session="s8"))

    monkeypatch.chdir(workspace)
    make_config(workspace, body)
    assert main(["budgets"]) == 0
    assert "no usage recorded yet" in capsys.readouterr().out
    db = workspace / ".tollhouse" / "state.db"
    assert not db.exists()  # reading created nothing
    anyio.run(spend)
    before = db.stat().st_mtime_ns
    assert main(["budgets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budgets"] == [{"id": "two", "per": "session", "tools": ["*"], "principals": ["*"],
                                "each_tool": False, "max_calls": 2}]  # fmt: skip
    by_scope = {u["scope"]: u for u in data["usage"]}
    assert by_scope["session:s9"]["calls"] == 2 and by_scope["session:s9"]["reached"] == "max_calls"
    assert by_scope["session:s8"]["calls"] == 1 and by_scope["session:s8"]["reached"] is None
    assert main(["budgets"]) == 0
    out = capsys.readouterr().out
    assert "two: per session, tools *: max_calls 2" in out
    assert any(
        line.split()[:3] == ["two", "session:s9", "2"] and line.endswith("max_calls")
        for line in out.splitlines()
    )
    assert db.stat().st_mtime_ns == before  # read-only
