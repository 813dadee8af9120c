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


FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    30.0,
    0.5,
    1.5,
    -2.25,
    0.1,
    0.2 + 0.1,
    1 / 3,
    2 / 3,
    123.456,
    1e-4,
    1.5e-4,
    9.999e-5,
    1e-5,
    1e-7,
    5e-324,
    1e15,
    1e15 + 0.5,
    9007199254740991.0,
    9007199254740992.0,
    1e16,
    1.5e16,
    1e20,
    1e21,
    1.7976931348623157e308,
    4.35,
    0.000123,
    99999.99999,
    3.141592653589793,
]


@pytest.mark.parametrize("x", FLOATS + [-x for x in FLOATS])
def test_floats_take_the_fast_path_only_as_rfc8785_writes_them(x: float) -> None:
    value = {"timeout_s": x, "nested": [x, {"x": x}], "n": 3}
    assert canonical_json(value).encode() == rfc8785.dumps(value)


def test_random_floats_match_rfc8785() -> None:
    import random

    rng = random.Random(8785)
    for _ in range(2000):
        x = rng.choice(
            [
                rng.uniform(-1e6, 1e6),
                rng.random() * 10 ** rng.randint(-8, 22),
                float(rng.randint(-(10**17), 10**17)),
            ]
        )
        assert canonical_json([x]).encode() == rfc8785.dumps([x]), x
