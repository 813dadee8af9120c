"""``tollhouse run [--provider P] [--model M] [--case ID] "goal"``: one agent loop, receipted."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load_trusted, print_json

HELP = """\
Run an agent on a goal: the model (OpenAI, Anthropic or Gemini, through its official SDK) asks for
tools, every tool call passes the gate (policy, approval on this terminal, receipts), and every model
request is receipted in the same chain (provider, model, tokens, latency, retries). The API key comes
from a credential profile ([credentials."anthropic:default"] source = "env:ANTHROPIC_API_KEY"), the
model and endpoint from [run] (docs/run.md). Ctrl-C stops cleanly; with --case the case gets a handoff
however the run ends.

examples:
  tollhouse run --provider anthropic "make the failing test in tests/test_calc.py pass"
  tollhouse run --provider openai-responses --model gpt-4.1 --case C-12 "fix issue 12"
  tollhouse receipts verify        # the run's model turns and tool calls, one chain

exit codes: 0 done, 1 the model request failed or max turns reached, 2 usage or config error (also a
missing credential), 3 stopped by a budget, 6 interrupted (Ctrl-C), 7 receipt store unusable,
9 policy not trusted
"""

EXIT = {"done": exitcodes.OK, "failed": exitcodes.TOOL_ERROR, "max_turns": exitcodes.TOOL_ERROR,
        "budget": exitcodes.DENIED, "cancelled": exitcodes.CANCELLED}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from tollhouse.run.settings import PROVIDERS

    p = sub.add_parser(
        "run",
        help="run an agent loop (OpenAI, Anthropic, Gemini) with every call gated and receipted",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("goal", help="what the agent should do, in words")
    p.add_argument(
        "--provider", choices=PROVIDERS, help="model provider (default: [run] provider, else openai)"
    )
    p.add_argument("--model", help="model name (default: [run.PROVIDER] model)")
    p.add_argument("--case", help="case id: the run's receipts name it and it gets a handoff at the end")
    p.add_argument("--max-turns", type=int, help="most model requests (default: [run] max_turns, 20)")
    p.add_argument("--no-stream", action="store_true", help="ask for whole responses instead of streams")
    p.add_argument(
        "--no-prompt", action="store_true", help="never prompt for approval (calls that ask are refused)"
    )
    p.add_argument(
        "--json", action="store_true", help="print the run's result as JSON (model text goes to stderr)"
    )
    p.set_defaults(handler=run)


class _LockedApprover:
    """One question at a time on the terminal, even when the model asked for calls in parallel."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lock = anyio.Lock()

    async def __call__(self, request: Any) -> Any:
        async with self.lock:
            return await self.inner(request)


def run(args: argparse.Namespace) -> int:
    from tollhouse.cli.call_cmd import TerminalApprover
    from tollhouse.receipts import ReceiptStoreError
    from tollhouse.run.settings import RunSettingsError, load_run_settings

    config = load_trusted(args)  # an untrusted policy: exit 9, nothing runs
    if not args.goal.strip():
        raise CommandError("tollhouse run: the goal is empty; say what the agent should do")
    if args.model is not None and not args.model.strip():
        raise CommandError("tollhouse run: --model must not be empty (leave it out for [run] model)")
    section = dict(config.section("run"))
    if args.max_turns is not None:
        if args.max_turns < 1:
            raise CommandError("tollhouse run: --max-turns must be at least 1")
        section["max_turns"] = args.max_turns
    try:
        settings = load_run_settings(
            section, provider=args.provider, model=args.model, stream=False if args.no_stream else None
        )
    except RunSettingsError as exc:
        raise CommandError(f"tollhouse run: {exc}") from exc
    interactive = not args.no_prompt and sys.stdin.isatty() and sys.stderr.isatty()
    approver = _LockedApprover(TerminalApprover()) if interactive else None
    out = sys.stderr if args.json else sys.stdout
    try:
        result = anyio.run(_main, config, settings, args, approver, out)
    except ReceiptStoreError as exc:
        raise CommandError(
            f"receipt store unusable, nothing more was run: {exc}", exitcodes.STORE_UNUSABLE
        ) from exc
    if args.json:
        print_json(result.to_json())
    else:
        where = f"; handoff {result.handoff_id} on case {args.case}" if result.handoff_id else ""
        print(
            f"[tollhouse] run {result.run_id} {result.status} after {result.turns} model turn(s) and "
            f"{result.tool_calls} tool call(s){where}: {result.summary[:300]}",
            file=sys.stderr,
        )
    return EXIT[result.status]


async def _main(config: Any, settings: Any, args: argparse.Namespace, approver: Any, out: Any) -> Any:
    from tollhouse.gate.gate import Gate
    from tollhouse.run import Runner, open_provider
    from tollhouse.state.cases import CaseInputError
    from tollhouse.state.db import StateError
    from tollhouse.tools.base import ToolError

    gate = await Gate.open(config)
    async with gate:
        try:
            provider = await open_provider(gate, settings)
        except ToolError as exc:
            raise CommandError(f"tollhouse run: {exc}") from exc
        failure: Exception | None = None
        try:
            runner = Runner(gate, provider, settings, case=args.case, approver=approver, out=out)
            async with anyio.create_task_group() as tg:
                run_scope = anyio.CancelScope()
                tg.start_soon(_stop_on_sigint, run_scope)
                with run_scope:
                    try:
                        await runner.run(args.goal)
                    except Exception as exc:  # raised below, outside the task group (not as a group)
                        failure = exc
                tg.cancel_scope.cancel()
        finally:
            await provider.aclose()
        if isinstance(failure, ToolError | StateError | CaseInputError):
            raise CommandError(f"tollhouse run: {failure}") from failure  # e.g. --case names no case
        if failure is not None:
            raise failure
        return runner.result


async def _stop_on_sigint(scope: anyio.CancelScope) -> None:
    """Ctrl-C cancels the run (receipts and the handoff are still written); a second one is the
    default again and ends the process at once."""
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            scope.cancel()
            return
