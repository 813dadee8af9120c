"""The example scripts run a whole tool loop with the real SDK clients against a loopback provider;
the tool call goes through the gate and is receipted with the provider's channel."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.adapters.conftest import make_config, receipts
from tests.adapters.fake_provider import FakeProvider
from tests.conftest import REPO, subprocess_env, trust_config

# The examples take the key from a credential profile and the endpoint from [run.PROVIDER].
CASES = {
    "openai": ("openai_loop.py", lambda url: url + "/v1"),
    "anthropic": ("anthropic_loop.py", lambda url: url),
    "gemini": ("gemini_loop.py", lambda url: url),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_example_loop(provider: str, workspace) -> None:
    script, env_for = CASES[provider]
    config = make_config(workspace)
    with FakeProvider() as fake:
        path = workspace / "tollhouse.toml"
        path.write_text(
            path.read_text() + f'\n[credentials."{provider}:default"]\nsource = "env:EXAMPLE_KEY"\n'
            f'\n[run.{provider}]\nbase_url = "{env_for(fake.url)}"\n'
        )
        trust_config(path)
        env = subprocess_env(EXAMPLE_KEY="test")
        for key in ("OPENAI_ORG_ID", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
            env.pop(key, None)
        proc = subprocess.run(
            [sys.executable, str(REPO / "examples" / script), "echo ping"],
            cwd=workspace, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("final: ")
    assert "pingping" in proc.stdout
    assert len(fake.requests) == 2
    second = json.dumps(fake.requests[1][1])
    if provider == "gemini":
        assert "c2lnLTE=" in second  # the thought signature went back with the model turn
    outcomes = [(r["tool"], r["outcome"], r["channel"]) for r in receipts(config) if r["kind"] == "outcome"]
    assert outcomes == [("ad_echo", "ok", provider)]
    # the tool definitions sent in the first request hide what policy never allows
    assert "ad_hidden" not in json.dumps(fake.requests[0][1]) and "ad_echo" in json.dumps(fake.requests[0][1])
