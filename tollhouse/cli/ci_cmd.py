"""``tollhouse ci``: the last step of any CI job that ran an agent through tollhouse.

Order matters: the bundle is exported *first*, so a store that fails verification (tampered, cut
short, re-signed) still leaves the evidence as an artifact; then the bundle is verified, summarised,
and the job fails per ``--fail-on``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tollhouse.cli import exitcodes
from tollhouse.cli.ci_summary import (
    DEFAULT_FAIL_ON,
    EXIT_FOR,
    FAIL_ON_CHOICES,
    markdown,
    parse_fail_on,
    summarize,
    table,
)

HELP = f"""\
End a CI job that ran an agent through tollhouse, on any CI system: export the receipts to a bundle
(first, so a store that fails verification still leaves the evidence), verify the bundle, print a
table of the calls by outcome (every call that was not ok listed with its rules and message), and
exit non-zero per --fail-on. Upload the bundle as the job's artifact whatever the exit code.

--fail-on takes a comma-separated list of {", ".join(FAIL_ON_CHOICES)} (default {DEFAULT_FAIL_ON}):
  denied          a call that policy denied
  needs_approval  a call that policy asks about and no one approved (nobody answers in CI)
  error           a tool error, a timeout, a cancelled or interrupted call, an intent with no outcome
  failed          the tool ran but its command failed (shell_run: non-zero exit)
  never           fail only when the receipts do not verify

The origin of the bundle is checked against --public-key, else against the key in
$TOLLHOUSE_SIGNING_KEY / $TOLLHOUSE_SIGNING_KEY_FILE (keep it in a CI secret), else only its integrity
is checked (the summary says so).

examples:
  tollhouse ci
  tollhouse ci --out receipts.jsonl --fail-on denied,error --json ci.json
  tollhouse ci --fail-on never --public-key trusted.pub

exit codes: 0 verified and no call matched --fail-on · 8 the receipts failed verification (the bundle
is still written; a store too damaged to export is copied raw next to it as BUNDLE.db) · otherwise the
code of the first matching category: 3 denied, 4 needs approval, 1 error, 10 failed · 7 no receipt
store (no call reached the gate) or the bundle could not be written · 2 usage or config error
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "ci", help="end a CI job: export, verify, summarise the receipts and fail per --fail-on",
        description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument(
        "--out", default="tollhouse-receipts.jsonl", metavar="FILE",
        help="where to write the bundle (default tollhouse-receipts.jsonl)",
    )  # fmt: skip
    p.add_argument("--fail-on", default=DEFAULT_FAIL_ON, metavar="LIST", help="see above")
    p.add_argument(
        "--public-key", metavar="FILE", help="require this Ed25519 public key (PEM or base64)"
    )  # fmt: skip
    p.add_argument(
        "--require-head", action=argparse.BooleanOptionalAction, default=True,
        help="fail verification when the last entries are not yet covered by a signed checkpoint (a "
        "server killed before it signed); default on",
    )  # fmt: skip
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON (- for stdout)")
    p.add_argument(
        "--summary", metavar="FILE",
        help="append a Markdown summary here (default $GITHUB_STEP_SUMMARY when set)",
    )  # fmt: skip
    p.set_defaults(handler=run)


def _say(message: str) -> None:
    print(f"tollhouse ci: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from tollhouse.cli.common import trust_note
    from tollhouse.config import ConfigError, load_config

    try:
        fail_on = parse_fail_on(args.fail_on)
    except ValueError as exc:
        _say(str(exc))
        return exitcodes.USAGE
    pinned: bytes | None = None
    if args.public_key:
        from tollhouse.receipts.signing import parse_public_key

        try:
            pinned = parse_public_key(Path(args.public_key).read_bytes())
        except (OSError, ValueError) as exc:
            _say(f"cannot use --public-key {args.public_key}: {exc}")
            return exitcodes.USAGE
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        _say(str(exc))
        return exitcodes.USAGE
    note = trust_note(config)
    if note:
        _say(note)
    return _finish(args, config, fail_on, pinned)


def _env_key(state_dir: Path) -> bytes | None:
    """The public half of the key named by $TOLLHOUSE_SIGNING_KEY(_FILE), if one is."""
    from tollhouse.receipts.signing import _named_key, _raw

    named = _named_key(state_dir)
    if named is None:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = serialization.load_pem_private_key(named[0], password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")
    return _raw(private.public_key())


def _finish(args: argparse.Namespace, config: Any, fail_on: tuple[str, ...], pinned: bytes | None) -> int:
    from tollhouse.receipts import ReceiptStoreError, export_bundle, verify_bundle
    from tollhouse.receipts.signing import key_id_of

    state_dir = Path(config.state_dir)
    db, out = state_dir / "receipts.db", Path(args.out)
    origin = "--public-key"
    if pinned is None:
        try:
            pinned = _env_key(state_dir)
        except (ReceiptStoreError, ValueError) as exc:
            _say(f"cannot use $TOLLHOUSE_SIGNING_KEY: {exc}")
            return exitcodes.USAGE
        origin = "the signing key in the environment"
    if not db.exists():
        _say(
            f"no receipt store at {db}: no call reached the gate (is the agent configured to use tollhouse?)"
        )
        return exitcodes.STORE_UNUSABLE
    # 1. Export before anything can fail: the evidence leaves the machine whatever verify says.
    try:
        header = export_bundle(db, out, public_key=pinned if not _has_own_key(state_dir) else None)
    except (sqlite3.DatabaseError, ReceiptStoreError) as exc:
        # The store could not be read into a bundle: keep its files as they are instead. If even
        # that copy cannot be written, the destination is what fails (exit 7), not the receipts.
        try:
            copied = _raw_copy(db, out)
        except OSError as copy_exc:
            _say(f"{exc}; and the store could not be copied either: {copy_exc.strerror or copy_exc}")
            return exitcodes.STORE_UNUSABLE
        _say(f"the receipts cannot be exported ({exc}); the store is copied raw to {copied}")
        verdict = f"FAILED: the store cannot be read: {exc}"
        return _report(args, out, None, verdict, exitcodes.VERIFY_FAILED)
    # 2. Verify the bundle as a reviewer will, against the pinned key and the operator's witness.
    anchors = _witness_anchors(config.root, pinned or _header_key(header))
    result = verify_bundle(out, pinned, require_head=args.require_head, anchors=anchors)
    if result.ok:
        checked = f"key {result.key_id} matches {origin}" if pinned else "origin NOT checked (no key pinned)"
        verdict = f"ok: {result.count} entries, {result.checkpoints} signed checkpoints; {checked}"
        if result.uncovered:
            verdict += f"; the last {result.uncovered} entries are chained but not covered by a signature"
    else:
        where = f" at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
        verdict = f"FAILED{where}: {result.reason}"
    # 3. Summarise and decide.
    summary = summarize(out)
    matched = summary.matching(fail_on)
    code = exitcodes.VERIFY_FAILED if not result.ok else (EXIT_FOR[matched[0]] if matched else exitcodes.OK)
    extra = {
        "verify": result.to_json(),
        "pinned_key": key_id_of(pinned) if pinned else None,
        "summary": summary.to_json(),
        "fail_on": list(fail_on),
        "matched": matched,
    }
    human = sys.stderr if args.json == "-" else sys.stdout  # stdout is the JSON's then
    print(table(summary) + "\n", file=human)
    return _report(args, out, summary, verdict, code, extra)


def _has_own_key(state_dir: Path) -> bool:
    from tollhouse.receipts.signing import public_key_path

    return public_key_path(state_dir).exists()


def _header_key(header: dict[str, Any]) -> bytes | None:
    import base64

    try:
        return base64.b64decode(str(header["public_key"]), validate=True)
    except (KeyError, ValueError):
        return None


def _witness_anchors(root: Path, key: bytes | None) -> list[tuple[str, str]]:
    """The operator's own witness copy, when this machine kept one for the key (a re-signed log
    then fails against it)."""
    from tollhouse.receipts.signing import key_id_of
    from tollhouse.receipts.witness import anchors_from, operator_witness

    folder = operator_witness(root)
    if key is None or not folder.is_dir():
        return []
    try:
        return anchors_from(folder, key_id_of(key))
    except ValueError:
        return []


def _raw_copy(db: Path, out: Path) -> Path:
    """The store's files as they are, next to where the bundle would have gone."""
    target = out.with_name(out.name + ".db")
    for suffix in ("", "-wal"):
        source = Path(str(db) + suffix)
        if source.exists():
            shutil.copyfile(source, Path(str(target) + suffix))
    return target


def _report(
    args: argparse.Namespace,
    out: Path,
    summary: Any,
    verdict: str,
    code: int,
    extra: dict[str, Any] | None = None,
) -> int:
    human = sys.stderr if args.json == "-" else sys.stdout
    matched = f" (--fail-on matched {', '.join(extra['matched'])})" if extra and extra["matched"] else ""
    print(f"receipts: {verdict}", file=human)
    print(f"bundle: {out} (upload it as the job's artifact)", file=human)
    print(f"exit code: {code}{matched}", file=human)
    doc = {"bundle": str(out), "ok": code == exitcodes.OK, "exit_code": code, "verification": verdict,
           **(extra or {})}  # fmt: skip
    if args.json:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    target = args.summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if target:  # the job's page says FAILED too when the store could not even be read
        from tollhouse.cli.ci_summary import Summary

        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown(summary or Summary(), verdict, str(out), code))
    _github_outputs(out, code, summary)
    return code


def _github_outputs(out: Path, code: int, summary: Any) -> None:
    """Step outputs for a workflow (``steps.<id>.outputs.bundle``), when run as a GitHub step."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return
    values = {"bundle": str(out), "exit-code": str(code)}
    if summary is not None:
        values["calls"] = str(len(summary.calls))
        values["denied"] = str(summary.counts().get("denied", 0))
    with open(target, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            if "\n" not in value and "\r" not in value:  # one line each: a value cannot add outputs
                fh.write(f"{name}={value}\n")
