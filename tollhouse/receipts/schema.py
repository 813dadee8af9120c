"""The receipt entry: its fields, how it is validated, and how it is hashed.

An entry is a flat object whose values are only ``str``, ``int`` or ``None`` and whose keys are ASCII.
Structured values (arguments, rule ids, details) are stored as canonical JSON *text*. For such an
object the RFC 8785 (JCS) canonical form is exactly what ``json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` writes: keys sort the same by UTF-16 code unit and by
code point when they are ASCII, strings escape the same characters the same way (``\\"``, ``\\\\``,
``\\b\\f\\n\\r\\t``, other controls as lowercase ``\\u00xx``), and integers within +-2**53 print the
same. The tests prove this against the ``rfc8785`` package; the fast path is what makes verifying
100,000 entries take well under two seconds.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

ZERO_HASH = "0" * 64

# Every field of an entry, in table column order. ``hash`` is last: it covers all the others.
FIELDS: tuple[str, ...] = (
    "seq",
    "kind",
    "call_id",
    "time",
    "operator",
    "credentials",
    "channel",
    "client",
    "session",
    "case_id",
    "tool",
    "arguments",
    "args_digest",
    "decision",
    "rules",
    "policy_hash",
    "approver",
    "outcome",
    "duration_us",
    "result_digest",
    "excerpt",
    "message",
    "details",
    "process",
    "prev_hash",
    "hash",
)
HASHED_FIELDS: tuple[str, ...] = FIELDS[:-1]
STORE_FIELDS = frozenset({"seq", "time", "prev_hash", "hash"})
"""Set by the store when it appends; a caller must not pass them."""
INPUT_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f not in STORE_FIELDS)
_INPUT_SET = frozenset(INPUT_FIELDS)

INT_FIELDS = frozenset({"seq", "duration_us"})
JSON_FIELDS = {"credentials": list, "rules": list, "details": dict, "arguments": object}
"""Fields holding canonical JSON text, and the JSON type the text must decode to."""

KINDS = ("intent", "outcome", "interrupted", "event", "model")
"""``model``: one request to a model provider by ``tollhouse run`` (``gate/model_turns.py``)."""
DECISIONS = ("allow", "ask", "deny")
OUTCOMES = ("ok", "error", "denied", "needs_approval", "timeout", "cancelled", "interrupted")
_MAX_INT = 2**53 - 1  # JCS writes numbers as IEEE doubles; larger integers would not round-trip

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode
_SORTED_HASHED = tuple(sorted(HASHED_FIELDS))


def json_text(value: Any) -> str:
    """Canonical JSON text for a structured field (sorted keys, no spaces, UTF-8 as is).

    ``json.dumps`` with these options builds this very encoder on every call; it is built once."""
    return _encode(value)


def canonical_bytes(obj: Mapping[str, Any]) -> bytes:
    """RFC 8785 bytes of a flat object of str/int/None values with ASCII keys (see module doc)."""
    return _encode(obj).encode("utf-8")


_ENCODE_STR = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes for a str
_PREFIXES = tuple(('{"' if i == 0 else ',"') + k + '":' for i, k in enumerate(_SORTED_HASHED))


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 hex over the canonical JSON of every field except ``hash``.

    Written out field by field, which is twice as fast as the encoder on the append path; the text
    is the encoder's to the byte (tests compare both), and ``verify`` recomputes it with the encoder.
    A value that is not str, int or None goes to the encoder, which refuses it properly."""
    parts = []
    for prefix, name in zip(_PREFIXES, _SORTED_HASHED, strict=True):
        value = entry[name]
        if value is None:
            parts.append(prefix + "null")
        elif type(value) is str:
            parts.append(prefix + _ENCODE_STR(value))
        elif type(value) is int:
            parts.append(prefix + int.__repr__(value))
        else:
            return hashlib.sha256(canonical_bytes({k: entry[k] for k in _SORTED_HASHED})).hexdigest()
    parts.append("}")
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def hash_row(values: tuple[Any, ...]) -> str:
    """Like :func:`entry_hash` for a row in ``HASHED_FIELDS`` order (the verifier's hot path)."""
    return hashlib.sha256(_encode(dict(zip(HASHED_FIELDS, values, strict=True))).encode("utf-8")).hexdigest()


_second: tuple[int, str] = (-1, "")


def now_rfc3339() -> str:
    """UTC now as ``2026-11-22T05:01:47.123456Z``; the seconds part is formatted once per second."""
    global _second
    sec, us = divmod(time.time_ns() // 1000, 1_000_000)
    if sec != _second[0]:
        _second = (sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{us:06d}Z"


def make_entry(kind: str, call_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A complete entry dict for :meth:`ReceiptStore.append`: unnamed fields are ``None``.

    Structured fields may be given as Python values; they are turned into canonical JSON text here.
    """
    unknown = set(fields) - _INPUT_SET
    if unknown:
        raise ValueError(_field_message(unknown, set()))
    entry: dict[str, Any] = dict.fromkeys(INPUT_FIELDS)
    entry.update(fields, kind=kind, call_id=call_id)
    encoded: dict[str, Any] = {}
    for name in JSON_FIELDS:
        value = entry[name]
        if value is not None and not isinstance(value, str):
            entry[name] = json_text(value)
            if type(value) is dict or type(value) is list:  # what its text decodes to: no need to decode
                encoded[name] = value
    return validate_entry(entry, encoded)


def _field_message(unknown: set[str], missing: set[str]) -> str:
    parts = []
    if unknown:
        stored = unknown & STORE_FIELDS
        other = unknown - STORE_FIELDS
        if other:
            parts.append(f"unknown fields {sorted(other)}")
        if stored:
            parts.append(f"fields {sorted(stored)} are set by the store and must not be passed")
    if missing:
        parts.append(f"missing fields {sorted(missing)}")
    return "receipt entry: " + "; ".join(parts) + " (make_entry() builds a complete entry)"


_scan_json = json.scanner.make_scanner(json.JSONDecoder())


def _json_value(text: str) -> Any:
    """``json.loads`` for text that is one JSON value with nothing around it (what make_entry
    writes), without its wrapper's cost; anything else is left to ``json.loads`` to judge."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        end = -1
    return value if end == len(text) else json.loads(text)


def validate_entry(entry: Mapping[str, Any], decoded_json: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check an entry a caller wants appended; return a plain copy. Raises ValueError saying what.

    ``decoded_json`` holds JSON fields ``redact_entry`` already decoded from this very text, so they
    are not decoded twice."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"receipt entry must be a dict, not {type(entry).__name__}")
    if entry.keys() != _INPUT_SET:
        keys = set(entry.keys())
        raise ValueError(_field_message(keys - _INPUT_SET, _INPUT_SET - keys))
    out = dict(entry)
    for name, value in out.items():
        if value is None:
            continue
        if name in INT_FIELDS:
            if type(value) is not int or not -_MAX_INT <= value <= _MAX_INT:
                raise ValueError(f"receipt field {name} must be an integer within +-2**53, got {value!r}")
        elif type(value) is not str:
            raise ValueError(f"receipt field {name} must be a string or None, got {type(value).__name__}")
        elif not value.isascii():  # ASCII is always encodable; isascii() is O(1) in CPython
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(f"receipt field {name} is not valid Unicode (lone surrogate)") from exc
    kind = out["kind"]
    if kind not in KINDS:
        raise ValueError(f"receipt kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind != "event" and not out["call_id"]:
        raise ValueError(f"a receipt of kind {kind} needs a call_id")
    outcome = out["outcome"]
    if kind == "intent" and outcome is not None:
        raise ValueError("an intent receipt has no outcome yet (outcome must be None)")
    if kind in ("outcome", "model") and outcome not in OUTCOMES:
        raise ValueError(f"an outcome receipt needs outcome in {', '.join(OUTCOMES)}, got {outcome!r}")
    if kind == "interrupted" and outcome != "interrupted":
        raise ValueError("an interrupted receipt has outcome 'interrupted'")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"receipt outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if out["decision"] not in (None, *DECISIONS):
        raise ValueError(f"receipt decision must be allow, ask, deny or None, got {out['decision']!r}")
    for name, expected in JSON_FIELDS.items():
        text = out[name]
        if text is None:
            continue
        if decoded_json is not None and name in decoded_json:
            decoded = decoded_json[name]
        else:
            try:
                decoded = _json_value(text)
            except ValueError as exc:
                raise ValueError(f"receipt field {name} must be JSON text ({exc})") from exc
        if expected is not object and not isinstance(decoded, expected):
            what = "a JSON array" if expected is list else "a JSON object"
            raise ValueError(f"receipt field {name} must be {what}, got {text[:40]!r}")
    return out


_NOT_TEXT = frozenset({"kind", "decision", "outcome", "prev_hash", "hash", "time", "seq"})
"""Fields whose values the store or the schema fixes (enums, hashes): nothing a caller says goes there."""


def redact_entry(entry: Mapping[str, Any], redactor: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entry with every free-text field through ``redactor.redact_text`` and every JSON field
    decoded, through ``redactor.redact`` (values, and keys where the redactor redacts keys) and
    encoded again; and the decoded value of each JSON field, which its new text encodes. JSON text
    that does not decode is left for ``validate_entry`` to refuse."""
    decoded_json: dict[str, Any] = {}
    if not isinstance(entry, Mapping):
        return entry, decoded_json  # type: ignore[return-value]  # validate_entry says what is wrong
    out = dict(entry)
    clean = getattr(redactor, "clean_json", None)  # MemoRedactor: JSON texts that redact to themselves
    for name, value in out.items():
        if type(value) is not str or name in _NOT_TEXT:
            continue
        if name in JSON_FIELDS:
            if clean is not None and value in clean:
                decoded_json[name] = clean[value]
                continue
            try:
                decoded = _json_value(value)
            except ValueError:
                continue
            redacted = redactor.redact(decoded)
            if redacted != decoded:
                out[name] = json_text(redacted)
            elif clean is not None:
                redactor.remember_clean_json(value, decoded)
            decoded_json[name] = redacted
        else:
            out[name] = redactor.redact_text(value)
    return out, decoded_json


def decode_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A stored entry with its JSON-text fields decoded, for reading and display."""
    out = dict(entry)
    for name in JSON_FIELDS:
        if out.get(name) is not None:
            try:
                out[name] = json.loads(out[name])
            except ValueError:
                pass  # a damaged row is still shown as stored; `receipts verify` reports it
    return out


SCHEMA_VERSION = 2
DDL = f"""
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    call_id TEXT,
    time TEXT NOT NULL,
    operator TEXT, credentials TEXT, channel TEXT, client TEXT, session TEXT, case_id TEXT,
    tool TEXT, arguments TEXT, args_digest TEXT, decision TEXT, rules TEXT, policy_hash TEXT,
    approver TEXT, outcome TEXT, duration_us INTEGER, result_digest TEXT, excerpt TEXT,
    message TEXT, details TEXT, process TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- Every index is paid for by every append it covers (about 4 µs each). Calls by id serve recovery and
-- `receipts show`; the case indexes are partial, so only calls made for a case pay for them. Session
-- and kind filters ride on these or scan back from the newest row. Stores made before this layout
-- swap their old indexes on the next open.
DROP INDEX IF EXISTS receipts_case;
DROP INDEX IF EXISTS receipts_case_tool;
DROP INDEX IF EXISTS receipts_session;
DROP INDEX IF EXISTS receipts_kind;
CREATE INDEX IF NOT EXISTS receipts_call ON receipts(call_id);
CREATE INDEX IF NOT EXISTS receipts_case_seq ON receipts(case_id) WHERE case_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS receipts_case_work ON receipts(case_id, tool, kind, outcome)
    WHERE case_id IS NOT NULL;
-- Recovery's mark: every intent at or below closed_through had its outcome (or interrupted entry)
-- when it was set, so the next start reads only the intents above it. Not part of the chain: a
-- forged mark can only hide a dead call's missing outcome from recovery, never alter a receipt.
CREATE TABLE IF NOT EXISTS recovery (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    closed_through INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    head_hash TEXT NOT NULL,
    time TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
-- v1 checkpoints (signed JSON over a chain head). No longer written; kept so that stores from v1 keep
-- every signature they had, and verify still checks them. v2 signs notes over the Merkle root.
-- The Merkle tree over the receipts (merkle_store.py): derived, never trusted by a verifier.
CREATE TABLE IF NOT EXISTS merkle_nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS merkle_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
-- Signed checkpoints in the C2SP signed-note format: the tree of `size` receipts has root `root`.
CREATE TABLE IF NOT EXISTS notes (
    size INTEGER PRIMARY KEY,
    root TEXT NOT NULL,
    time TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS notes_no_update BEFORE UPDATE ON notes
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS notes_no_delete BEFORE DELETE ON notes
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
-- Append-only by construction: the store never updates or deletes. These triggers stop accidents;
-- a deliberate attacker can drop them, which is what the hash chain and signatures are for.
CREATE TRIGGER IF NOT EXISTS receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS receipts_no_delete BEFORE DELETE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
PRAGMA user_version = {SCHEMA_VERSION};
"""
COLUMNS = ", ".join(FIELDS)
INSERT_SQL = f"INSERT INTO receipts ({COLUMNS}) VALUES ({', '.join('?' * len(FIELDS))})"  # noqa: S608
