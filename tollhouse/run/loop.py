"""The agent loop of ``tollhouse run``: ask the model, run its tool calls through the gate, repeat.

Each model request is receipted through the gate (``Gate.record_model_turn``) in the same chain as
the tool calls it led to; each tool call carries the provider's call id and response id. A run
ends in one of five ways, and with ``--case`` each leaves a handoff on the case:

- ``done``: the model answered without asking for a tool (handoff ``done``);
- ``failed``: a request failed for good, after its retries (handoff ``failed``);
- ``budget``: a tool call was denied because a budget is spent, or the gate raised ``BudgetSpent``
  when it receipted a model turn (handoff ``blocked``);
- ``max_turns``: ``run.max_turns`` requests were made (handoff ``progress``);
- ``cancelled``: the operator pressed Ctrl-C (a ``cancelled`` receipt, handoff ``interrupted``).
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import anyio

from tollhouse.gate.model_turns import BudgetSpent, ModelTurn
from tollhouse.gate.types import Outcome, new_call_id
from tollhouse.run.provider import Failure, Provider, Reply
from tollhouse.run.settings import RunSettings

RunStatus = Literal["done", "failed", "budget", "max_turns", "cancelled"]
HANDOFF_KIND = {
    "done": "done",
    "failed": "failed",
    "budget": "blocked",
    "max_turns": "progress",
    "cancelled": "interrupted",
}
CLIENT = "tollhouse-run"


class ModelFailure(Exception):
    def __init__(self, failure: Failure, attempts: int) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.attempts = attempts


@dataclass
class RunResult:
    run_id: str
    status: RunStatus
    summary: str
    turns: int = 0
    tool_calls: int = 0
    receipts: list[int] = field(default_factory=list)
    handoff_id: int | None = None
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Recording:
    """The gate as the adapters' dispatch sees it, keeping each Outcome for the loop to read."""

    def __init__(self, gate: Any) -> None:
        self._gate = gate
        self.outcomes: list[Outcome] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gate, name)

    async def call(self, call: Any) -> Outcome:
        outcome = await self._gate.call(call)
        self.outcomes.append(outcome)
        return outcome


def budget_denial(outcome: Outcome) -> str | None:
    """The reason, when ``outcome`` is a denial because a budget is spent (the gate's budget checks
    deny with a reason or rule that names the budget)."""
    if outcome.status != "denied":
        return None
    rules = outcome.decision.rules if outcome.decision is not None else ()
    text = outcome.message or ""
    if "budget" in text.lower() or any("budget" in r for r in rules):
        return text or ", ".join(rules)
    return None


class Runner:
    def __init__(
        self,
        gate: Any,
        provider: Provider,
        settings: RunSettings,
        *,
        case: str | None = None,
        approver: Any = None,
        out: TextIO | None = None,
        log: TextIO | None = None,
        retry_base_s: float = 0.5,
        operator: str | None = None,
    ) -> None:
        self.gate = gate
        self.provider = provider
        self.settings = settings
        self.case = case
        self.approver = approver
        self.out = out or sys.stdout
        self.log = log or sys.stderr
        self.retry_base_s = retry_base_s
        self.operator = operator
        self.result = RunResult(run_id=new_call_id(), status="failed", summary="")
        self._lines: list[str] = []
        self._pending = ""
        self._emitted = False
        self._cancel_receipted = False

    # -- output --------------------------------------------------------------------------------

    def _text(self, piece: str) -> None:
        """Model text goes out line by line, through the gate's redactor: a secret the model
        repeats (one line, like every credential value) is masked even when it streamed in pieces."""
        self._emitted = True
        self._pending += piece
        if "\n" in self._pending:
            ready, _, self._pending = self._pending.rpartition("\n")
            self._write(ready + "\n")

    def _flush_text(self) -> None:
        if self._pending:
            ready, self._pending = self._pending, ""
            self._write(ready)

    def _write(self, text: str) -> None:
        self.out.write(self.gate.services.redactor.redact_text(text))
        self.out.flush()

    def _note(self, line: str) -> None:
        line = self.gate.services.redactor.redact_text(line)  # a provider's error may quote a key
        self._lines.append(line)
        self.log.write(f"[tollhouse] {line}\n")
        self.log.flush()

    # -- one model request ---------------------------------------------------------------------

    def _turn(self, digest: str, **fields: Any) -> ModelTurn:
        s = self.settings
        return ModelTurn(
            provider=s.provider, model=s.model, channel=self.provider.channel, request_digest=digest,
            credential=s.credential, client=CLIENT, session=self.result.run_id, case=self.case,
            operator=self.operator, **fields,
        )  # fmt: skip

    async def _receipt(self, turn: ModelTurn) -> None:
        with anyio.CancelScope(shield=True):  # a receipt is written even while the run is cancelled
            try:
                self.result.receipts.append(await self.gate.record_model_turn(turn))
            except BudgetSpent as exc:
                if exc.seq is not None:
                    self.result.receipts.append(exc.seq)
                raise

    async def request(self) -> Reply:
        """One model request with its retries; receipted whatever happens."""
        digest = self.provider.request_digest()
        retries: list[dict[str, Any]] = []
        started = time.perf_counter_ns()
        self._emitted = False
        attempt = 0
        try:
            while True:
                try:
                    reply = await self.provider.send(self._text)
                    break
                except Exception as exc:
                    failure = self.provider.failure(exc)
                    if failure is None:
                        failure = Failure(False, None, f"{type(exc).__name__}: {exc}")
                    wait = self._wait(failure, attempt)
                    if wait is None:
                        raise ModelFailure(failure, attempt + 1) from exc
                    retries.append(
                        {"status": failure.status, "wait_s": round(wait, 3), "error": failure.message[:300]}
                    )
                    self._note(f"{failure.message[:200]}; retrying in {wait:.1f} s")
                    attempt += 1
                    await anyio.sleep(wait)
        except ModelFailure as exc:
            await self._receipt(self._turn(
                digest, outcome="error", latency_us=_since(started), retries=retries,
                message=f"{exc.failure.message} (after {exc.attempts} attempt(s))",
            ))  # fmt: skip
            raise
        except anyio.get_cancelled_exc_class():
            self._cancel_receipted = True
            await self._receipt(self._turn(
                digest, outcome="cancelled", latency_us=_since(started), retries=retries,
                message="interrupted by the operator (Ctrl-C) while the model was answering",
            ))  # fmt: skip
            raise
        await self._receipt(self._turn(
            digest, latency_us=_since(started), retries=retries, usage=reply.usage,
            stop_reason=reply.stop_reason, response_id=reply.response_id, request_id=reply.request_id,
            tool_calls=[{"call_id": c.call_id, "name": c.name} for c in reply.calls],
            text=reply.text or None, result_digest=reply.digest(),
        ))  # fmt: skip
        return reply

    def _wait(self, failure: Failure, attempt: int) -> float | None:
        """Seconds before the next attempt, or None to give up."""
        if not failure.retryable or attempt >= self.settings.max_retries or self._emitted:
            return None  # text already shown is not shown twice: a stream cut midway is a failure
        if failure.retry_after_s is not None:
            if failure.retry_after_s > self.settings.max_retry_wait_s:
                return None  # waiting less than asked would only earn another 429
            return failure.retry_after_s
        backoff = self.retry_base_s * (2**attempt) * (0.75 + random.random() / 2)
        return min(backoff, self.settings.max_retry_wait_s)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, goal: str) -> RunResult:
        result = self.result
        if self.case is not None:
            from tollhouse.state import cases

            await cases.require_case(self.gate.services.state, self.case)  # before any model call
        # The model is shown what policy could allow, and a tool it was not shown is refused by name
        # (with a receipt), as for any serving face.
        self.gate.publish()
        self.provider.start(goal, self.gate)
        try:
            await self._loop(result)
        except ModelFailure as exc:
            result.status = "failed"
            result.summary = f"the model request failed: {exc.failure.message}"
        except BudgetSpent as exc:  # the gate counted a model turn over a budget
            result.status = "budget"
            result.summary = f"stopped: a budget is spent ({exc})"
        except anyio.get_cancelled_exc_class():
            self._flush_text()
            result.status = "cancelled"
            result.summary = f"interrupted by the operator after {result.turns} model turn(s)"
            with anyio.CancelScope(shield=True):
                if not self._cancel_receipted:  # stopped while tools ran: the run itself is receipted
                    await self._receipt(self._turn(
                        self.provider.request_digest(), outcome="cancelled",
                        message="interrupted by the operator (Ctrl-C) while tools ran; no further "
                        "model request was sent",
                    ))  # fmt: skip
                await self._handoff(result)
            raise
        await self._handoff(result)
        return result

    async def _loop(self, result: RunResult) -> None:
        s = self.settings
        for _ in range(s.max_turns):
            result.turns += 1
            reply = await self.request()
            self._flush_text()
            if reply.text:
                result.text = self.gate.services.redactor.redact_text(reply.text)
                self._write("\n")
            if not reply.calls:
                result.status = "done"
                result.summary = result.text.strip()[:2000] or "the model finished without a summary"
                return
            recorder = _Recording(self.gate)
            ids = {"provider": s.provider, "model": s.model}
            if reply.response_id:
                ids["response_id"] = reply.response_id
            await self.provider.dispatch(
                reply, recorder, client=CLIENT, session=result.run_id, case=self.case,
                approver=self.approver, provider_ids=ids, operator=self.operator,
            )  # fmt: skip
            for outcome in recorder.outcomes:
                result.tool_calls += 1
                result.receipts += outcome.receipts
                detail = f" ({outcome.message[:160]})" if outcome.message and not outcome.ok else ""
                self._note(f"{outcome.tool} -> {outcome.status}{detail}")
            spent = [r for r in map(budget_denial, recorder.outcomes) if r]
            if spent:
                result.status = "budget"
                result.summary = f"stopped: a budget is spent ({spent[0]})"
                return
        result.status = "max_turns"
        result.summary = (
            f"stopped after {s.max_turns} model turns (run.max_turns); the task may be unfinished"
        )

    async def _handoff(self, result: RunResult) -> None:
        result.summary = self.gate.services.redactor.redact_text(result.summary)  # shown and stored
        if self.case is None:
            return
        from tollhouse.state import cases

        kind = HANDOFF_KIND[result.status]
        s = self.settings
        summary = f"tollhouse run ({s.provider} {s.model}) {result.status}: {result.summary}"[
            : cases.SUMMARY_MAX
        ]
        blockers = [result.summary] if kind == "blocked" else []
        next_steps = []
        if result.status in ("max_turns", "cancelled", "failed"):
            next_steps = ["check the receipts of this run, then run again to continue"]
        handoff = await cases.write_handoff(
            self.gate.services.state, self.case, kind=kind, summary=summary,
            author=f"tollhouse-run:{s.provider}", done=self._lines[-cases.ITEMS_MAX :],
            next_steps=next_steps, blockers=blockers, session=result.run_id,
            receipts=result.receipts, last_receipt_seq=max(result.receipts) if result.receipts else None,
        )  # fmt: skip
        result.handoff_id = handoff.id


def _since(started: int) -> int:
    return (time.perf_counter_ns() - started) // 1000
