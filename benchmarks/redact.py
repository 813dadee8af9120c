"""Redaction cost on large outputs: the texts a busy agent pushes through the gate.

Run: python benchmarks/redact.py  (from the repository root; a few seconds)

Each row is the median of several runs of ``Redactor.redact_text`` over about 512 KiB: a pytest
stream (every line says PASSED, which once woke the password detector), source code, a JSON
listing, and the same pytest stream with one planted token near the end (the secret must still be
found). Baseline in the same run: ``str.lower()`` over the text, the least any case-insensitive
anchor scan costs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tollhouse.gate.redact import Redactor

SIZE = 512 * 1024
ROUNDS = 15


def _fill(line: str) -> str:
    return (line * (SIZE // len(line) + 1))[:SIZE]


def texts() -> dict[str, str]:
    pytest_line = "tests/files/test_behaviour.py::test_read_a_small_file[case-17] PASSED       [ 42%]\n"
    code_line = "    def passes(self, path: str) -> bool:  # keys are checked by the caller\n"
    json_line = '{"path": "src/tollhouse/gate/x.py", "size": 1234, "kind": "file", "mtime": 1.5},\n'
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    planted = _fill(pytest_line)[: SIZE - 200] + f"\nexport GH=x{token}x\n"
    return {
        "pytest stream (PASSED)": _fill(pytest_line),
        "source code": _fill(code_line),
        "JSON listing": _fill(json_line),
        "pytest + planted glued token": planted,
    }


def median_ms(fn, text: str) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(text)
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    redactor = Redactor(secrets=["canary-Value-42-long-enough"])
    print(f"{'text (512 KiB)':32} {'redact ms':>10} {'lower() ms':>11} {'ratio':>6}")
    for name, text in texts().items():
        out = redactor.redact_text(text)
        if "planted" in name:
            print("  (planted token found)" if "A1b2C3d4E5f6" not in out else "  (planted token MISSED)")
        red = median_ms(redactor.redact_text, text)
        base = median_ms(str.lower, text)
        print(f"{name:32} {red:10.2f} {base:11.2f} {red / base:6.1f}x")


if __name__ == "__main__":
    main()
