"""``tollhouse call TOOL 'JSON'``: one gated call from a terminal or a CI job (channel ``cli``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from tollhouse.cli import exitcodes
from tollhouse.cli.call_output import LiveLine, human, print_result
from tollhouse.cli.common import CommandError, load_trusted, parse_json_arg, print_json
from tollhouse.gate.types import ApprovalAnswer, ApprovalRequest, Call, Outcome

HELP = """\
Run one tool through the gate, exactly as an agent's call would run: validated, decided by policy,
approved if policy asks (you are prompted when a terminal is attached), receipted.

examples:
  tollhouse call files_read '{"path": "README.md"}'
  echo '{"argv": ["pytest", "-q"]}' | tollhouse call shell_run - --json
  tollhouse call files_write '{"path": "notes.md", "content": "hi"}' --case C-12

exit codes: 0 ok, 1 tool error (also invalid arguments), 2 usage or config error, 3 denied,
4 needs approval (grant it with `tollhouse grant`), 5 timed out (the call, or shell_run's command),
6 cancelled, 7 receipt store unusable, 9 policy not trusted, 10 the tool ran but its command failed
(shell_run: non-zero exit status or killed by a signal; the output is still printed)
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "call",
        help="run one tool through the gate",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("tool", help="tool name, e.g. files_read (see `tollhouse tools`)")
    p.add_argument("arguments", nargs="?", default="{}", help="arguments as a JSON object, or - for stdin")
    p.add_argument("--json", action="store_true", help="print the whole outcome as JSON")
    p.add_argument("--case", help="case id this call belongs to (recorded on the receipt)")
    p.add_argument("--session", help="session id to record on the receipt")
    p.add_argument(
        "--no-prompt", action="store_true", help="never prompt for approval (as when no terminal is attached)"
    )
    p.set_defaults(handler=run)


class TerminalApprover:
    """Asks on the controlling terminal; only used when stdin and stderr are terminals."""

    async def __call__(self, request: ApprovalRequest) -> ApprovalAnswer | None:
        import getpass

        from tollhouse.display import show_text, show_value

        prompt = (  # shown escaped: a bidi override or ESC sequence cannot change what is read
            f"\n{show_text(request.tool)} needs approval "
            f"({show_text(', '.join(request.rules))}: {show_text(request.reason)})\n"
            f"  arguments: {show_value(request.arguments)}\n"
            "Allow this call once? [y/N] "
        )
        answer = await anyio.to_thread.run_sync(_ask, prompt)
        return ApprovalAnswer(answer, f"terminal:{getpass.getuser()}")


def _ask(prompt: str) -> bool:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from tollhouse.gate.gate import Gate
    from tollhouse.receipts import ReceiptStoreError

    config = load_trusted(args)  # an untrusted policy: exit 9, nothing runs
    arguments = parse_json_arg(args.arguments)
    interactive = not args.no_prompt and sys.stdin.isatty() and sys.stderr.isatty() and args.arguments != "-"
    live = LiveLine() if not args.json and human() and sys.stderr.isatty() else None  # cli/call_output.py

    async def main() -> Outcome:
        gate = await Gate.open(config)
        async with gate:
            return await gate.call(
                Call(
                    tool=args.tool,
                    arguments=arguments,
                    channel="cli",
                    client="tollhouse-cli",
                    session=args.session,
                    case=args.case,
                    approver=TerminalApprover() if interactive else None,
                    progress=live.progress if live else None,
                )
            )

    try:
        outcome = anyio.run(main)
    except ReceiptStoreError as exc:
        raise CommandError(
            f"receipt store unusable, nothing was run: {exc}", exitcodes.STORE_UNUSABLE
        ) from exc
    finally:
        if live:
            live.clear()
    if args.json:
        print_json(outcome.to_json())
    else:
        _print_human(outcome)
    return exitcodes.of_outcome(outcome.status, outcome.failed)


def _print_human(outcome: Outcome) -> None:
    receipts = ",".join(str(r) for r in outcome.receipts) or "-"
    if outcome.ok:
        print_result(outcome.tool, outcome.result)
        failed = f" · {outcome.message}" if outcome.failed else ""
        print(f"[ok · {outcome.tool}{failed} · receipts {receipts}]", file=sys.stderr)
    else:
        print(f"{outcome.status}: {outcome.message}", file=sys.stderr)
        print(f"[{outcome.status} · {outcome.tool} · receipts {receipts}]", file=sys.stderr)


def _render(result: Any) -> str:
    if isinstance(result, str):
        return result
    return json.dumps(result, indent=2, ensure_ascii=False)
