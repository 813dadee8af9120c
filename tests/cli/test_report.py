"""`receipts report` writes one self-contained HTML page; headless Chromium renders it, the page's
script draws every call, and no script or markup a model wrote into a receipt runs or renders."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.cli.conftest import CALLS, HOSTILE, th


class _Dom(HTMLParser):
    """The elements of a dumped DOM: (tag, attributes) in order, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data


def _chromium_dom(page: Path, profile: Path) -> _Dom:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed (Debian package `chromium`, listed in .ci/apt-packages)"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    dom = _Dom()
    dom.feed(out.stdout)
    return dom


@pytest.fixture(scope="module")
def _chromium_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium-profile")


def test_the_report_renders_every_call_and_runs_nothing_a_model_wrote(
    history: Path, tmp_path: Path, _chromium_profile: Path
) -> None:
    page = tmp_path / "report.html"
    made = th(history, "receipts", "report", "--out", str(page), "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {
        "out": str(page),
        "calls": len(CALLS) + 1,
        "filters": "no filters, every call",
    }
    source = page.read_text()
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", source)
    assert "@import" not in source and "url(" not in source
    # The payloads sit in the page only as escaped JSON: no raw </script>, <img or <b> from a receipt.
    assert source.count("</script>") == 2 and "<img" not in source and "<b>" not in source

    dom = _chromium_dom(page, _chromium_profile)
    calls = [attrs for tag, attrs in dom.elements if tag == "li" and "call" in (attrs.get("class") or "")]
    assert [c["data-call-id"] for c in calls] == [c[0] for c in CALLS] + [""]  # drawn by the page's script
    assert [c["data-outcome"] for c in calls] == ["ok", "denied", "ok", "error", "pending", "needs_approval",
                                                  "event"]  # fmt: skip
    text = "".join(dom.text)
    assert "approved by local:alice@laptop" in text
    assert 'approved by <img src=x onerror="alert(1)">' in text  # shown as text, not as an image
    assert HOSTILE in text and "case </script><!--" in text and "<b>x</b>" in text
    # Nothing a model wrote became an element or ran.
    assert dom.title == "tollhouse receipts report"
    assert not [tag for tag, _ in dom.elements if tag in ("img", "b", "iframe", "object", "embed")]
    assert [tag for tag, _ in dom.elements].count("script") == 2
    assert ("body", {"data-rendered": str(len(CALLS) + 1)}) in dom.elements


def test_report_filters_and_refusals(history: Path, tmp_path: Path) -> None:
    page = tmp_path / "denied.html"
    made = th(history, "receipts", "report", "--out", str(page), "--outcome", "denied", "-n", "5")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote {page}: 1 calls (outcome denied, the last 5)")
    data = re.search(r'<script type="application/json" id="calls">(.*?)</script>', page.read_text(), re.S)
    assert data and [c["call_id"] for c in json.loads(data.group(1))] == [CALLS[1][0]]
    before = page.read_bytes()
    bad = th(history, "receipts", "report", "--out", str(page), "--since", "soon")
    assert bad.returncode == 2 and "give a duration" in bad.stderr
    missing = th(history, "receipts", "report", "--out", str(tmp_path / "no" / "such" / "dir.html"))
    assert missing.returncode == 2 and "cannot write" in missing.stderr and "Traceback" not in missing.stderr
    assert page.read_bytes() == before
