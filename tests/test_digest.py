"""The fast canonical path must produce exactly the RFC 8785 bytes wherever it is taken."""

import pytest
import rfc8785

from tollhouse.gate.digest import _plain, canonical_json

CASES = [
    {"b": 1, "a": [True, None, "x"], "é": "ü", "z": {"y": '\u2028\x00\x1f"\\/'}},
    {"emoji": "😀", "ctrl": "".join(chr(i) for i in range(32)), "del": "\x7f"},
    ["nested", [[[{"k": -(2**53) + 1}]]], 2**53 - 1],
    {"\ue000": 1, "a": 2},  # below-surrogate keys only on the fast path
    {"\U0001f600": 1, "\uffff": 2},  # astral vs. BMP-private keys: sorted differently by UTF-16
    {"f": 1.5, "g": 1e21, "h": 1.0},
]


@pytest.mark.parametrize("value", CASES)
def test_canonical_json_is_rfc8785(value) -> None:
    assert canonical_json(value).encode() == rfc8785.dumps(value)


def test_fast_path_is_taken_only_where_safe() -> None:
    assert _plain(CASES[0]) and _plain(CASES[2])
    assert not _plain(CASES[4]) and not _plain(CASES[5]) and not _plain({"n": 2**60})
