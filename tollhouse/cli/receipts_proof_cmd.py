"""``tollhouse receipts prove`` and ``verify-proof``: show one receipt, or that a log only grew."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes


def register_proofs(actions: Any, fmt: type[argparse.HelpFormatter]) -> None:
    prove = actions.add_parser(
        "prove",
        help="write a proof that a receipt is in the signed log (or that an older log is a prefix)",
        description="Write an inclusion proof for receipt SEQ against a signed checkpoint (the newest, "
        "or --checkpoint FILE), or with --consistency OLD a proof that the log the older checkpoint "
        "signed is a prefix of the newest. Anyone holding the public key checks it offline with "
        "`tollhouse receipts verify-proof`.",
        epilog="examples:\n  tollhouse receipts prove 42 --out receipt-42.proof.json\n"
        "  tollhouse receipts prove --consistency last-week.checkpoint --out grew.proof.json\n"
        "  tollhouse receipts prove --checkpoint-only --out today.checkpoint",
        formatter_class=fmt,
    )
    prove.add_argument("seq", nargs="?", type=int, metavar="SEQ", help="the receipt to prove")
    prove.add_argument("--checkpoint", metavar="FILE", help="prove against this checkpoint note")
    prove.add_argument(
        "--consistency", metavar="OLD", help="an older checkpoint note to prove the log extends"
    )
    prove.add_argument(
        "--checkpoint-only", action="store_true", help="write the newest signed checkpoint note, to keep"
    )
    prove.add_argument("--out", metavar="FILE", help="where to write it (default: standard output)")
    from tollhouse.cli.receipts_cmd import add_log_option

    add_log_option(prove)
    prove.set_defaults(handler=cmd_prove)

    check = actions.add_parser(
        "verify-proof",
        help="check an inclusion or consistency proof offline against a public key",
        description="Check a proof written by `tollhouse receipts prove`, without the receipt store.",
        epilog="example:\n  tollhouse receipts verify-proof receipt-42.proof.json --public-key trusted.pub",
        formatter_class=fmt,
    )
    check.add_argument("proof", metavar="PROOF", help="the proof file")
    check.add_argument(
        "--public-key", required=True, metavar="FILE", help="the log's Ed25519 public key (PEM or base64)"
    )
    check.add_argument("--json", action="store_true", help='{"ok": ..., "result" or "error": ...}')
    check.set_defaults(handler=cmd_verify_proof)


def _err(message: str, code: int) -> int:
    print(f"tollhouse receipts: {message}", file=sys.stderr)
    return code


def _read(name: str, what: str) -> str | int:
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return _err(f"cannot read {what} {name}: {exc}", exitcodes.USAGE)


def cmd_prove(args: argparse.Namespace) -> int:
    from tollhouse.cli.receipts_cmd import _run

    return _run(args, _prove)


def _prove(args: argparse.Namespace) -> int:
    from tollhouse.config import load_config
    from tollhouse.receipts.proofs import consistency_proof, inclusion_proof
    from tollhouse.receipts.read import connect_readonly
    from tollhouse.store.source import receipt_source

    modes = sum(
        x is not None and x is not False for x in (args.seq, args.consistency, args.checkpoint_only or None)
    )
    if modes != 1:
        return _err("give exactly one of SEQ, --consistency OLD or --checkpoint-only", exitcodes.USAGE)
    # The workspace's SQLite file, or (PostgreSQL store) one log: this server's, or --log ID.
    db = receipt_source(load_config(getattr(args, "config", None)), args.log)
    if args.checkpoint_only:
        conn = connect_readonly(db)
        try:
            row = conn.execute("SELECT note FROM notes ORDER BY size DESC LIMIT 1").fetchone()
        finally:
            conn.close()
        if row is None:
            return _err("the store has no signed checkpoint yet", exitcodes.USAGE)
        return _write(args.out, row[0])
    checkpoint = None
    if args.checkpoint:
        text = _read(args.checkpoint, "checkpoint")
        if isinstance(text, int):
            return text
        checkpoint = text
    if args.consistency:
        old = _read(args.consistency, "checkpoint")
        if isinstance(old, int):
            return old
        proof = consistency_proof(db, old, checkpoint)
    else:
        if args.seq < 1:
            return _err("SEQ must be at least 1", exitcodes.USAGE)
        proof = inclusion_proof(db, args.seq, checkpoint)
    return _write(args.out, json.dumps(proof, ensure_ascii=False, indent=1) + "\n")


def _write(out: str | None, text: str) -> int:
    if out is None:
        sys.stdout.write(text)
        return exitcodes.OK
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        return _err(f"cannot write {out}: {exc.strerror or exc}", exitcodes.USAGE)
    print(f"wrote {out}", file=sys.stderr)
    return exitcodes.OK


def cmd_verify_proof(args: argparse.Namespace) -> int:
    from tollhouse.receipts.proofs import check_proof, load_proof
    from tollhouse.receipts.signing import parse_public_key

    try:
        key = parse_public_key(Path(args.public_key).read_bytes())
    except (OSError, ValueError) as exc:
        return _err(f"cannot use --public-key {args.public_key}: {exc}", exitcodes.USAGE)
    try:
        proof = load_proof(Path(args.proof))
    except ValueError as exc:
        return _err(str(exc), exitcodes.USAGE)
    try:
        result = check_proof(proof, key)
    except ValueError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}) if args.json else f"FAILED: {exc}")
        return exitcodes.VERIFY_FAILED
    print(json.dumps({"ok": True, "result": str(result)}) if args.json else result)
    return exitcodes.OK
