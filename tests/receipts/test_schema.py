"""The canonical form and entry validation."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
import rfc8785

from tollhouse.receipts.schema import (
    FIELDS,
    INPUT_FIELDS,
    canonical_bytes,
    entry_hash,
    make_entry,
    now_rfc3339,
    validate_entry,
)

TRICKY = [
    "",
    "plain",
    'quote " backslash \\ slash /',
    "".join(chr(c) for c in range(0x20)),  # every control character
    "\x7f del, \u0085 nel, \u2028 line sep, \u2029 para sep",
    "héllo wörld ü ß 日本語 한국어 עברית",
    "emoji 🧾 and astral 𝄞",
    "\ufeff bom \u200b zero width \u202e bidi",
    "tab\tnewline\ncr\rformfeed\fbackspace\b",
]


@pytest.mark.parametrize("value", TRICKY)
def test_fast_path_equals_rfc8785(value: str) -> None:
    obj = {f: None for f in FIELDS if f != "hash"}
    obj.update(kind="intent", tool=value, message=value + value, seq=2**53 - 1, duration_us=-(2**53 - 1))
    obj["excerpt"] = value[::-1]
    assert canonical_bytes(obj) == rfc8785.dumps(obj)


@pytest.mark.parametrize("value", TRICKY)
def test_entry_hash_written_field_by_field_equals_the_rfc8785_digest(value: str) -> None:
    entry = {f: None for f in FIELDS if f != "hash"}
    entry.update(kind="intent", tool=value, message=value * 2, seq=2**53 - 1, duration_us=-(2**53 - 1))
    entry.update(excerpt=value[::-1], arguments='{"k":"' + value.encode("unicode_escape").decode() + '"}')
    assert entry_hash(entry) == hashlib.sha256(rfc8785.dumps(entry)).hexdigest()
    entry["duration_us"] = 0
    assert entry_hash(entry) == hashlib.sha256(rfc8785.dumps(entry)).hexdigest()


def test_entry_hash_refuses_what_the_encoder_refuses() -> None:
    entry = {f: None for f in FIELDS if f != "hash"}
    entry["duration_us"] = float("nan")
    with pytest.raises(ValueError, match="Out of range float"):
        entry_hash(entry)


def test_now_is_rfc3339_utc_with_microseconds() -> None:
    before = datetime.now(UTC)
    text = now_rfc3339()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text)
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= after


def test_fast_path_equals_rfc8785_for_zero_and_small_ints() -> None:
    for n in (0, 1, -1, 10, 1000000, 123456789):
        obj = {"seq": n, "a": None, "b": "x"}
        assert canonical_bytes(obj) == rfc8785.dumps(obj)


def test_make_entry_fills_nones_and_json_text() -> None:
    entry = make_entry("intent", "c1", tool="t", arguments={"b": 1, "a": "é"}, rules=["r1"], details={})
    assert set(entry) == set(INPUT_FIELDS)
    assert entry["arguments"] == '{"a":"é","b":1}'
    assert entry["rules"] == '["r1"]'
    assert entry["operator"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, r"unknown fields \['surprise'\]"),
        ({"seq": 3}, r"fields \['seq'\] are set by the store"),
        ({"hash": "x"}, r"fields \['hash'\] are set by the store"),
        ({"kind": "deleted"}, "receipt kind must be one of"),
        ({"duration_us": True}, "duration_us must be an integer"),
        ({"duration_us": 1.5}, "duration_us must be an integer"),
        ({"duration_us": 2**53}, "duration_us must be an integer within"),
        ({"tool": 3}, "tool must be a string or None"),
        ({"tool": "bad \ud800 surrogate"}, "not valid Unicode"),
        ({"outcome": "ok"}, "intent receipt has no outcome"),
        ({"decision": "maybe"}, "decision must be allow, ask, deny"),
        ({"arguments": "{not json"}, "arguments must be JSON text"),
        ({"rules": '{"a":1}'}, "rules must be a JSON array"),
        ({"details": "[1]"}, "details must be a JSON object"),
        ({"call_id": None}, "needs a call_id"),
    ],
)
def test_validate_rejects(change: dict, message: str) -> None:
    entry = make_entry("intent", "c1")
    entry.update(change)
    with pytest.raises(ValueError, match=message):
        validate_entry(entry)


def test_validate_reports_missing_fields() -> None:
    entry = make_entry("intent", "c1")
    del entry["tool"], entry["session"]
    with pytest.raises(ValueError, match=r"missing fields \['session', 'tool'\]"):
        validate_entry(entry)


def test_outcome_kinds() -> None:
    with pytest.raises(ValueError, match="outcome receipt needs outcome"):
        make_entry("outcome", "c1")
    with pytest.raises(ValueError, match="interrupted receipt has outcome 'interrupted'"):
        make_entry("interrupted", "c1", outcome="ok")
    assert make_entry("event", None, tool="resource_read")["kind"] == "event"
