"""``tollhouse receipts``: read, verify and export the workspace's signed record of calls."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tollhouse import display
from tollhouse.cli import exitcodes
from tollhouse.receipts.schema import OUTCOMES

DESCRIPTION = """\
Every call through the gate leaves receipts in <workspace>/.tollhouse/receipts.db: an intent before
the tool runs and an outcome after it, each hash-chained to the one before and a leaf of a Merkle
tree, with Ed25519-signed checkpoints (C2SP signed notes) over the tree's root. Each new checkpoint is
also copied to a witness folder in the operator's home, out of the agents' reach."""

EPILOG = """\
examples:
  tollhouse receipts tail                  the last 20 receipts as a table
  tollhouse receipts tail -n 100 --json    the last 100 as JSON, oldest first
  tollhouse receipts show 42               receipt 42 and the other receipts of its call
  tollhouse receipts show CALL_ID          a call by its full call id
  tollhouse receipts verify                check this workspace's chain, tree, signatures, witnesses
  tollhouse receipts export --out r.jsonl  a self-contained bundle for someone else
  tollhouse receipts verify r.jsonl        check a bundle offline (no workspace needed)
  tollhouse receipts prove 42 --out p.json  a proof that receipt 42 is in the signed log
  tollhouse receipts verify-proof p.json --public-key trusted.pub
  tollhouse receipts report                a timeline of calls as one HTML page for a browser

`verify` exits 0 only when every entry, link, root and signature holds and a signed checkpoint covers
the head; otherwise it prints the first bad seq and why, and exits 8. An unusable store exits 7, a
config problem 2. Format: docs/receipts.md."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = sub.add_parser(
        "receipts",
        help="show, verify and export the signed record of every call",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    actions = parser.add_subparsers(dest="receipts_action", metavar="ACTION")
    parser.set_defaults(handler=lambda args: _usage(parser))

    tail = actions.add_parser(
        "tail",
        help="the most recent calls: tool, decision, outcome, who approved, the receipts behind each",
        description="The most recent calls, oldest first, one row per call with the receipts behind "
        "it (an intent and an outcome, or one receipt for a call decided at once). Filters name "
        "calls: a call is shown when it matches them all. --receipts lists single receipts instead.",
        epilog="examples:\n  tollhouse receipts tail -n 50\n"
        "  tollhouse receipts tail --outcome denied --since 1h\n"
        "  tollhouse receipts tail --tool shell_run --json\n"
        "  tollhouse receipts tail --follow                 new calls as they happen (Ctrl-C stops)\n"
        "  tollhouse receipts tail --receipts -n 10         single receipts, as stored",
        formatter_class=fmt,
    )
    tail.add_argument("-n", type=int, default=20, metavar="N", help="how many calls (default 20)")
    tail.add_argument("--tool", help="only calls of this tool")
    tail.add_argument("--session", help="only calls of this session")
    tail.add_argument("--case", help="only calls filed under this case id")
    tail.add_argument(
        "--outcome",
        choices=[*OUTCOMES, "pending"],
        help="only calls that ended so (pending: no outcome yet)",
    )
    tail.add_argument(
        "--since", metavar="WHEN", help="only calls begun since: 30s, 10m, 2h, 7d, or a date/time"
    )
    tail.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing calls as their receipts arrive (Ctrl-C stops)",
    )
    tail.add_argument("--receipts", action="store_true", help="single receipts instead of calls")
    add_log_option(tail)
    tail.add_argument(
        "--json", action="store_true", help="a JSON array for scripts (with --follow: one JSON object a line)"
    )
    tail.set_defaults(handler=cmd_tail)

    show = actions.add_parser(
        "show",
        help="one call's receipts (intent, outcome) by seq, call id or a unique call-id prefix",
        description="Every receipt of one call: give a receipt's seq, the call id, or the start of "
        "a call id as `receipts tail` prints it (any unique prefix).",
        epilog="examples:\n  tollhouse receipts show 42\n  tollhouse receipts show 6fe61f913caf\n"
        "  tollhouse receipts show CALL_ID --json",
        formatter_class=fmt,
    )
    show.add_argument(
        "id", metavar="ID", help="a receipt seq (a number), a call id or a unique prefix of one"
    )
    show.add_argument("--json", action="store_true", help="JSON for scripts")
    add_log_option(show)
    show.set_defaults(handler=cmd_show)

    verify = actions.add_parser(
        "verify",
        help="check hashes, links, Merkle roots and signed checkpoints (exit 8 if anything fails)",
        description="Recompute every hash, link and the Merkle root at every signed checkpoint, and "
        "require a checkpoint at the head. Without BUNDLE: this workspace's database, checked also "
        "against the operator's witness copy. With BUNDLE: an exported file, offline.",
        epilog="examples:\n  tollhouse receipts verify --public-key trusted.pub\n"
        "  tollhouse receipts verify --since-checkpoint last-week.checkpoint\n"
        "  tollhouse receipts verify --witness file:/mnt/backup/witness\n"
        "  tollhouse receipts verify bundle.jsonl --public-key trusted.pub",
        formatter_class=fmt,
    )
    verify.add_argument("bundle", nargs="?", metavar="BUNDLE", help="an exported .jsonl bundle")
    verify.add_argument(
        "--public-key",
        metavar="FILE",
        help="require this Ed25519 public key (PEM or base64) instead of trusting the stored one",
    )
    verify.add_argument(
        "--require-head",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fail when entries at the head are not yet covered by a signed checkpoint (default: on)",
    )
    verify.add_argument(
        "--since-checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint note kept from before: the log must still hold that history (repeatable)",
    )
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="WITNESS",
        help="also check against this witness: file:/FOLDER or https://HOST/PATH (repeatable; the "
        "operator's own folder is always checked)",
    )
    verify.add_argument(
        "--incremental",
        action="store_true",
        help="read only the entries after the last run that verified (remembered in the operator's "
        "folder, out of the agents' reach); the first run reads everything",
    )
    verify.add_argument("--json", action="store_true", help="the result as JSON")
    verify.set_defaults(handler=cmd_verify)

    from tollhouse.cli.receipts_proof_cmd import register_proofs

    register_proofs(actions, fmt)

    from tollhouse.cli.receipts_report import register_report

    register_report(actions, fmt)

    export = actions.add_parser(
        "export",
        help="write a self-contained JSONL bundle anyone can verify offline",
        description="Write every receipt, every signed checkpoint and the public key to one JSONL file.",
        epilog="example:\n  tollhouse receipts export --out receipts-2026-11.jsonl",
        formatter_class=fmt,
    )
    export.add_argument("--out", required=True, metavar="FILE", help="where to write the bundle")
    export.add_argument("--json", action="store_true", help="what was written, as JSON")
    export.set_defaults(handler=cmd_export)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return exitcodes.USAGE


def _err(message: str, code: int) -> int:
    print(f"tollhouse receipts: {message}", file=sys.stderr)
    return code


def _config(args: argparse.Namespace) -> Any:
    from tollhouse.cli.common import trust_note
    from tollhouse.config import load_config

    config = load_config(getattr(args, "config", None))
    note = trust_note(config)  # reading receipts works on an untrusted policy; say it is untrusted
    if note:
        print(f"tollhouse receipts: {note}", file=sys.stderr)
    return config


def _db_path(args: argparse.Namespace) -> Path:
    return Path(_config(args).state_dir) / "receipts.db"


def _source(args: argparse.Namespace) -> Any:
    """What tail/show/report read: the PostgreSQL store's log (``--log``, else this server's) or the
    workspace's SQLite file (``store/source.py``)."""
    from tollhouse.store.source import receipt_source

    return receipt_source(_config(args), getattr(args, "log", None))


def add_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log",
        metavar="ID",
        help="with a PostgreSQL store: the log to read (default: this workspace's signing key's, the "
        "one this server writes; `tollhouse store status` lists them)",
    )


def _run(args: argparse.Namespace, body: Any) -> int:
    """Map the errors every action can meet to clean messages and exit codes (cli/errors.py words
    them, so a read-only or full disk reads the same here as in every other command)."""
    from tollhouse.cli.errors import explain
    from tollhouse.config import ConfigError
    from tollhouse.receipts import ReceiptStoreError

    try:
        return int(body(args))
    except (ConfigError, ReceiptStoreError) as exc:
        message, code = explain(exc) or (str(exc), exitcodes.STORE_UNUSABLE)
        return _err(message, code)


# -- tail ------------------------------------------------------------------------------------------
def cmd_tail(args: argparse.Namespace) -> int:
    from tollhouse.cli.receipts_tail import tail

    return _run(args, tail)


# -- show ------------------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    return _run(args, _show)


def _show(args: argparse.Namespace) -> int:
    from tollhouse.cli.receipts_calls import Ambiguous, resolve_call_id
    from tollhouse.receipts import get_call

    db = _source(args)
    if not db.exists():
        return _err(f"no receipts yet ({db} does not exist)", exitcodes.USAGE)
    # A number shorter than a printed call id is a seq; anything else a call id or its prefix.
    as_seq = args.id.isdigit() and len(args.id) < 12
    entries = get_call(db, int(args.id)) if as_seq else []
    if not entries:
        try:
            call_id = resolve_call_id(db, args.id)
        except Ambiguous as exc:
            shown = ", ".join(display.line(c) for c in exc.candidates[:10])
            more = " and more" if len(exc.candidates) > 10 else ""
            return _err(
                f"{args.id!r} is the start of several call ids: {shown}{more}; give more of it",
                exitcodes.USAGE,
            )
        entries = get_call(db, call_id) if call_id else []
    if not entries:
        return _err(
            f"no receipt with seq or call id {args.id!r}; `tollhouse receipts tail` lists recent ones",
            exitcodes.USAGE,
        )
    if args.json:
        print(
            json.dumps({"call_id": entries[0]["call_id"], "entries": entries}, ensure_ascii=False, indent=2)
        )
        return exitcodes.OK
    for i, e in enumerate(entries):
        if i:
            print()
        print(f"receipt {e['seq']}  {e['kind']}  {e['time']}")
        shown = [(k, v) for k, v in e.items() if k not in ("seq", "kind", "time") and v not in (None, [], {})]
        width = max(len(k) for k, _ in shown)
        for key, value in shown:
            # What a model wrote is shown with its control and invisible characters escaped.
            text = (
                display.block(value)
                if isinstance(value, str)
                else display.line(json.dumps(value, ensure_ascii=False))
            )
            text = text.replace("\n", "\n" + " " * (width + 4))  # keep multi-line values in column
            print(f"  {key.ljust(width)}  {text}")
    return exitcodes.OK


# -- verify ----------------------------------------------------------------------------------------
def cmd_verify(args: argparse.Namespace) -> int:
    return _run(args, _verify)


def _verify(args: argparse.Namespace) -> int:
    from tollhouse.cli.receipts_verify_help import (
        _bundle_key,
        _load_resume,
        _progress_bar,
        _save_resume,
        _witness_anchors,
        _witness_paths,
    )
    from tollhouse.receipts import ReceiptStoreError, verify_bundle, verify_db
    from tollhouse.receipts.signing import load_public_key, parse_public_key, public_key_path

    pinned = None
    if args.public_key:
        try:
            pinned = parse_public_key(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as exc:
            return _err(f"cannot use --public-key {args.public_key}: {exc}", exitcodes.USAGE)
    anchors: list[tuple[str, str]] = []
    for name in args.since_checkpoint:
        try:
            anchors.append((f"the checkpoint {name}", Path(name).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            return _err(f"cannot read --since-checkpoint {name}: {exc}", exitcodes.USAGE)
    progress = _progress_bar()
    if args.bundle:
        if not Path(args.bundle).is_file():
            return _err(f"bundle {args.bundle} does not exist", exitcodes.USAGE)
        source = args.bundle
        witnesses = _witness_paths(args.witness)
        if isinstance(witnesses, int):
            return witnesses
        key = pinned or _bundle_key(Path(args.bundle))
        if key is not None and witnesses:
            extra = _witness_anchors(witnesses, key)
            if extra is None:
                return exitcodes.USAGE
            anchors += extra
        result = verify_bundle(
            args.bundle, pinned, require_head=args.require_head, anchors=anchors, progress=progress
        )
    else:
        from tollhouse.receipts.witness import operator_witness

        config = _config(args)
        from tollhouse.store import store_url

        try:
            url = store_url(config)
        except ValueError as exc:
            return _err(str(exc), exitcodes.USAGE)
        if url is not None:  # a PostgreSQL store: every log in it (docs/store.md)
            from tollhouse.cli.store_cmd import verify_pg_logs

            if args.incremental:
                return _err("--incremental works on the SQLite store only; verify reads every log", 2)

            return verify_pg_logs(
                config, url, pinned=pinned, anchors=anchors, witness_specs=args.witness,
                require_head=args.require_head, as_json=args.json,
            )  # fmt: skip
        db = config.state_dir / "receipts.db"
        if not db.exists():
            raise ReceiptStoreError(f"no receipt database at {db}; nothing to verify yet")
        source = str(db)
        witnesses = _witness_paths([*config.receipts.witnesses, *args.witness])
        if isinstance(witnesses, int):
            return witnesses
        own = operator_witness(config.root)
        if own.is_dir():
            witnesses.insert(0, own)
        key = pinned
        if key is None and public_key_path(db.parent).exists():
            key = load_public_key(public_key_path(db.parent))
        if key is not None:
            extra = _witness_anchors(witnesses, key)
            if extra is None:
                return exitcodes.USAGE
            anchors += extra
        resume = _load_resume(config.root, key) if args.incremental else None
        result = verify_db(
            db, pinned, require_head=args.require_head, anchors=anchors, progress=progress, resume=resume
        )
        if args.incremental and result.ok and result.state is not None:
            _save_resume(config.root, result.state)
    if progress is not None:
        progress.done()
    if args.json:
        print(json.dumps({"source": source, **result.to_json()}, indent=2))
    elif result.ok:
        print(
            f"ok: {result.count} entries, {result.checkpoints} signed checkpoints (key {result.key_id}); "
            f"chain and Merkle tree verified from seq 1 to {result.count}"
            + (
                f", consistent with {result.anchors} older checkpoint(s) and witness copies"
                if result.anchors
                else ""
            )
        )
        if result.uncovered:
            print(
                f"note: the last {result.uncovered} entries are chained but not yet covered by a signed "
                "checkpoint (--no-require-head accepted them)"
            )
    else:
        where = f"at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        print(f"FAILED {where}: {result.reason}".replace("FAILED :", "FAILED:"))
        print(f"({result.count} entries, {result.checkpoints} checkpoints in {source})")
    return exitcodes.OK if result.ok else exitcodes.VERIFY_FAILED


# -- export ----------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    return _run(args, _export)


def _export(args: argparse.Namespace) -> int:
    from tollhouse.cli.receipts_verify_help import _progress_bar
    from tollhouse.receipts import ReceiptStoreError, export_bundle

    db = _db_path(args)
    if not db.exists():
        raise ReceiptStoreError(f"no receipt database at {db}; nothing to export yet")
    progress = _progress_bar()
    header = export_bundle(db, args.out, progress=progress)
    if progress is not None:
        progress.done()
    if args.json:
        print(json.dumps({"out": args.out, **header}, indent=2, default=str))
        return exitcodes.OK
    print(
        f"wrote {args.out}: {header['count']} entries, {header['notes']} signed checkpoints, "
        f"key {header['key_id']}. Check it anywhere with `tollhouse receipts verify {args.out}`"
    )
    return exitcodes.OK
