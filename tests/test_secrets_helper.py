"""The helper itself must fail when a secret is there, in each form it claims to find."""

import base64
import json
from pathlib import Path

import pytest

from tests.secrets import assert_no_secret

SECRET = 'ghp_A1b2C3d4"E5f6G7h8\\I9j0K1l2M3n4ü'


@pytest.mark.parametrize(
    "blob",
    [
        SECRET.encode(),
        json.dumps({"v": SECRET}).encode(),
        json.dumps({"v": SECRET}, ensure_ascii=False).encode(),
        base64.b64encode(b"prefix" + SECRET.encode() + b"suffix"),
        base64.b64encode(b"prefi" + SECRET.encode()),
        base64.urlsafe_b64encode(b"pref" + SECRET.encode() + b"x"),
        SECRET.encode().hex().encode(),
    ],
)
def test_each_form_is_found(blob: bytes, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="found in"):
        assert_no_secret(blob, SECRET)
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "store.db-wal").write_bytes(b"xx" + blob + b"yy")
    with pytest.raises(AssertionError, match=r"store\.db-wal"):
        assert_no_secret(tmp_path, SECRET)


def test_clean_bytes_pass_and_nothing_to_search_fails(tmp_path: Path) -> None:
    assert_no_secret(b"[REDACTED:github-token]", SECRET)
    with pytest.raises(AssertionError, match="nothing to search"):
        assert_no_secret(tmp_path / "missing", SECRET)
