"""Issue 14: files stay correct under redaction. A fixture with a JWT-looking sample survives a
read-edit-write round trip through the real gate; a write-back of markers is refused; receipts never
hold the secret; and no cut (files_read's long line, files_search's line) splits a token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.files.conftest import CONFIG
from tests.secrets import assert_no_secret
from tollhouse.config import parse_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.types import Call

pytestmark = pytest.mark.anyio

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmaXh0dXJlIn0." + "Zml4dHVyZS1zaWduYXR1cmUtb25seQ"
GH = "ghp_" + "R1t2Y3u4I5o6P7a8S9d0F1g2H3j4K5l6Z7x8"
FIXTURE = f'"""Test data."""\nSAMPLE = "{JWT}"\nOTHER = 1\nTOKENS = ["{GH}", "{GH}"]\n'


@pytest.fixture
async def gate(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "fixture.py").write_text(FIXTURE)
    path = root / "tollhouse.toml"
    path.write_text(CONFIG)
    async with await Gate.open(parse_config(CONFIG, path)) as opened:
        yield opened, root


async def call(gate: Gate, tool: str, **arguments):  # type: ignore[no-untyped-def]
    return await gate.call(Call(tool, arguments))


def edit(old: str, new: str, **more) -> dict:  # type: ignore[no-untyped-def]
    return {"path": "fixture.py", "edits": [{"old_text": old, "new_text": new, **more}]}


async def test_read_edit_round_trip_keeps_the_real_value(gate) -> None:  # type: ignore[no-untyped-def]
    g, root = gate
    read = await call(g, "files_read", path="fixture.py")
    shown = read.result["content"]
    assert 'SAMPLE = "[REDACTED:jwt]"' in shown and JWT not in json.dumps(read.result)

    # An edit near the redacted value; one keeping the marker; one moving it to a new name.
    assert (await call(g, "files_edit", **edit("OTHER = 1", "OTHER = 2"))).ok
    kept = await call(
        g, "files_edit", **edit('SAMPLE = "[REDACTED:jwt]"', 'SAMPLE = "[REDACTED:jwt]"  # fixture')
    )
    assert kept.ok, kept.message
    moved = await call(
        g, "files_edit", **edit('SAMPLE = "[REDACTED:jwt]"  # fixture\n', 'RENAMED = "[REDACTED:jwt]"\n')
    )
    assert moved.ok, moved.message
    both = await call(
        g,
        "files_edit",
        **edit('["[REDACTED:github-token]", "[REDACTED:github-token]"]', '["[REDACTED:github-token]"]'),
    )
    assert both.ok, both.message
    on_disk = (root / "fixture.py").read_text()
    assert on_disk == f'"""Test data."""\nRENAMED = "{JWT}"\nOTHER = 2\nTOKENS = ["{GH}"]\n'
    for out in (kept, moved, both):
        assert JWT not in json.dumps(out.result) and GH not in json.dumps(out.result)  # diffs redacted
    assert_no_secret(root / ".tollhouse", JWT)
    assert_no_secret(root / ".tollhouse", GH)


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            'SAMPLE = "[REDACTED:jwt]"',
            'SAMPLE = "[REDACTED:jwt]" + "[REDACTED:jwt]"',
            "more often than old_text",
        ),
        ('SAMPLE = "[REDACTED:jwt]"', 'SAMPLE = "[REDACTED:github-token]"', "more often than old_text"),
        ('SAMPLE = "eyJhbGci', 'SAMPLE = "x', "was not found"),  # guessing a secret's start: no oracle
        ("UiJ9.eyJzdWIiOiJmaXh0dXJlIn0", "x", "was not found"),  # its middle
        ('SAMPLE = "[REDACTED:github-token]"', "x", "was not found"),  # the wrong kind
    ],
)
async def test_edits_that_would_corrupt_or_probe_are_refused(gate, old: str, new: str, why: str) -> None:  # type: ignore[no-untyped-def]
    g, root = gate
    out = await call(g, "files_edit", **edit(old, new))
    assert out.status == "error" and why in out.message and "nothing was changed" in out.message.lower()
    assert (root / "fixture.py").read_text() == FIXTURE


async def test_writing_back_a_redacted_read_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    g, root = gate
    shown = (await call(g, "files_read", path="fixture.py")).result["content"]
    out = await call(g, "files_write", path="fixture.py", content=shown + "# more\n", overwrite=True)
    assert out.status == "error"
    assert "would replace the real value with the marker" in out.message and "files_edit" in out.message
    assert (root / "fixture.py").read_text() == FIXTURE
    # A file without secrets may hold marker text (documentation about markers).
    doc = await call(g, "files_write", path="doc.md", content="A receipt shows [REDACTED:jwt].\n")
    assert doc.ok and (root / "doc.md").read_text() == "A receipt shows [REDACTED:jwt].\n"
    again = await call(g, "files_write", path="doc.md", content="Still [REDACTED:jwt].\n", overwrite=True)
    assert again.ok
    assert_no_secret(root / ".tollhouse", JWT)


async def test_base64_read_of_a_file_with_a_secret_is_refused(gate) -> None:  # type: ignore[no-untyped-def]
    g, root = gate
    out = await call(g, "files_read", path="fixture.py", as_base64=True)
    assert out.status == "error" and "carry it past redaction" in out.message
    (root / "plain.bin").write_bytes(b"\x00\x01no secrets")
    assert (await call(g, "files_read", path="plain.bin", as_base64=True)).ok


@pytest.mark.parametrize("k", [1, 10, 39])
async def test_a_long_line_is_never_cut_inside_a_token(gate, k: int) -> None:  # type: ignore[no-untyped-def]
    from tollhouse.tools.files.read import MAX_READ_BYTES
    from tollhouse.tools.files.search import MAX_LINE_CHARS

    g, root = gate
    # files_read: one line longer than the read cap, k bytes of the token before the cut.
    (root / "long.txt").write_text("a" * (MAX_READ_BYTES - k) + GH + "b" * 100 + "\n")
    read = await call(g, "files_read", path="long.txt")
    assert read.ok and read.result["truncated"], read.message
    assert GH[4 : 4 + 10] not in read.result["content"] and not read.result["content"].endswith(GH[:k])
    # files_search: a matching line longer than 500 characters, k characters of the token before the cut.
    (root / "hit.txt").write_text("needle " + "a" * (MAX_LINE_CHARS - 7 - k) + GH + "\n")
    found = await call(g, "files_search", pattern="needle", path="hit.txt")
    text = found.result["matches"][0]["text"]
    assert GH[:k] not in text.removeprefix("needle ").strip("a…"), text[-60:]
    assert_no_secret([root / ".tollhouse", json.dumps(read.result), json.dumps(found.result)], GH)


async def test_search_sees_what_a_read_shows(gate) -> None:  # type: ignore[no-untyped-def]
    """A pattern probing a secret's characters finds nothing (no oracle), and line numbers after a
    multi-line key block stay true."""
    g, root = gate
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nabcdef==\n-----END PRIVATE KEY-----"
    (root / "keys.txt").write_text(f"one\n{pem}\nafter the key\n")
    for probe in ("ghp_R1t2", "eyJhbGciOiJIUzI1NiJ9", "MIIEvQIBADAN", "R1t2Y3u4"):
        out = await call(g, "files_search", pattern=probe, literal=True)
        assert out.ok and out.result["matches"] == [], (probe, out.result["matches"])
    hit = (await call(g, "files_search", pattern="SAMPLE")).result["matches"]
    assert [(m["path"], m["line"], m["text"]) for m in hit] == [
        ("fixture.py", 2, 'SAMPLE = "[REDACTED:jwt]"')
    ]
    after = (await call(g, "files_search", pattern="after the key")).result["matches"]
    assert [(m["path"], m["line"]) for m in after] == [("keys.txt", 6)]
