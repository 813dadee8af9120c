"""Every decision path through the real gate: real policy, real SQLite receipts, real files."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import anyio
import pytest

from tests.conftest import receipt_rows
from tests.gate.conftest import make_config
from tests.gate.fixture_tools import CANARY
from tollhouse.config import Limits
from tollhouse.gate.gate import Gate
from tollhouse.gate.grants import add_grant
from tollhouse.gate.types import ApprovalAnswer, ApprovalRequest, Call
from tollhouse.state.db import open_sync

pytestmark = pytest.mark.anyio


def rows(config) -> list[dict]:
    return receipt_rows(config.state_dir)


def of_call(config, call_id: str) -> list[dict]:
    return [r for r in rows(config) if r["call_id"] == call_id]


async def test_allowed_read_only_call_leaves_one_entry_with_everything(config) -> None:
    """Receipts v2: a read-only tool changes nothing, so one entry (durable before the response)."""
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_echo", {"text": "hi", "times": 2}, channel="cli"))
    assert out.status == "ok" and out.result == {"text": "hihi"}
    assert out.decision is not None and out.decision.rules == ("read-all",)
    entries = of_call(config, out.call_id)
    assert [e["kind"] for e in entries] == ["outcome"]
    assert [e["seq"] for e in entries] == out.receipts
    outcome = entries[0]
    assert outcome["outcome"] == "ok" and outcome["decision"] == "allow"
    assert json.loads(outcome["rules"]) == ["read-all"]
    assert json.loads(outcome["arguments"]) == {"text": "hi", "times": 2}
    assert outcome["channel"] == "cli" and outcome["operator"].startswith("local:")
    assert outcome["policy_hash"] == gate.policy.sha256 and len(outcome["result_digest"]) == 64


async def test_a_call_that_can_change_something_stores_its_arguments_once(config) -> None:
    """The intent (durable before the tool runs) holds the arguments; the outcome refers to it."""
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "notes/a.txt", "content": "hello"}))
    assert out.status == "ok", out.message
    intent, outcome = of_call(config, out.call_id)
    assert (intent["kind"], outcome["kind"]) == ("intent", "outcome")
    assert json.loads(intent["arguments"]) == {"path": "notes/a.txt", "content": "hello"}
    assert outcome["arguments"] is None
    assert outcome["args_digest"] == intent["args_digest"] and len(intent["args_digest"]) == 64


async def test_a_long_value_is_kept_as_its_digest_and_a_redacted_head(workspace) -> None:
    import hashlib

    config = make_config(workspace, "[receipts]\nmax_value_bytes = 1024\n")
    content = "token ghp_" + "Z" * 36 + " then " + "lorem ipsum " * 300
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "notes/big.txt", "content": content}))
    assert out.status == "ok", out.message
    intent, outcome = of_call(config, out.call_id)
    assert outcome["arguments"] is None  # stored once, in the intent
    kept = json.loads(intent["arguments"])["content"]
    assert kept["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    assert kept["bytes"] == len(content.encode())
    assert kept["head"].startswith("token [REDACTED:github-token] then lorem ipsum")
    assert len(kept["head"]) == 256
    raw = b"".join(p.read_bytes() for p in config.state_dir.glob("receipts.db*"))
    assert b"lorem ipsum " * 30 not in raw and b"ghp_" + b"Z" * 36 not in raw
    assert (config.root / "notes/big.txt").read_text() == content  # the tool got it whole


async def test_no_rule_means_deny_and_the_tool_never_runs(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "elsewhere.txt", "content": "x"}))
    assert out.status == "denied" and out.decision.rules == ("default-deny",)
    assert not (config.root / "elsewhere.txt").exists()
    assert [e["kind"] for e in of_call(config, out.call_id)] == ["outcome"]


async def test_deny_wins_over_allow_and_names_the_rule(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "notes/secret.txt", "content": "x"}))
    assert out.status == "denied"
    assert "no-secret-notes" in out.decision.rules and "no-secret-notes" in out.message
    assert not (config.root / "notes/secret.txt").exists()


@pytest.mark.parametrize(
    ("path", "rule"),
    [("tollhouse.toml", "workspace.immutable"), (".tollhouse/keys/x", "workspace.state"),
     ("src/.git/config", "workspace.immutable"), ("a/b/.gitmodules", "workspace.immutable"),
     ("../outside.txt", "workspace.roots"), ("/etc/passwd", "workspace.roots")],
)  # fmt: skip
async def test_builtin_denials_hold_whatever_the_rules_say(workspace: Path, path: str, rule: str) -> None:
    config = make_config(workspace, '[[rules]]\nid = "anything"\ntools = ["fx_note"]\neffect = "allow"\n')
    before = (workspace / "tollhouse.toml").read_text()
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": path, "content": "pwned"}))
    assert out.status == "denied" and rule in out.decision.rules
    assert (workspace / "tollhouse.toml").read_text() == before
    assert not (workspace.parent / "outside.txt").exists()


async def test_ask_without_approver_needs_approval_and_says_how_to_grant(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "drafts/a.md", "content": "x"}))
    assert out.status == "needs_approval" and out.decision.rules == ("notes-ask",)
    assert "tollhouse grant fx_note" in out.message
    assert not (config.root / "drafts/a.md").exists()


class Recorder:
    def __init__(self, answer: bool | None) -> None:
        self.answer = answer
        self.requests: list[ApprovalRequest] = []

    async def __call__(self, request: ApprovalRequest) -> ApprovalAnswer | None:
        self.requests.append(request)
        return None if self.answer is None else ApprovalAnswer(self.answer, "test:person")


async def test_ask_approved_runs_and_records_the_approver(config) -> None:
    approver = Recorder(True)
    async with await Gate.open(config) as gate:
        out = await gate.call(
            Call("fx_note", {"path": "drafts/a.md", "content": f"key {CANARY}"}, approver=approver)
        )
    assert out.status == "ok" and out.approver == "test:person"
    assert (config.root / "drafts/a.md").read_text() == f"key {CANARY}"
    (request,) = approver.requests
    assert request.tool == "fx_note" and request.rules == ("notes-ask",)
    assert len(request.args_digest) == 64 and request.policy_hash == gate.policy.sha256
    assert [e["approver"] for e in of_call(config, out.call_id)] == ["test:person", "test:person"]


async def test_ask_declined_is_denied_and_nothing_runs(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "drafts/b.md"}, approver=Recorder(False)))
    assert out.status == "denied" and "declined by test:person" in out.message
    assert not (config.root / "drafts/b.md").exists()


async def test_approver_that_cannot_ask_means_needs_approval(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_note", {"path": "drafts/c.md"}, approver=Recorder(None)))
    assert out.status == "needs_approval"


async def test_grant_covers_an_ask_and_its_uses_run_out(config) -> None:
    conn = open_sync(config.state_dir / "state.db")
    grant = add_grant(conn, tool="fx_note", args_match={"path": "drafts/*"}, uses=1, created_by="t")
    conn.close()
    async with await Gate.open(config) as gate:
        first = await gate.call(Call("fx_note", {"path": "drafts/d.md"}))
        second = await gate.call(Call("fx_note", {"path": "drafts/e.md"}))
        other = await gate.call(Call("fx_note", {"path": "notes/secret-x"}))
    assert first.status == "ok" and first.approver == f"grant:{grant.id}"
    assert second.status == "needs_approval"
    assert other.status == "denied"  # a grant never overrides a deny


async def test_exact_grant_binds_to_the_arguments(config) -> None:
    import hashlib

    import rfc8785

    digest = hashlib.sha256(rfc8785.dumps({"path": "drafts/f.md", "content": "A"})).hexdigest()
    conn = open_sync(config.state_dir / "state.db")
    add_grant(conn, tool="fx_note", args_digest=digest, created_by="t")
    conn.close()
    async with await Gate.open(config) as gate:
        same = await gate.call(Call("fx_note", {"path": "drafts/f.md", "content": "A"}))
        changed = await gate.call(Call("fx_note", {"path": "drafts/f.md", "content": "B"}))
    assert same.status == "ok" and changed.status == "needs_approval"


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("fx_echo", {"times": 2}, "text: Field required"),
        ("fx_echo", {"text": "a", "times": 99}, "times: Input should be less than or equal to 10"),
        ("fx_echo", "{not json", "arguments are not valid JSON"),
        ("fx_echo", ["a"], "arguments are not a JSON object"),
        ("fx_echo", {"text": "x" * 5000}, "over the limit of 4096"),
        ("no_such_tool", {}, "unknown tool 'no_such_tool'"),
    ],
)
async def test_invalid_calls_are_errors_with_a_receipt_and_never_run(config, tool, arguments, needle) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call(tool, arguments))
    assert out.status == "error" and needle in out.message
    entries = of_call(config, out.call_id)
    assert [(e["kind"], e["outcome"]) for e in entries] == [("outcome", "error")]


async def test_tool_errors_and_crashes(config) -> None:
    async with await Gate.open(config) as gate:
        failed = await gate.call(Call("fx_fail", {"text": "zz"}))
        crashed = await gate.call(Call("fx_crash", {}))
        guarded = await gate.call(Call("fx_guarded", {}))
    assert failed.status == "error" and failed.message == "cannot do that with zz"
    assert crashed.status == "error" and "internal error in fx_crash" in crashed.message
    assert CANARY not in crashed.message
    assert guarded.status == "denied" and guarded.decision.rules == ("fixture.guard",)
    assert json.loads(of_call(config, guarded.call_id)[-1]["rules"]) == ["fixture.guard"]


async def test_result_over_the_limit_is_an_error(config) -> None:
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_big", {"seconds": 200000}))
    assert out.status == "error" and "max_result_bytes" in out.message and out.result is None


async def test_timeout_stops_the_tool(workspace: Path) -> None:
    config = dataclasses.replace(make_config(workspace), limits=Limits(timeout_s=0.3))
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_sleep", {"seconds": 5}))
    assert out.status == "timeout" and "0.3 s" in out.message
    assert not (workspace / "sleep-finished").exists()
    assert of_call(config, out.call_id)[-1]["outcome"] == "timeout"


async def test_cancellation_writes_a_cancelled_receipt(config) -> None:
    call = Call("fx_sleep", {"seconds": 5})
    async with await Gate.open(config) as gate:
        with anyio.move_on_after(0.3):
            await gate.call(call)
    assert [e["outcome"] for e in of_call(config, call.call_id)] == [None, "cancelled"]
    assert not (config.root / "sleep-finished").exists()


async def test_progress_reaches_the_face(config) -> None:
    seen = []

    async def progress(done, total, message):
        seen.append((done, total, message))

    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_sleep", {"seconds": 0.01}, progress=progress))
    assert out.ok and seen == [(0, 0.01, "sleeping")]


async def test_progress_messages_are_redacted_for_every_tool(config) -> None:
    seen = []

    async def progress(done, total, message):
        seen.append(message)

    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_sleep", {"seconds": 0.02}, progress=progress))
    assert out.ok and seen == ["sleeping", "found token=[REDACTED:password] in the log"]
    assert CANARY not in repr(seen)


async def test_planted_secrets_never_reach_receipts_or_results(workspace: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOLLHOUSE_TEST_CANARY", "envsecret-8f3k2j1h")
    config = make_config(workspace)
    async with await Gate.open(config) as gate:
        leak = await gate.call(Call("fx_leak", {}))
        echo = await gate.call(Call("fx_echo", {"text": "password=envsecret-8f3k2j1h"}))
        ghp = await gate.call(Call("fx_echo", {"text": "ghp_" + "a" * 36}))
        await gate.call(Call("fx_note", {"path": "drafts/x", "content": "envsecret-8f3k2j1h"}))
    assert "envsecret" not in json.dumps(leak.result) and CANARY not in json.dumps(leak.result)
    assert "envsecret" not in json.dumps(echo.result) and "a" * 36 not in json.dumps(ghp.result)
    from tollhouse.receipts import export_bundle

    bundle = workspace / "bundle.jsonl"
    export_bundle(config.state_dir / "receipts.db", bundle)
    assert b"[REDACTED:" in bundle.read_bytes()  # the export holds the calls, redacted
    for path in (config.state_dir / "receipts.db", config.state_dir / "receipts.db-wal", bundle):
        if path.exists():
            raw = path.read_bytes()
            assert b"envsecret-8f3k2j1h" not in raw and b"a" * 36 not in raw, path.name


async def test_many_concurrent_calls_keep_one_chain(config) -> None:
    from tollhouse.receipts import verify_db

    async with await Gate.open(config) as gate:
        outs = []

        async def one(i: int) -> None:
            outs.append(await gate.call(Call("fx_echo", {"text": str(i)})))

        async with anyio.create_task_group() as tg:
            for i in range(64):
                tg.start_soon(one, i)
    assert len(outs) == 64 and all(o.ok for o in outs)
    result = verify_db(config.state_dir / "receipts.db")
    assert result.ok and result.count == 64  # read-only calls: one entry each


async def test_a_closed_store_runs_nothing(config) -> None:
    gate = await Gate.open(config)
    await gate.services.receipts.close()
    out = await gate.call(Call("fx_note", {"path": "notes/n.md", "content": "x"}))
    await gate.services.state.close()
    assert out.status == "error" and "nothing was run" in out.message
    assert not (config.root / "notes/n.md").exists()


async def test_unusable_state_dir_refuses_to_open(workspace: Path) -> None:
    from tollhouse.receipts import ReceiptStoreError

    config = make_config(workspace)
    config.state_dir.parent.mkdir(parents=True, exist_ok=True)
    config.state_dir.write_text("a file where the state directory should be")
    with pytest.raises(ReceiptStoreError):
        await Gate.open(config)


async def test_bad_policy_refuses_to_open(workspace: Path) -> None:
    from tollhouse.config import ConfigError

    config = make_config(workspace, '[[rules]]\nid = "x"\ntools = ["fx_noop"]\neffect = "maybe"\n')
    with pytest.raises(ConfigError, match="x"):
        await Gate.open(config)
    assert not os.path.exists(config.state_dir / "receipts.db")


async def test_every_outcome_status_leaves_its_receipt(workspace: Path) -> None:
    config = dataclasses.replace(
        make_config(workspace), limits=Limits(timeout_s=0.3, max_argument_bytes=4096)
    )
    cancelled = Call("fx_sleep", {"seconds": 5})
    async with await Gate.open(config) as gate:
        outs = [
            await gate.call(Call("fx_echo", {"text": "x"})),
            await gate.call(Call("fx_fail", {"text": "x"})),
            await gate.call(Call("fx_echo", {"times": 1})),
            await gate.call(Call("fx_note", {"path": "nowhere.md"})),
            await gate.call(Call("fx_note", {"path": "drafts/x.md"})),
            await gate.call(Call("fx_sleep", {"seconds": 5})),
        ]
        with anyio.move_on_after(0.1):
            await gate.call(cancelled)
    statuses = [o.status for o in outs]
    assert statuses == ["ok", "error", "error", "denied", "needs_approval", "timeout"]
    for out in outs:
        closing = of_call(config, out.call_id)[-1]
        assert closing["kind"] == "outcome" and closing["outcome"] == out.status
        assert closing["seq"] == out.receipts[-1]
    assert of_call(config, cancelled.call_id)[-1]["outcome"] == "cancelled"


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("fx_echo", {"text": "bad\udcff"}, "not valid Unicode"),
        ("fx_echo", {"bad\udcffkey": "x"}, "not valid Unicode"),
        ("fx\udcff", {}, "unknown tool 'fx\\\\udcff'"),
    ],
)
async def test_unpaired_surrogates_are_clear_errors_with_a_receipt(config, tool, arguments, needle) -> None:
    from tollhouse.receipts import verify_db

    async with await Gate.open(config) as gate:
        out = await gate.call(Call(tool, arguments, session="s\udcff"))
    assert out.status == "error" and needle in out.message, out.message
    (entry,) = of_call(config, out.call_id)
    assert entry["outcome"] == "error" and entry["session"] == "s\\udcff"
    assert verify_db(config.state_dir / "receipts.db").ok


async def test_bad_credentials_config_refuses_to_open_before_anything_is_opened(workspace: Path) -> None:
    from tollhouse.config import ConfigError

    config = make_config(workspace, '[credentials."github:default"]\nsource = "nonsense:X"\n')
    with pytest.raises(ConfigError):
        await Gate.open(config)
    assert not (config.state_dir / "receipts.db").exists()


async def test_an_excerpt_is_redacted_before_it_is_cut(config) -> None:
    # The excerpt limit (2,048 bytes) falls inside the token: cut first, a prefix too short for any
    # detector would be left in the receipt.
    token = "ghp_" + "A" * 36
    text = "x" * (2048 - len("cannot do that with ") - 10) + " " + token
    async with await Gate.open(config) as gate:
        out = await gate.call(Call("fx_fail", {"text": text}))
    assert out.status == "error" and token not in out.message
    outcome = of_call(config, out.call_id)[-1]
    assert "ghp_" not in outcome["excerpt"] and "ghp_" not in outcome["message"]
    assert "[REDACTED:github-token]" in outcome["message"]


async def test_closing_runs_every_closer_even_after_one_fails(config, caplog) -> None:
    ran: list[str] = []

    async def good() -> None:
        ran.append("good")

    async def bad() -> None:
        ran.append("bad")
        raise OSError("the pool's socket is already gone")

    gate = await Gate.open(config)
    gate.services.on_close(good)
    gate.services.on_close(bad)
    await gate.close()
    assert ran == ["bad", "good"]  # last registered runs first; the failure stopped nothing
    assert "closing a shared tool resource failed" in caplog.text
    out = await gate.call(Call("fx_note", {"path": "notes/n.md", "content": "x"}))
    assert out.status == "error" and "nothing was run" in out.message  # the store closed as well
    assert not (config.root / "notes/n.md").exists()


async def test_log_records_and_tracebacks_are_redacted(workspace: Path, monkeypatch, tmp_path: Path) -> None:
    """A tool's exception text lands in the server log (stderr) through log.exception: redacted."""
    import logging

    from tests.secrets import assert_no_secret

    monkeypatch.setenv("TOLLHOUSE_TEST_CANARY", CANARY)
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    try:
        async with await Gate.open(make_config(workspace)) as gate:
            crashed = await gate.call(Call("fx_crash", {}))
            logging.getLogger("tollhouse.test").warning("odd value %s", CANARY)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert crashed.status == "error"
    text = log_file.read_text()
    assert "RuntimeError: internal detail [REDACTED:secret]" in text and "odd value [REDACTED:secret]" in text
    assert_no_secret(log_file, CANARY)
