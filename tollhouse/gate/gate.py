"""The gate: the only code that runs a tool.

For each call, in order: validate -> decide -> approve -> intent receipt (durable) -> run (timeout,
cancellation) -> redact -> outcome receipt -> Outcome. Fail closed: a policy that does not load or a
receipt store that cannot be written means nothing runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from tollhouse.config import Config
from tollhouse.gate.arguments import public_json, validate_arguments
from tollhouse.gate.budgets import Budgets, BudgetStatus, Over
from tollhouse.gate.budgets_config import Budget
from tollhouse.gate.catalogue import Publish, ToolSpec, build_catalogue, hidden_tools
from tollhouse.gate.digest import canonical_json, sha256_hex
from tollhouse.gate.entries import make_entry
from tollhouse.gate.grant_match import GrantSubject, grant_hint, grant_subject
from tollhouse.gate.grants import use_matching_grant
from tollhouse.gate.model_turns import BudgetSpent, ModelTurn, model_turn_entry
from tollhouse.gate.policy import Policy
from tollhouse.gate.redact import Redactor, redact_logs
from tollhouse.gate.types import (
    ApprovalAnswer,
    ApprovalRequest,
    Call,
    Decision,
    Outcome,
    Status,
    new_call_id,
)
from tollhouse.identity import build_resolver
from tollhouse.principal import local_operator, principal_names
from tollhouse.principal_login import logged_in
from tollhouse.receipts import ReceiptStore, ReceiptStoreError
from tollhouse.receipts.compact import compact, longest_string
from tollhouse.receipts.process import current_identity as process_identity
from tollhouse.receipts.redaction import MemoRedactor
from tollhouse.state.db import StateDB
from tollhouse.store import open_receipts
from tollhouse.tools import registry_for
from tollhouse.tools.base import (
    PolicyDenied,
    Registry,
    Tool,
    ToolContext,
    ToolError,
    argument_names,
    unknown_arguments,
)
from tollhouse.tools.cases.session import apply_session_case

log = logging.getLogger("tollhouse.gate")

PROGRESS_MAX_CHARS = 500
"""A progress message is cut to this many characters after it was redacted."""


def default_operator() -> str:
    """The local user, ``local:user@host`` (the operator when nobody logged in; see principal.py)."""
    return local_operator()


class Services:
    """Shared resources a tool may reach through ``ctx.services``."""

    def __init__(self, config: Config, redactor: Redactor, receipts: ReceiptStore, state: StateDB) -> None:
        self.config = config
        self.workspace = config.workspace
        self.redactor = redactor
        self.receipts = receipts
        self.state = state
        self.credentials: Any = None
        self.shared: dict[str, Any] = {}
        """Resources tools keep across calls (a connection pool), by name; see ``on_close``."""
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the gate closes (last registered, first run)."""
        self._closers.append(closer)

    async def aclose(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                await closer()
            except Exception:  # one failing closer must not keep the others (or the receipts) open
                log.exception("closing a shared tool resource failed")


def _validation_message(tool: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    more = "" if exc.error_count() <= 10 else f" (and {exc.error_count() - 10} more)"
    return f"invalid arguments for {tool}: " + "; ".join(problems) + more


def _unknown_message(tool: Tool, unknown: list[str]) -> str:
    # repr() shows a hostile key's control characters escaped; long keys are cut.
    names = ", ".join(repr(n[:64]) for n in unknown[:10])
    if len(unknown) > 10:
        names += f" (and {len(unknown) - 10} more)"
    valid = ", ".join(sorted(argument_names(tool.input_model))) or "none (send {})"
    noun = "argument" if len(unknown) == 1 else "arguments"
    return f"invalid arguments for {tool.name}: unknown {noun} {names}; valid arguments: {valid}"


class Gate:
    def __init__(self, config: Config, registry: Registry, policy: Policy, services: Services) -> None:
        self.config = config
        self.registry = registry
        self.policy = policy
        self.services = services
        self.workspace = config.workspace
        self.operator = config.operator or default_operator()
        self.operator_groups: tuple[str, ...] = ()
        """Groups of the default operator (the subject of ``tollhouse login``)."""
        self._catalogue: list[ToolSpec] | None = None
        self._hidden: dict[str, str] = {}
        """Tools this gate refuses by name (``publish``): tool name -> why."""
        self._process = process_identity()
        self.observe: Callable[[str, str, int], None] | None = None
        """Told ("decision" | "tool", tool name, nanoseconds) after each policy decision and tool run
        (``serve --http`` metrics); it must not raise or block."""
        self.budgets = Budgets(
            config.state_dir / "state.db",
            process=self._process or "",
            url=getattr(services.receipts, "url", None),  # a PostgreSQL store: one count for all servers
        )
        """Budgets and rate limits of the policy in force (``[[budgets]]``); see budgets.py."""

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    async def open(cls, config: Config, registry: Registry | None = None) -> Gate:
        """Load policy, open the receipt store and state; raise (fail closed) if any is unusable."""
        registry = registry if registry is not None else registry_for(config)
        policy = Policy.load(config, registry)
        redactor = MemoRedactor.from_config(config)  # remembers its outputs: the store's pass is cheap
        redact_logs(redactor)  # log records (stderr included) hold no secret either
        credentials = build_resolver(config, redactor)  # a bad [credentials] table fails here, first
        credentials.register_known()  # env:/file: values are hidden from the first call on
        receipts = await open_receipts(config, redactor=redactor)  # SQLite, or [store] url
        try:
            await receipts.recover_interrupted()
            state = await StateDB.open(config.state_dir / "state.db", redactor=redactor, url=receipts.url)
        except BaseException:
            await receipts.close()
            raise
        services = Services(config, redactor, receipts, state)
        services.credentials = credentials
        gate = cls(config, registry, policy, services)
        login = await logged_in(config)
        if login is not None:  # `tollhouse login`: receipts name that subject, not the local user
            gate.operator, gate.operator_groups = login.name, login.groups
        await gate._record_ci_context()
        return gate

    async def _record_ci_context(self) -> None:
        """In CI, one event receipt ties this process (its ``process`` identity, on every call it
        receipts) to the run, commit, workflow and actor; outside CI nothing is written."""
        from tollhouse.receipts.process import ci_context

        ci = ci_context()
        if ci:
            call = Call(tool="tollhouse", arguments={})
            try:
                await self.record_event(call, "process", {"process": self._process, "ci": ci})
            except BaseException:
                await self.close()
                raise

    async def close(self) -> None:
        self.budgets.close()
        try:
            await self.services.aclose()
            await self.services.state.close()
        finally:
            await self.services.receipts.close()

    async def __aenter__(self) -> Gate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- catalogue -------------------------------------------------------------------------------

    def catalogue(self) -> list[ToolSpec]:
        if self._catalogue is None:
            self._catalogue = build_catalogue(self.registry)
        return list(self._catalogue)

    def publish(self, publish: Publish | None = None) -> list[ToolSpec]:
        """The catalogue a serving face lists: tools policy could allow, narrowed by ``publish``.

        From then on every other tool is refused by name, with a receipt, so a client that calls a
        tool it was never shown gets the same answer as one that reads the list."""
        self._hidden = hidden_tools(self.registry, self.policy.could_allow, publish or Publish())
        return [spec for spec in self.catalogue() if spec.name not in self._hidden]

    async def withheld(self) -> dict[str, str]:
        """Tools listed at start that are withheld now (an upstream tool whose definition changed
        since it was trusted), by name -> why. Their calls are refused by the tool itself."""
        out: dict[str, str] = {}
        for source in self.registry.withholders:
            out.update(await source(self.services))
        return out

    def could_allow(self, tool_name: str) -> bool:
        tool = self.registry.get(tool_name)
        return tool is not None and self.policy.could_allow(tool)

    def _principals(self, call: Call) -> frozenset[str]:
        """What policy ``principals`` see: the call's operator and groups, else the gate's own."""
        if call.operator is not None:
            return principal_names(call.operator, call.groups)
        return principal_names(self.operator, self.operator_groups)

    def _served_names(self, *, read_only: bool = False) -> str:
        """The tools a face could have listed: never one ``publish`` hides or no rule could allow
        (the export and every face's list leave those out too)."""
        names = [n for n in self.registry.names() if n not in self._hidden and self.could_allow(n)]
        if read_only:
            names = [n for n in names if (t := self.registry.get(n)) is not None and t.read_only]
        return ", ".join(names) or "none"

    # -- receipts --------------------------------------------------------------------------------

    def _entry(self, kind: str, call: Call, **fields: Any) -> dict[str, Any]:
        # The hash of the policy that decided this call, even if a reload swapped it in the meantime.
        decided = fields.get("decision")
        policy_hash = decided.policy_hash if isinstance(decided, Decision) else self.policy.sha256
        return make_entry(
            kind, call, operator=self.operator, operator_groups=self.operator_groups,
            policy_hash=policy_hash, process=self._process,
            redactor=self.services.redactor, **fields,
        )  # fmt: skip

    def _excerpt(self, text: str, *, redacted: bool = False) -> str:
        """The head of ``text`` for a receipt, redacted *before* it is cut: a cut first could split
        a secret past recognition and leave its prefix in the receipt."""
        if not redacted:
            text = self.services.redactor.redact_text(text)
        limit = self.config.receipts.excerpt_bytes
        raw = text.encode("utf-8")
        if len(raw) <= limit:
            return text
        return raw[:limit].decode("utf-8", "ignore") + f"… [{len(raw)} bytes]"

    async def record_event(self, call: Call, kind: str, details: dict[str, Any]) -> int:
        """A receipt for something that is not a tool run (a resource read, a grant created)."""
        receipt = await self.services.receipts.append(
            self._entry("event", call, details={"event": kind, **details}, outcome="ok")
        )
        return int(receipt.seq)

    async def record_model_turn(self, turn: ModelTurn) -> int:
        """The receipt of one model request (``tollhouse run``), in the same chain as the tool calls
        it led to, through the same redactor; returns its seq. Its tokens and cost are then counted
        against the budgets in force: ``BudgetSpent`` (after the receipt) when one is spent."""
        text = None if turn.text is None else self._excerpt(turn.text)
        receipt = await self.services.receipts.append(
            model_turn_entry(
                turn, call_id=new_call_id(), operator=turn.operator or self.operator,
                policy_hash=self.policy.sha256, process=self._process,
                redactor=self.services.redactor, excerpt=text,
            )
        )  # fmt: skip
        seq = int(receipt.seq)
        usage = turn.usage or {}
        try:
            status = await self.charge_model(
                model=turn.model, input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0), session=turn.session,
                run=turn.session, principal=turn.operator,
            )  # fmt: skip
        except Exception as exc:  # usage that cannot be counted stops the run (budgets fail closed)
            log.exception("budget charge failed")
            raise BudgetSpent(f"budget.error: model usage could not be counted ({exc})", seq) from exc
        if status.spent:
            raise BudgetSpent("; ".join(status.reasons) or "a budget is spent", seq)
        return seq

    async def _finish(
        self,
        call: Call,
        status: Status,
        started: int,
        receipts: list[int],
        *,
        message: str | None = None,
        result: Any = None,
        **fields: Any,
    ) -> Outcome:
        """Write the single (or closing) receipt of a call and build its Outcome."""
        duration_us = (time.perf_counter_ns() - started) // 1000
        decision: Decision | None = fields.get("decision")
        redacted_message = None if message is None else self.services.redactor.redact_text(message)
        try:
            receipt = await self.services.receipts.append(
                self._entry(
                    "outcome",
                    call,
                    outcome=status,
                    duration_us=duration_us,
                    message=message,
                    excerpt=fields.pop("excerpt", None)
                    or (None if redacted_message is None else self._excerpt(redacted_message, redacted=True)),
                    **fields,
                )
            )
            receipts.append(int(receipt.seq))
        except ReceiptStoreError as exc:
            status, result = "error", None
            redacted_message = f"the receipt store could not record this call's outcome: {exc}"
        return Outcome(
            call_id=call.call_id,
            tool=call.tool,
            status=status,
            result=result,
            message=redacted_message,
            decision=decision,
            approver=fields.get("approver"),
            receipts=receipts,
            duration_us=duration_us,
        )

    # -- the call --------------------------------------------------------------------------------

    async def call(self, call: Call) -> Outcome:
        started = time.perf_counter_ns()
        receipts: list[int] = []
        _make_text_fields_encodable(call)
        try:
            return await self._call(call, started, receipts)
        except ReceiptStoreError as exc:
            return Outcome(
                call_id=call.call_id,
                tool=call.tool,
                status="error",
                message=f"receipt store unusable, so nothing was run: {exc}",
                receipts=receipts,
                duration_us=(time.perf_counter_ns() - started) // 1000,
            )

    async def _call(self, call: Call, started: int, receipts: list[int]) -> Outcome:
        tool = self.registry.get(call.tool)
        if tool is not None and call.read_only and not tool.read_only and tool.name not in self._hidden:
            return await self._finish(
                call, "error", started, receipts,
                message=f"tool {tool.name!r} is not served to this caller: its access token grants "
                "read-only tools only; served tools: " + self._served_names(read_only=True),
                arguments=call.arguments if isinstance(call.arguments, dict) else None,
            )  # fmt: skip
        if tool is not None and tool.name in self._hidden:
            return await self._finish(
                call, "error", started, receipts,
                message=f"tool {tool.name!r} is not served here: {self._hidden[tool.name]}; "
                f"served tools: {self._served_names()}",
                arguments=call.arguments if isinstance(call.arguments, dict) else None,
            )  # fmt: skip
        if tool is None:
            known = self._served_names()
            return await self._finish(
                call, "error", started, receipts,
                message=f"unknown tool {call.tool!r}; available tools: {known}",
                arguments=call.arguments if isinstance(call.arguments, dict) else None,
            )  # fmt: skip
        # Validate: the size limit first, so a huge payload is never parsed twice.
        if not isinstance(call.arguments, dict):
            what = "not valid JSON" if isinstance(call.arguments, str | bytes) else "not a JSON object"
            return await self._finish(
                call, "error", started, receipts,
                message=f"invalid arguments for {tool.name}: arguments are {what}; send a JSON object",
                excerpt=self._excerpt(str(call.arguments)),
            )  # fmt: skip
        raw_args = call.arguments
        try:
            encoded = canonical_json(raw_args)
            size = len(encoded.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate: JSON's "\udcff" escape decodes to one
            return await self._finish(
                call, "error", started, receipts,
                message=f"invalid arguments for {tool.name}: a string is not valid Unicode "
                "(an unpaired surrogate such as \\udcff); send UTF-8 text",
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            return await self._finish(
                call, "error", started, receipts,
                message=f"invalid arguments for {tool.name}: not representable as JSON ({exc})",
            )  # fmt: skip
        limit = self.config.limits.max_argument_bytes
        if size > limit:
            return await self._finish(
                call, "error", started, receipts,
                message=f"arguments for {tool.name} are {size} bytes, over the "
                f"limit of {limit} (limits.max_argument_bytes)",
                args_digest=sha256_hex(encoded),
            )  # fmt: skip
        unknown = unknown_arguments(tool.input_model, raw_args)
        if unknown:  # refused for every tool, whatever its model's own config says
            return await self._finish(
                call, "error", started, receipts,
                message=_unknown_message(tool, unknown), arguments=raw_args,
                args_digest=sha256_hex(encoded),
            )  # fmt: skip
        try:
            args = validate_arguments(tool.input_model, raw_args, encoded)
        except ValidationError as exc:
            return await self._finish(
                call, "error", started, receipts,
                message=_validation_message(tool.name, exc), arguments=raw_args,
                args_digest=sha256_hex(encoded),
            )  # fmt: skip
        args_json = public_json(args)
        if call.case is None and isinstance(args_json.get("case_id"), str):
            call.case = args_json["case_id"]  # a case tool's own argument names the case
        refused = apply_session_case(self.services, call)  # case_use's choice; an invalid id refused
        if refused is not None:
            return await self._finish(
                call, "error", started, receipts, message=refused, arguments=raw_args,
                args_digest=sha256_hex(encoded),
            )  # fmt: skip
        args_text = canonical_json(args_json)
        digest = sha256_hex(args_text)
        redacted = self.services.redactor.redact(args_json)
        limit = self.config.receipts.max_value_bytes
        if longest_string(redacted) * 4 > limit:  # 4: the most UTF-8 bytes a character can take
            redacted = compact(args_json, redacted, limit)  # receipts v2: long values as digests
        if redacted != args_json:  # equal: only strings can change, so the text is the same
            args_text = canonical_json(redacted)
        common: dict[str, Any] = {"arguments_text": args_text, "args_digest": digest}

        if tool.lookup_facets is not None:
            # What policy must see but only state can tell (the subject of a fact a write would
            # retire). A lookup that fails leaves nothing decided: the call ends here, nothing ran.
            try:
                args._looked_up = await tool.lookup_facets(args, self.services)  # type: ignore[attr-defined]
            except Exception as exc:
                log.exception("facet lookup for %s failed", tool.name)
                return await self._finish(
                    call, "error", started, receipts,
                    message=f"could not look up what {tool.name} touches, so nothing was run: "
                    + (str(exc) if isinstance(exc, ToolError) else type(exc).__name__),
                    **common,
                )  # fmt: skip
        roots = self.workspace.effective_roots(call.client_roots)
        deciding = time.perf_counter_ns()
        try:
            decision = self.policy.decide(tool, args, roots=roots, principals=self._principals(call))
        except Exception as exc:  # a policy bug must not turn into an allow
            log.exception("policy evaluation failed")
            decision = Decision(
                "deny", ("policy.error",), f"policy evaluation failed: {exc}", self.policy.sha256
            )
        if self.observe is not None:
            self.observe("decision", tool.name, time.perf_counter_ns() - deciding)
        common["decision"] = decision
        if decision.effect == "deny":
            return await self._finish(call, "denied", started, receipts, message=decision.reason, **common)
        # Budgets only take an allow away (deny wins). Peek first: nobody is asked to approve a call
        # a budget refuses anyway; the call is counted (atomically) only right before it runs.
        over = await self._over_budget(call, tool, admit=False)
        if over is not None:
            return await self._budget_denied(call, started, receipts, over, common)

        approver: str | None = None
        if decision.effect == "ask":
            subject = grant_subject(tool, args, args_json, digest, self.workspace, roots)
            answer = await self._approve(call, tool, subject, decision)
            if answer is None:
                hint = grant_hint(tool, args_json, subject.rels)
                return await self._finish(
                    call, "needs_approval", started, receipts,
                    message=f"{decision.reason}. This call needs approval and no approver could be "
                    f"asked. An operator can allow it with: {hint}",
                    **common,
                )  # fmt: skip
            approver = answer.approver
            common["approver"] = approver
            if not answer.approved:
                why = f" ({answer.note})" if answer.note else ""
                return await self._finish(
                    call, "denied", started, receipts,
                    message=f"declined by {answer.approver}{why}; rule {', '.join(decision.rules)}",
                    **common,
                )  # fmt: skip

        over = await self._over_budget(call, tool, admit=True)
        if over is not None:
            return await self._budget_denied(call, started, receipts, over, common)
        if not tool.read_only:
            # Receipts v2: a tool that can change something gets an intent, durable before it runs;
            # the outcome then refers to it by call id and args_digest instead of repeating the
            # arguments. A read-only tool changes nothing, so its one entry (written, like every
            # outcome, before the response leaves) holds everything.
            intent = await self.services.receipts.append(self._entry("intent", call, **common))
            receipts.append(int(intent.seq))
            common = {**common, "arguments_text": None}
        return await self._run(call, tool, args, started, receipts, common)

    async def _over_budget(self, call: Call, tool: Tool, *, admit: bool) -> Over | None:
        principal = call.operator or self.operator
        try:
            ask = self.budgets.admit if admit else self.budgets.peek
            return await ask(self.policy, call, tool.name, principal)
        except Exception as exc:  # a budget that cannot be counted is not a budget kept: fail closed
            log.exception("budget check failed")
            return Over(Budget(id="error", per="session"), "error", f"budgets could not be checked: {exc}")

    async def _budget_denied(
        self, call: Call, started: int, receipts: list[int], over: Over, common: dict[str, Any]
    ) -> Outcome:
        decided: Decision = common["decision"]
        policy = {"effect": decided.effect, "rules": list(decided.rules)}  # what policy said (replay)
        return await self._finish(
            call, "denied", started, receipts, message=over.message,
            **{**common, "decision": over.decision(decided.policy_hash)},
            details={"budget": over.budget.id, "limit": over.limit, "policy": policy},
        )  # fmt: skip

    async def charge_model(
        self,
        *,
        model: str,
        input_tokens: int,
        output_tokens: int,
        session: str | None = None,
        run: str | None = None,
        principal: str | None = None,
        cost_usd: float | None = None,
    ) -> BudgetStatus:
        """For the runner: count a model request's tokens and cost against the budgets in force;
        ``.spent`` says the run must stop (``.reasons`` say why, naming each budget and limit)."""
        return await self.budgets.charge_model(
            self.policy, principal=principal or self.operator, model=model, input_tokens=input_tokens,
            output_tokens=output_tokens, session=session, run=run, cost_usd=cost_usd,
        )  # fmt: skip

    async def budget_status(
        self, *, session: str | None = None, run: str | None = None, principal: str | None = None
    ) -> BudgetStatus:
        """For the runner: is this run's budget (tokens, cost, wall time) spent?"""
        return await self.budgets.status(
            self.policy, principal=principal or self.operator, session=session, run=run
        )

    async def _run(
        self,
        call: Call,
        tool: Tool,
        args: BaseModel,
        started: int,
        receipts: list[int],
        common: dict[str, Any],
    ) -> Outcome:
        decision = common.get("decision")
        approved = decision.rules if decision is not None and decision.effect == "ask" else ()
        ctx = ToolContext(
            call=call,
            tool=tool,
            workspace=self.workspace,
            services=self.services,
            progress_sink=self._redacted_progress(call),
            path_judge=self.policy.path_judge(tool, args, approved, principals=self._principals(call)),
        )
        timeout = tool.timeout_s or self.config.limits.timeout_s
        status: Status = "ok"
        message: str | None = None
        result: Any = None
        rules: tuple[str, ...] | None = None
        running = time.perf_counter_ns()
        try:
            with anyio.fail_after(timeout):
                try:
                    raw = await tool.run(args, ctx)
                finally:
                    if self.observe is not None:
                        self.observe("tool", tool.name, time.perf_counter_ns() - running)
            result = self._result_json(tool, raw)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._finish(
                    call, "cancelled", started, receipts, message="the caller cancelled the call",
                    details=ctx.facts or None, **common,
                )  # fmt: skip
            raise
        except TimeoutError as exc:  # a tool's own limit may say more (an upstream stopped with it)
            status, message = (
                "timeout",
                str(exc) or f"{tool.name} did not finish within {timeout:g} s and was stopped",
            )
        except PolicyDenied as exc:
            status, message, rules = "denied", str(exc), (exc.rule,)
        except ToolError as exc:
            status, message = "error", str(exc)
        except Exception:
            log.exception("tool %s failed", tool.name)
            status, message = "error", f"internal error in {tool.name}; the server log has the details"

        if rules is not None:
            common = {**common, "decision": Decision("deny", rules, message or "", self.policy.sha256)}
        result_digest = None
        excerpt = None
        if status == "ok":
            text = canonical_json(result)
            if len(text.encode("utf-8")) > self.config.limits.max_result_bytes:
                status, result = "error", None
                message = (
                    f"{tool.name} returned {len(text.encode())} bytes, over limits.max_result_bytes "
                    f"({self.config.limits.max_result_bytes}); ask for less (offset/limit)"
                )
            else:
                result_digest = sha256_hex(text)
                redacted = self.services.redactor.redact(result)
                if redacted != result:  # only strings can change: equal means the same text
                    result, text = redacted, canonical_json(redacted)
                excerpt = self._excerpt(text, redacted=True)
        failure = ctx.failure if status == "ok" else None
        if failure is None:
            ctx.facts.pop("failed", None)  # an error outcome already says it failed
        else:
            message = failure[1]  # the tool ran, the command failed: said on the receipt, not hidden
        outcome = await self._finish(
            call, status, started, receipts, message=message, result=result,
            result_digest=result_digest, excerpt=excerpt, details=ctx.facts or None, **common,
        )  # fmt: skip
        if failure is not None and outcome.status == "ok":
            outcome.failed = failure[0]
        return outcome

    def _redacted_progress(self, call: Call) -> Any:
        """Progress goes to the client while the tool runs: it passes the redactor like a result,
        and is shortened only after (a cut first could leave half a token no detector knows)."""
        sink = call.progress
        if sink is None:
            return None
        redact = self.services.redactor.redact_text

        async def progress(done: float, total: float | None, message: str | None) -> None:
            if message is not None:
                message = redact(message)
                if len(message) > PROGRESS_MAX_CHARS:
                    message = message[:PROGRESS_MAX_CHARS] + "…"
            await sink(done, total, message)

        return progress

    def _result_json(self, tool: Tool, raw: Any) -> Any:
        if isinstance(raw, BaseModel):
            return public_json(raw)
        if tool.output_model is not None and isinstance(raw, dict):
            return public_json(tool.output_model.model_validate(raw))
        return to_jsonable_python(raw)

    async def _approve(
        self, call: Call, tool: Tool, subject: GrantSubject, decision: Decision
    ) -> ApprovalAnswer | None:
        args_json, digest = subject.args, subject.digest
        grant_id = await use_matching_grant(self.services.state, subject)
        if grant_id is not None:
            return ApprovalAnswer(approved=True, approver=f"grant:{grant_id}")
        if call.approver is None:
            return None
        ttl = self.config.approval_ttl_s
        request = ApprovalRequest(
            call_id=call.call_id,
            tool=tool.name,
            title=tool.title,
            arguments=self.services.redactor.redact(args_json),
            rules=decision.rules,
            reason=decision.reason,
            args_digest=digest,
            policy_hash=self.policy.sha256,
            expires_at=time.time() + ttl,
        )
        answer: ApprovalAnswer | None = None
        with anyio.move_on_after(ttl):
            answer = await call.approver(request)
            if answer is not None and time.time() > request.expires_at:
                answer = ApprovalAnswer(False, answer.approver, "the approval arrived after it expired")
            return answer
        return ApprovalAnswer(False, "timeout", f"no answer within {ttl:g} s")


def _make_text_fields_encodable(call: Call) -> None:
    """A face hands over what the client sent; a lone surrogate in a tool name or session id must
    not stop the receipt from being written, so it is kept visibly escaped (\\udcff)."""
    for name in ("tool", "client", "session", "case", "operator"):
        value = getattr(call, name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                setattr(call, name, value.encode("utf-8", "backslashreplace").decode("utf-8"))
