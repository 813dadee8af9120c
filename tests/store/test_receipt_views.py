"""`receipts tail`, `show` and `report` read the store the config names: on PostgreSQL, this
server's log by default (the log of this workspace's signing key), another with --log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import CALLS
from tests.conftest import write_config

OUTCOMES = ["ok", "denied", "ok", "error", "pending", "needs_approval", "event"]


async def _append(state_dir: Path, url: str | None, calls: list[tuple[Any, ...]] = CALLS) -> None:
    from tollhouse.gate.redact import Redactor
    from tollhouse.receipts import ReceiptStore, make_entry

    store = await ReceiptStore.open(state_dir, redactor=Redactor(), checkpoint_every=1000, url=url)
    for call_id, tool, decision, outcome, approver, case, arguments, message in calls:
        common = {"tool": tool, "channel": "mcp", "session": "s1", "case_id": case, "arguments": arguments}
        await store.append(make_entry("intent", call_id, decision=decision, rules=["r1"], **common))
        if outcome is not None:
            await store.append(
                make_entry(
                    "outcome", call_id, decision=decision, outcome=outcome, approver=approver,
                    message=message, duration_us=1500, **common,
                )
            )  # fmt: skip
    await store.append(make_entry("event", None, message="policy reloaded"))
    await store.close()


@pytest.fixture
def history(workspace: Path, backend: str | None) -> Path:
    body = '[[rules]]\nid = "read"\ntools = ["files_read"]\neffect = "allow"\n'
    if backend is not None:
        body = f'[store]\nurl = "{backend}"\n\n' + body
    write_config(workspace, body)
    asyncio.run(_append(workspace / ".tollhouse", backend))
    return workspace


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    from tollhouse.cli import main

    monkeypatch.delenv("TOLLHOUSE_CONFIG", raising=False)
    monkeypatch.delenv("TOLLHOUSE_STORE_URL", raising=False)

    def run(cwd: Path, *args: str) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_tail_show_and_report_read_the_configured_store(history: Path, cli: Any, backend: str | None) -> None:
    if backend is not None:  # nothing on SQLite: the views cannot fall back to an empty file
        assert not (history / ".tollhouse" / "receipts.db").exists()
    code, out, err = cli(history, "receipts", "tail", "--json")
    assert code == 0, err
    calls = json.loads(out)
    assert [c["outcome"] for c in calls] == OUTCOMES
    assert [c["seqs"] for c in calls][:2] == [[1, 2], [3, 4]]
    code, out, _ = cli(history, "receipts", "tail", "--json", "--outcome", "pending")
    assert [c["call_id"][:4] for c in json.loads(out)] == ["e1e1"]
    code, out, _ = cli(history, "receipts", "tail", "--json", "--case", "case-7", "--since", "1h")
    assert [c["call_id"][:4] for c in json.loads(out)] == ["ab34", "c0ff"]
    code, out, _ = cli(history, "receipts", "tail", "--receipts", "--json", "-n", "3")
    assert [e["seq"] for e in json.loads(out)] == [10, 11, 12]
    code, out, err = cli(history, "receipts", "show", "c0ffee", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["call_id"] == CALLS[2][0] and [e["kind"] for e in shown["entries"]] == ["intent", "outcome"]
    assert cli(history, "receipts", "show", "3", "--json")[1] and json.loads(
        cli(history, "receipts", "show", "3", "--json")[1]
    )["call_id"].startswith("ab34")
    code, _, err = cli(history, "receipts", "show", "zzzz")
    assert code == 2 and "no receipt" in err
    page = history / "report.html"
    code, _, err = cli(history, "receipts", "report", "--out", str(page))
    assert code == 0, err
    assert "files_delete" in page.read_text(encoding="utf-8")


def test_log_names_another_servers_log_on_postgresql(workspace: Path, pg_url: str, cli: Any) -> None:
    from tollhouse.receipts.signing import load_or_create_signer

    write_config(workspace, f'[store]\nurl = "{pg_url}"\n')
    asyncio.run(_append(workspace / ".tollhouse", pg_url))
    other = workspace.parent / "other" / ".tollhouse"  # another replica: its own key, its own log
    asyncio.run(_append(other, pg_url, CALLS[:1]))
    other_log = load_or_create_signer(other, create=False).key_id
    code, out, err = cli(workspace, "receipts", "tail", "--json", "--log", other_log)
    assert code == 0, err
    assert [c["outcome"] for c in json.loads(out)] == ["ok", "event"]
    code, out, _ = cli(workspace, "receipts", "tail", "--json")  # default: this workspace's own log
    assert len(json.loads(out)) == len(OUTCOMES)
    code, _, err = cli(workspace, "receipts", "show", "ab12", "--log", "0123456789abcdef")
    assert code != 0 and "no log 0123456789abcdef" in err and "store status" in err
    code, out, err = cli(workspace, "receipts", "show", "ab12", "--json", "--log", other_log)
    assert code == 0, err


def test_log_on_sqlite_is_refused_with_the_reason(workspace: Path, cli: Any) -> None:
    write_config(workspace, "")
    asyncio.run(_append(workspace / ".tollhouse", None, CALLS[:1]))
    code, _, err = cli(workspace, "receipts", "tail", "--log", "0123456789abcdef")
    assert code != 0 and "PostgreSQL" in err


def test_case_file_lists_the_calls_of_the_configured_store(history: Path, cli: Any) -> None:
    """The receipt half of a case file (its calls, the approvals still pending) comes from the
    store the config names, as its notes and handoffs do."""
    code, _, err = cli(history, "cases", "open", "Seven", "--id", "case-7")
    assert code == 0, err
    code, out, err = cli(history, "cases", "show", "case-7", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["call_id"][:4] for r in data["recent_calls"]] == ["c0ff", "ab34"]
    assert data["receipts_summary"]["calls"] == 2
    code, _, err = cli(history, "cases", "open", "Other", "--id", "case-8")
    code, out, err = cli(history, "cases", "show", "case-8", "--json")
    assert json.loads(out)["recent_calls"] == []


def test_case_file_shows_an_approval_asked_on_postgresql(workspace: Path, pg_url: str, cli: Any) -> None:
    write_config(workspace, f'[store]\nurl = "{pg_url}"\n')
    asked = [("a5a5", "files_delete", "ask", "needs_approval", None, "case-9", {"path": "x"}, "ask a person")]
    code, _, err = cli(workspace, "cases", "open", "Nine", "--id", "case-9")
    assert code == 0, err
    asyncio.run(_append(workspace / ".tollhouse", pg_url, asked))
    code, out, err = cli(workspace, "cases", "show", "case-9", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [r["tool"] for r in data["pending_approvals"]] == ["files_delete"]
    assert not (workspace / ".tollhouse" / "receipts.db").exists()


def test_interrupted_handoffs_read_this_servers_log(workspace: Path, backend: str | None) -> None:
    from tollhouse.gate.redact import Redactor
    from tollhouse.receipts import ReceiptStore, make_entry
    from tollhouse.state import cases
    from tollhouse.state.db import StateDB

    async def run() -> list[Any]:
        state_dir = workspace / ".tollhouse"
        state = await StateDB.open(state_dir / "state.db", redactor=Redactor(), url=backend)
        store = await ReceiptStore.open(state_dir, redactor=Redactor(), url=backend)
        try:
            await cases.open_case(state, title="Seven", author="t", case_id="case-7")
            common = {"tool": "files_read", "channel": "mcp", "session": "s1", "case_id": "case-7"}
            await store.append(make_entry("intent", "c1", decision="allow", **common))
            await store.append(make_entry("outcome", "c1", decision="allow", outcome="ok", **common))
            return await cases.write_interrupted_handoffs(state, store.source, session="s1")
        finally:
            await store.close()
            await state.close()

    written = asyncio.run(run())
    assert len(written) == 1 and written[0].receipts == [2] and "1 call(s)" in written[0].summary


def test_prove_writes_proofs_verify_proof_checks_offline(history: Path, cli: Any) -> None:
    from tollhouse.receipts.signing import public_key_path

    pub = public_key_path(history / ".tollhouse")
    proof = history / "r3.proof.json"
    code, _, err = cli(history, "receipts", "prove", "3", "--out", str(proof))
    assert code == 0, err
    code, out, err = cli(history, "receipts", "verify-proof", str(proof), "--public-key", str(pub), "--json")
    assert code == 0 and json.loads(out)["ok"], (out, err)
    note = history / "now.checkpoint"
    code, _, err = cli(history, "receipts", "prove", "--checkpoint-only", "--out", str(note))
    assert code == 0 and note.read_text(encoding="utf-8"), err
    grew = history / "grew.proof.json"
    code, _, err = cli(history, "receipts", "prove", "--consistency", str(note), "--out", str(grew))
    assert code == 0, err
    code, out, err = cli(history, "receipts", "verify-proof", str(grew), "--public-key", str(pub), "--json")
    assert code == 0 and json.loads(out)["ok"], (out, err)
    # A proof of another entry in place of receipt 3 fails: it checks something.
    bad = json.loads(proof.read_text(encoding="utf-8"))
    bad["entry"]["tool"] = "shell_run"
    proof.write_text(json.dumps(bad), encoding="utf-8")
    code, out, _ = cli(history, "receipts", "verify-proof", str(proof), "--public-key", str(pub), "--json")
    assert code != 0 and not json.loads(out)["ok"]


def test_recent_receipts_resource_reads_this_servers_log(workspace: Path, backend: str | None) -> None:
    from types import SimpleNamespace

    from tollhouse.gate.redact import Redactor
    from tollhouse.receipts import ReceiptStore, make_entry
    from tollhouse.server import builtin_resources

    async def run() -> tuple[Any, Any]:
        store = await ReceiptStore.open(workspace / ".tollhouse", redactor=Redactor(), url=backend)
        try:
            await store.append(make_entry("event", None, message="policy reloaded"))
            services = SimpleNamespace(
                receipts=store, config=SimpleNamespace(state_dir=workspace / ".tollhouse")
            )
            req = SimpleNamespace(gate=SimpleNamespace(services=services), params={"id": "1"}, uri="x")
            return await builtin_resources.read_recent(req), await builtin_resources.read_one(req)
        finally:
            await store.close()

    recent, one = asyncio.run(run())
    assert [r["message"] for r in recent["receipts"]] == ["policy reloaded"]
    assert one["seq"] == 1 and one["kind"] == "event"


def test_case_file_before_any_call_on_postgresql(workspace: Path, pg_url: str, cli: Any) -> None:
    write_config(workspace, f'[store]\nurl = "{pg_url}"\n')
    code, _, err = cli(workspace, "cases", "open", "Nine", "--id", "case-9")
    assert code == 0, err
    code, out, err = cli(workspace, "cases", "show", "case-9", "--json")  # no key, no log yet
    assert code == 0, err
    assert json.loads(out)["recent_calls"] == []
    other = workspace.parent / "other" / ".tollhouse"  # another server's log exists, ours does not
    asyncio.run(_append(other, pg_url, CALLS[:1]))
    from tollhouse.receipts.signing import load_or_create_signer

    load_or_create_signer(workspace / ".tollhouse")
    code, out, err = cli(workspace, "cases", "show", "case-9", "--json")
    assert code == 0, err
    assert json.loads(out)["recent_calls"] == []
    code, out, err = cli(workspace, "receipts", "tail", "--json")
    assert code == 0 and json.loads(out) == [], err
