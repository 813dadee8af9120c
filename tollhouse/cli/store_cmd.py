"""``tollhouse store``: which store receipts go to, verify every log in it, move SQLite into PostgreSQL."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes
from tollhouse.cli.common import CommandError, load, print_json

STORE_HELP = """\
Receipts live in the workspace's SQLite file (.tollhouse/receipts.db) unless [store] url or
TOLLHOUSE_STORE_URL names a PostgreSQL database, where every server writes its own log (named by its
signing key). See docs/store.md.

examples:
  tollhouse store status
  TOLLHOUSE_STORE_URL=postgresql://tollhouse@db.internal/tollhouse tollhouse store verify
  tollhouse store migrate --to postgresql://tollhouse@db.internal/tollhouse
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "store", help="where receipts are stored: status, verify every log, migrate SQLite to PostgreSQL",
        description=STORE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    actions = p.add_subparsers(dest="store_action", required=True, metavar="ACTION")
    st = actions.add_parser("status", help="the store in use and each log's size and signed head")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=run_status)
    ve = actions.add_parser("verify", help="verify every log in the store (or one)")
    ve.add_argument("--log", action="append", metavar="ID", help="only this log (repeatable)")
    ve.add_argument("--json", action="store_true")
    ve.set_defaults(handler=run_verify)
    ex = actions.add_parser("export", help="one verifiable bundle per log (<log id>.jsonl) into a folder")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder for the bundles (made if missing)")
    ex.add_argument("--log", action="append", metavar="ID", help="only this log (repeatable)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(handler=run_export)
    mi = actions.add_parser(
        "migrate", help="copy this workspace's SQLite receipts into PostgreSQL and verify the copy"
    )
    mi.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host[:port]/database")
    mi.add_argument("--json", action="store_true")
    mi.set_defaults(handler=run_migrate)


def _url(config: Any) -> str | None:
    from tollhouse.store import store_url

    try:
        return store_url(config)
    except ValueError as exc:
        raise CommandError(str(exc), exitcodes.USAGE) from exc


def _store_error(exc: Exception) -> CommandError:
    return CommandError(str(exc), exitcodes.STORE_UNUSABLE)


def run_status(args: argparse.Namespace) -> int:
    from tollhouse.receipts.errors import ReceiptStoreError
    from tollhouse.store.pg import redacted_url

    config = load(args)
    url = _url(config)
    try:
        if url is None:
            data: dict[str, Any] = {"backend": "sqlite", "location": str(config.state_dir / "receipts.db")}
            data["logs"] = _sqlite_status(config.state_dir)
        else:
            from tollhouse.store.receipts_pg import pg_status

            data = {"backend": "postgresql", "location": redacted_url(url), "logs": pg_status(url)}
    except ReceiptStoreError as exc:
        raise _store_error(exc) from exc
    if args.json:
        print_json(data)
        return exitcodes.OK
    print(f"{data['backend']}: {data['location']}")
    if not data["logs"]:
        print("  no receipts yet")
    for log in data["logs"]:
        print(f"  log {log['log_id']}: {log['entries']} entries, signed through {log['signed_through']}")
    return exitcodes.OK


def _sqlite_status(state_dir: Any) -> list[dict[str, Any]]:
    from tollhouse.receipts.read import connect_readonly
    from tollhouse.receipts.signing import key_id_of, load_public_key, public_key_path

    db = state_dir / "receipts.db"
    if not db.exists():
        return []
    pub = public_key_path(state_dir)
    conn = connect_readonly(db)
    try:
        head = conn.execute("SELECT seq, hash, time FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
        (signed,) = conn.execute("SELECT coalesce(max(size), 0) FROM notes").fetchone()
    finally:
        conn.close()
    return [
        {
            "log_id": key_id_of(load_public_key(pub)) if pub.exists() else None,
            "entries": head[0] if head else 0,
            "head": head[1] if head else None,
            "last_time": head[2] if head else None,
            "signed_through": int(signed),
        }
    ]


def run_verify(args: argparse.Namespace) -> int:
    from tollhouse.receipts.errors import ReceiptStoreError

    config = load(args)
    url = _url(config)
    if url is None:
        from tollhouse.receipts.verify import verify_db

        try:
            results = [("sqlite", verify_db(config.state_dir / "receipts.db"))]
        except ReceiptStoreError as exc:
            raise _store_error(exc) from exc
        return report_verify(results, args.json)
    return verify_pg_logs(config, url, log_ids=args.log, as_json=args.json)


def verify_pg_logs(
    config: Any,
    url: str,
    *,
    log_ids: list[str] | None = None,
    pinned: bytes | None = None,
    anchors: list[tuple[str, str]] = (),  # type: ignore[assignment]
    witness_specs: list[str] = (),  # type: ignore[assignment]
    require_head: bool = True,
    as_json: bool = False,
) -> int:
    """Verify every log of a PostgreSQL store (``receipts verify`` and ``store verify`` on one).

    ``pinned`` pins the key of its own log; ``anchors`` (older checkpoints) go to the log their
    origin line names; each witness folder (the config's, the operator's own, and ``witness_specs``)
    gives every log the copies it holds for that log's key."""
    from tollhouse.receipts.errors import ReceiptStoreError
    from tollhouse.receipts.signing import key_id_of
    from tollhouse.receipts.witness import operator_witness, parse_witness_spec
    from tollhouse.store.pg import connect, list_logs
    from tollhouse.store.receipts_pg import verify_pg

    try:
        folders = [parse_witness_spec(s) for s in [*config.receipts.witnesses, *witness_specs]]
    except ValueError as exc:
        raise CommandError(f"witness: {exc}", exitcodes.USAGE) from exc
    own = operator_witness(config.root)
    if own.is_dir():
        folders.insert(0, own)
    try:
        conn = connect(url)
        try:
            known = [log[0] for log in list_logs(conn)]
        finally:
            conn.close()
        by_log: dict[str, list[tuple[str, str]]] = {}
        for label, text in anchors:
            origin = text.split("\n", 1)[0]
            by_log.setdefault(origin.rsplit("/", 1)[-1], []).append((label, text))
        for log_id in known:
            for folder in folders:
                by_log.setdefault(log_id, []).extend(_witnessed(folder, log_id))
        keys = {key_id_of(pinned): pinned} if pinned is not None else None
        checked = verify_pg(url, log_ids=log_ids, keys=keys, anchors=by_log, require_head=require_head)
    except ReceiptStoreError as exc:
        raise _store_error(exc) from exc
    return report_verify([(r.log_id, r.result) for r in checked], as_json)


def _witnessed(folder: Any, log_id: str) -> list[tuple[str, str]]:
    """What a witness holds for this log. Unlike a one-log store, a folder without this log's
    file says nothing about it: the other files there are other servers' logs, not a re-keying."""
    from tollhouse.receipts.witness import anchors_from, witness_file

    if isinstance(folder, Path):
        path = witness_file(folder, log_id)
        if not path.is_file():
            return []
        try:
            return [(f"the witness copy {path}", path.read_text(encoding="utf-8"))]
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read witness checkpoint {path}: {exc}", exitcodes.USAGE) from exc
    try:
        return anchors_from(folder, log_id)  # an HTTP witness serves each key's file by its id
    except ValueError as exc:
        raise CommandError(str(exc), exitcodes.USAGE) from exc


def report_verify(results: list[tuple[str, Any]], as_json: bool) -> int:
    ok = all(r.ok for _, r in results)
    if as_json:
        print_json({"ok": ok, "logs": [{"log_id": i, **r.to_json()} for i, r in results]})
    else:
        if not results:
            print("no logs in the store yet")
        for log_id, r in results:
            line = f"log {log_id}: {r.count} entries"
            if r.ok:
                print(f"{line}, {r.checkpoints} checkpoints, {r.anchors} witness/older checkpoints: ok")
            else:
                print(f"{line}: FAILED at {r.first_bad_seq}: {r.reason}")
    return exitcodes.OK if ok else exitcodes.VERIFY_FAILED


def run_export(args: argparse.Namespace) -> int:
    from tollhouse.receipts.errors import ReceiptStoreError

    config = load(args)
    url = _url(config)
    if url is None:
        raise CommandError(
            "store export is for a PostgreSQL store; this workspace's receipts are in SQLite: "
            "use `tollhouse receipts export --out FILE`",
            exitcodes.USAGE,
        )
    from tollhouse.store.receipts_pg import export_pg

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot make the folder {out}: {exc.strerror or exc}", exitcodes.USAGE) from exc
    try:
        headers = export_pg(url, out, args.log)
    except ReceiptStoreError as exc:
        raise _store_error(exc) from exc
    if args.json:
        print_json([{**h, "path": str(out / f"{h['key_id']}.jsonl")} for h in headers])
    else:
        for h in headers:
            print(f"log {h['key_id']}: {h['count']} entries -> {out / (h['key_id'] + '.jsonl')}")
    return exitcodes.OK


def run_migrate(args: argparse.Namespace) -> int:
    from tollhouse.receipts.errors import ReceiptStoreError
    from tollhouse.store import check_url
    from tollhouse.store.migrate import migrate_sqlite_to_pg
    from tollhouse.store.pg import redacted_url

    config = load(args)
    try:
        url = check_url(args.to, "--to")
    except ValueError as exc:
        raise CommandError(str(exc), exitcodes.USAGE) from exc
    if url is None:
        raise CommandError("--to needs a postgresql:// URL", exitcodes.USAGE)
    try:
        done = migrate_sqlite_to_pg(config.state_dir, url)
    except ReceiptStoreError as exc:
        raise _store_error(exc) from exc
    if args.json:
        print_json(
            {"log_id": done.log_id, "copied": done.copied, "total": done.total, **done.result.to_json()}
        )
    else:
        print(
            f"copied {done.copied} receipts into {redacted_url(url)} "
            f"(log {done.log_id}, {done.total} in all); "
            f"the copy verifies against the source's {done.result.anchors} checkpoints"
            + (f"; the last {done.result.uncovered} are not signed yet" if done.result.uncovered else "")
        )
        print(
            f'to write there from now on: [store] url = "{redacted_url(url)}" (or TOLLHOUSE_STORE_URL)',
            file=sys.stderr,
        )
    return exitcodes.OK
