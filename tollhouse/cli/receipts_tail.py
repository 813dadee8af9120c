"""``tollhouse receipts tail``: the latest calls (or receipts), once or following new ones."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tollhouse import display
from tollhouse.cli import exitcodes
from tollhouse.cli.receipts_cmd import _err, _source


def tail(args: argparse.Namespace) -> int:
    from tollhouse.cli import receipts_calls as rc

    if args.n < 1:
        return _err("-n must be at least 1", exitcodes.USAGE)
    if args.receipts and (args.outcome or args.since or args.follow):
        return _err("--receipts lists single receipts: use it without --outcome, --since and --follow", 2)
    try:
        since = rc.parse_since(args.since) if args.since is not None else None
    except ValueError as exc:
        return _err(str(exc), exitcodes.USAGE)
    db = _source(args)
    if not db.exists() and not args.follow:
        print("[]" if args.json else f"no receipts yet ({db} does not exist)")
        return exitcodes.OK
    if args.receipts:
        return _tail_receipts(args, db)
    filters = {"tool": args.tool, "session": args.session, "case_id": args.case, "outcome": args.outcome}
    calls = rc.recent_calls(db, limit=args.n, since=since, **filters) if db.exists() else []
    colour = display.colour_on(sys.stdout)
    if args.follow:
        return _follow(args, db, calls, filters, since, colour)
    if args.json:
        print(json.dumps([c.to_json() for c in calls], ensure_ascii=False, indent=2))
    elif not calls:
        print("no matching calls")
    else:
        print(_calls_table(calls, colour))
    return exitcodes.OK


CALL_HEADER = ["CALL", "TIME (UTC)", "TOOL", "DECISION", "OUTCOME", "BY", "MS", "RECEIPTS", "MESSAGE"]


def _call_row(call: Any) -> list[str]:
    data = call.to_json()
    duration = data["duration_us"]
    seqs = data["seqs"]
    return [
        display.line((call.call_id or "-")[:12]),
        _short_time(data["time"]),
        display.line(data["tool"] or "-"),
        display.line(data["decision"] or "-"),
        display.line(data["outcome"]),
        display.line(_one_line(str(data["approver"] or "-"), 24)),
        f"{duration / 1000:.0f}" if isinstance(duration, int) else "-",
        ",".join(str(n) for n in seqs) if len(seqs) <= 3 else f"{seqs[0]}..{seqs[-1]}",
        display.line(_one_line(data["message"] or "", 50)),
    ]


def _calls_table(calls: list[Any], colour: bool) -> str:
    return display.table(CALL_HEADER, [_call_row(c) for c in calls], colour=colour, styled=(3, 4))


def _follow(args: argparse.Namespace, db: Any, calls: list[Any], filters: dict[str, Any], since: str | None,
            colour: bool) -> int:  # fmt: skip
    """Print the tail, then every call whose receipts arrive later, until Ctrl-C (exit 0)."""
    import time

    from tollhouse.cli import receipts_calls as rc

    def emit(batch: list[Any], header: bool) -> None:
        if args.json:
            for call in batch:
                print(json.dumps(call.to_json(), ensure_ascii=False))
        elif batch:
            text = _calls_table(batch, colour)
            print(text if header else text.split("\n", 1)[1])
        sys.stdout.flush()

    seen = rc.last_seq(db) if db.exists() else 0
    emit(calls, header=True)
    if not calls and not args.json:
        print(display.table(CALL_HEADER, [], colour=colour), flush=True)
    try:
        while True:
            time.sleep(0.25)
            if not db.exists():
                continue
            batch = [c for c in rc.calls_touching(db, seen) if _matches(c, filters, since)]
            seen = max([seen, *(e["seq"] for c in batch for e in c.receipts)], default=seen)
            seen = max(seen, rc.last_seq(db))
            emit(batch, header=False)
    except KeyboardInterrupt:
        return exitcodes.OK  # Ctrl-C is how a follow ends


def _matches(call: Any, filters: dict[str, Any], since: str | None) -> bool:
    data = call.to_json()
    for key in ("tool", "session", "case_id"):
        if filters[key] is not None and all(e.get(key) != filters[key] for e in call.receipts):
            return False
    if filters["outcome"] is not None and data["outcome"] != filters["outcome"]:
        return False
    return since is None or data["time"] >= since


def _tail_receipts(args: argparse.Namespace, db: Any) -> int:
    from tollhouse.receipts import read_receipts

    entries = read_receipts(db, limit=args.n, tool=args.tool, session=args.session, case_id=args.case)
    entries.reverse()
    if args.json:
        print(json.dumps(entries, ensure_ascii=False, indent=2))
        return exitcodes.OK
    if not entries:
        print("no matching receipts")
        return exitcodes.OK
    rows = [
        [
            str(e["seq"]),
            _short_time(e["time"]),
            e["kind"],
            display.line(e["tool"] or "-"),
            display.line(_result(e)),
            display.line(e["channel"] or "-"),
            display.line((e["call_id"] or "-")[:12]),
            display.line(_one_line(e["message"] or "", 50)),
        ]
        for e in entries
    ]
    header = ["SEQ", "TIME (UTC)", "KIND", "TOOL", "RESULT", "CHANNEL", "CALL", "MESSAGE"]
    print(display.table(header, rows, colour=display.colour_on(sys.stdout), styled=(4,)))
    return exitcodes.OK


def _short_time(t: str | None) -> str:
    return (t or "")[:19].replace("T", " ")


def _result(e: dict[str, Any]) -> str:
    if e["kind"] == "intent":
        return e["decision"] or "-"
    return e["outcome"] or "-"


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
