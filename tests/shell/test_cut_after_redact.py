"""Issue 14: shell output is redacted before its head+tail cut. A token placed across either cut
is replaced whole; no half of it is shown (two runs with shifted output cannot rebuild it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.secrets import assert_no_secret
from tollhouse.config import load_config
from tollhouse.gate.gate import Gate
from tollhouse.gate.redact import Redactor
from tollhouse.gate.types import Call
from tollhouse.tools.shell.output import OVERLAP, HeadTail

GH = "ghp_" + "M1n2B3v4C5x6Z7l8K9j0H1g2F3d4S5a6P7o8"
AKIA = "AKIA" + "ZXCVBNMASDFGHJ23"
ANT = "sk-ant-api03-" + "Qw1Er2Ty3Ui4Op5As6Df7Gh8"
KNOWN = "known-value-across-a-cut-31"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n" + ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 6) + "\n-----END PRIVATE KEY-----"
)
SHAPES = [GH, AKIA, ANT, KNOWN, PEM]


def fragments(secret: str) -> list[str]:
    """Every 10-character piece past the secret's first 8 characters (its common prefix)."""
    body = secret[8:]
    return [body[i : i + 10] for i in range(0, len(body) - 9)]


def assert_hidden(text: str, secret: str) -> None:
    shown = [f for f in fragments(secret) if f in text]
    assert not shown, f"pieces of the secret are shown: {shown[:3]}"
    assert "[REDACTED:" in text


@pytest.mark.parametrize("secret", SHAPES, ids=["github", "aws", "anthropic", "known", "pem"])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_token_across_either_cut_is_replaced_whole(secret: str, chunk: int) -> None:
    redactor = Redactor(secrets=[KNOWN])
    cap = 1000
    for where in ("head", "tail"):
        for k in range(1, len(secret), max(1, len(secret) // 9)):
            if where == "head":  # the head cut is at byte 500: k bytes of the token before it
                data = ("a" * (500 - k - 1) + " " + secret + " " + "b" * 3000).encode()
            else:  # the tail starts 500 bytes before the end: k bytes of the token after it
                data = ("a" * 3000 + " " + secret + " " + "b" * (500 - k - 1)).encode()
            buf = HeadTail(cap)
            for i in range(0, len(data), chunk):
                buf.feed(data[i : i + chunk])
            assert buf.truncated
            assert_hidden(buf.text(redactor.spans), secret)


def test_without_a_redactor_the_cut_is_unchanged() -> None:
    buf = HeadTail(10)
    buf.feed(b"0123456789abcdefghij")
    assert buf.text().startswith("01234\n[... tollhouse: 10 bytes omitted") and buf.text().endswith("\nfghij")
    small = HeadTail(100)
    small.feed(b"x" * 50 + GH.encode())
    assert small.text(Redactor().spans) == "x" * 50 + "[REDACTED:github-token]"
    assert OVERLAP >= len(PEM)


@pytest.mark.anyio
async def test_through_the_gate_receipts_and_result_hold_no_half(workspace: Path) -> None:
    write_config(
        workspace,
        '[tools]\nfamilies = ["shell"]\n\n[shell]\noutput_cap_bytes = 1024\n\n'
        '[[rules]]\nid = "printf"\ntools = ["shell_run"]\nargv = ["printf *"]\neffect = "allow"\n',
    )
    config = load_config(workspace / "tollhouse.toml")
    async with await Gate.open(config) as gate:
        for secret in (GH, ANT):
            for payload in (
                "a" * (512 - 9) + secret + "b" * 2000,  # across the head cut
                "a" * 2000 + secret + "b" * (512 - 9 - len(secret) + 18),  # across the tail cut
            ):
                out = await gate.call(Call(tool="shell_run", arguments={"argv": ["printf", "%s", payload]}))
                assert out.status == "ok", out.message
                assert out.result["stdout_truncated"]
                assert_hidden(out.result["stdout"], secret)
    for secret in (GH, ANT):
        assert_no_secret(workspace / ".tollhouse", secret)


# -- progress lines: whole lines only, redacted by the gate, then shortened ------------------------


@pytest.mark.anyio
async def test_progress_never_forwards_a_line_begun_in_an_earlier_chunk() -> None:
    from tollhouse.tools.shell.runner import MAX_LINE_CHARS, _Lines

    sent: list[str] = []

    async def sink(done: int, line: str) -> None:
        sent.append(line)

    lines = _Lines(sink, 0.0)
    lines.chunk(b"start " + GH[:20].encode())  # no newline yet: nothing to send
    assert not await lines.send()
    lines.chunk(GH[20:].encode() + b" end\n")  # the rest of that line: it began in the last chunk
    assert not await lines.send()
    lines.chunk(f"whole {GH}\n".encode())
    assert await lines.send() and sent == [f"whole {GH}"]  # whole: the gate's redactor sees it all
    lines.chunk(b"x" * (MAX_LINE_CHARS * 4 + 1) + b"\n")  # too long to send whole: not sent cut
    assert not await lines.send()


@pytest.mark.anyio
async def test_progress_is_redacted_before_it_is_shortened(workspace: Path) -> None:
    write_config(
        workspace,
        '[tools]\nfamilies = ["shell"]\n\n[shell]\nprogress_interval_s = 0\n\n'
        '[[rules]]\nid = "printf"\ntools = ["shell_run"]\nargv = ["printf *"]\neffect = "allow"\n',
    )
    config = load_config(workspace / "tollhouse.toml")
    seen: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    line = "a" * 480 + GH + "\n"  # the token crosses the 500-character progress limit
    async with await Gate.open(config) as gate:
        out = await gate.call(
            Call(tool="shell_run", arguments={"argv": ["printf", "%s", line]}, progress=progress)
        )
    assert out.status == "ok" and seen, out.message
    assert all(len(m) <= 501 for m in seen)
    assert not [f for f in fragments(GH) if any(f in m for m in seen)]
