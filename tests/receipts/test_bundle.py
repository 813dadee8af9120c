"""Export bundles and their offline verification, with tollhouse and without it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.receipts.conftest import fill
from tollhouse.receipts import export_bundle, verify_bundle
from tollhouse.receipts.signing import load_public_key, public_key_path

pytestmark = pytest.mark.anyio
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "verify_bundle.py"


@pytest.fixture
async def bundle(state_dir: Path, tmp_path: Path) -> Path:
    await fill(state_dir, 10, checkpoint_every=5)
    out = tmp_path / "bundle.jsonl"
    header = export_bundle(state_dir / "receipts.db", out)
    assert (header["format"], header["count"], header["checkpoints"], header["notes"]) == (
        "tollhouse-receipts/2",
        20,
        0,
        4,
    )
    return out


def edit_line(path: Path, index: int, change: dict) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[index])
    obj.update(change)
    lines[index] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_export_verifies_offline(bundle: Path, state_dir: Path) -> None:
    result = verify_bundle(bundle)
    assert (result.ok, result.count, result.checkpoints, result.uncovered) == (True, 20, 4, 0)
    assert verify_bundle(bundle, load_public_key(public_key_path(state_dir))).ok


async def test_bundle_survives_a_move_to_another_folder(bundle: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-machine"
    elsewhere.mkdir()
    moved = Path(shutil.copy(bundle, elsewhere / "b.jsonl"))
    assert verify_bundle(moved).ok


async def test_tampered_entry_line(bundle: Path) -> None:
    edit_line(bundle, 7, {"outcome": "error"})  # line 8 = entry 7
    result = verify_bundle(bundle)
    assert (result.ok, result.first_bad_seq) == (False, 7)


async def test_removed_entry_line(bundle: Path) -> None:
    lines = bundle.read_text().splitlines()
    del lines[5]
    bundle.write_text("\n".join(lines) + "\n")
    result = verify_bundle(bundle)
    assert not result.ok and "lines were removed or added" in result.reason


def edit_note(path: Path, index: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[index])
    assert old in obj["note"]
    obj["note"] = obj["note"].replace(old, new, 1)
    lines[index] = json.dumps(obj, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_tampered_checkpoint_line(bundle: Path) -> None:
    edit_note(bundle, 21, "\n5\n", "\n4\n")  # the first note now claims another tree size
    result = verify_bundle(bundle)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "signature does not verify" in result.reason


async def test_unexpected_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    result = verify_bundle(bundle, raw)
    assert not result.ok and "not the expected" in result.reason


async def test_garbage_lines(bundle: Path) -> None:
    lines = bundle.read_text().splitlines()
    lines[3] = "{not json"
    bundle.write_text("\n".join(lines) + "\n")
    result = verify_bundle(bundle)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    bundle.write_text("hello\n")
    assert "header" in verify_bundle(bundle).reason


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, no PYTHONPATH and no script folder: tollhouse cannot be imported.
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), *args], capture_output=True, text=True, timeout=30
    )


async def test_standalone_script_agrees(bundle: Path, state_dir: Path) -> None:
    assert "tollhouse" not in "\n".join(x for x in SCRIPT.read_text().splitlines() if "import" in x)
    ok = run_script(str(bundle))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok:")
    import base64

    pinned = base64.b64encode(load_public_key(public_key_path(state_dir))).decode()
    assert run_script(str(bundle), pinned).returncode == 0
    edit_line(bundle, 7, {"tool": "shell_run"})
    bad = run_script(str(bundle))
    assert bad.returncode == 1
    assert "entry 7" in bad.stdout


async def test_standalone_script_catches_a_forged_checkpoint(bundle: Path) -> None:
    import base64

    edit_note(bundle, 22, "\n10\n", "\n10\n" + base64.b64encode(bytes(32)).decode() + "\n")
    bad = run_script(str(bundle))
    assert bad.returncode == 1 and "a checkpoint note: bad signature" in bad.stdout


async def test_standalone_script_catches_a_truncated_tail(bundle: Path) -> None:
    lines = bundle.read_text().splitlines()
    header = json.loads(lines[0])
    header["count"] = 18
    kept = [json.dumps(header), *lines[1:19], *lines[21:]]
    bundle.write_text("\n".join(kept) + "\n")
    bad = run_script(str(bundle))
    assert bad.returncode == 1 and "no signed checkpoint covers the head" in bad.stdout
    assert (verify_bundle(bundle).ok, verify_bundle(bundle).first_bad_seq) == (False, 19)


async def test_truncated_tail_with_its_notes_is_caught_without_an_older_checkpoint(bundle: Path) -> None:
    """Drop entries 16..20 and the note at 20: the head is no longer covered by a signature."""
    lines = bundle.read_text().splitlines()
    header = json.loads(lines[0])
    header["count"], header["notes"] = 15, 3
    bundle.write_text("\n".join([json.dumps(header), *lines[1:16], *lines[21:24]]) + "\n")
    # 15 is a multiple of 5, so the note at 15 covers the new head: a clean cut at a checkpoint
    # verifies on its own. Only a checkpoint held elsewhere tells it from the real history.
    assert verify_bundle(bundle).ok
    assert run_script(str(bundle)).returncode == 0


async def test_script_and_library_refuse_a_bundle_without_notes(bundle: Path) -> None:
    """The reviewed attack: history rewritten from seq 1, re-hashed, every checkpoint dropped."""
    lines = bundle.read_text().splitlines()
    header = json.loads(lines[0])
    header["notes"] = 0
    bundle.write_text("\n".join([json.dumps(header), *lines[1:21]]) + "\n")
    result = verify_bundle(bundle)
    assert (result.ok, result.first_bad_seq) == (False, 1)
    assert "entries 1..20 are not covered by a signed checkpoint" in result.reason
    assert verify_bundle(bundle, require_head=False).ok
    bad = run_script(str(bundle))
    assert bad.returncode == 1 and "no signed checkpoint covers the head" in bad.stdout


def test_docs_show_the_tested_script() -> None:
    doc = (SCRIPT.parents[1] / "docs" / "receipts.md").read_text(encoding="utf-8")
    section = doc.split("### Verifying a bundle without tollhouse", 1)[1]
    shown = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = SCRIPT.read_text(encoding="utf-8")
    body = code.split('"""', 2)[2].lstrip("\n")  # the script without its docstring
    assert shown == body


async def test_bundle_values_the_store_never_writes(bundle: Path) -> None:
    text = bundle.read_text().splitlines()
    text[4] = text[4].replace('"duration_us":1', '"duration_us":NaN')
    assert "NaN" in text[4]
    bundle.write_text("\n".join(text) + "\n")
    assert verify_bundle(bundle).first_bad_seq == 4
    edit_line(bundle, 4, {"duration_us": 1, "hash": None, "tool": "\udcff"})
    result = verify_bundle(bundle)
    assert (result.ok, result.first_bad_seq) == (False, 4)
