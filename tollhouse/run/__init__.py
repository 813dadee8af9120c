"""``tollhouse run``: one agent loop over OpenAI (Chat Completions, Responses), Anthropic and Gemini
through their official SDKs, every tool call through the gate, every model request receipted.

Library use::

    from tollhouse.config import load_config
    from tollhouse.run import run_agent

    result = anyio.run(run_agent, load_config(None), "fix the failing test", "anthropic")
"""

from __future__ import annotations

from typing import Any, TextIO

from tollhouse.run.loop import Runner, RunResult
from tollhouse.run.provider import Provider, provider_for
from tollhouse.run.settings import PROVIDERS, RunSettings, RunSettingsError, load_run_settings

__all__ = [
    "PROVIDERS",
    "Provider",
    "RunResult",
    "RunSettings",
    "RunSettingsError",
    "Runner",
    "load_run_settings",
    "open_provider",
    "provider_for",
    "run_agent",
]


async def open_provider(gate: Any, settings: RunSettings) -> Provider:
    """The provider client, its API key read from the credential profile (and from then on
    redacted from everything the gate writes or returns). Raises CredentialError (a ToolError)."""
    api_key = await gate.services.credentials.resolve(settings.credential)
    return provider_for(settings, api_key)


async def run_agent(
    config: Any,
    goal: str,
    provider: str | None = None,
    *,
    model: str | None = None,
    case: str | None = None,
    stream: bool | None = None,
    approver: Any = None,
    out: TextIO | None = None,
    log: TextIO | None = None,
) -> RunResult:
    """Open the gate for ``config`` and run one agent loop on ``goal``."""
    from tollhouse.gate.gate import Gate

    settings = load_run_settings(config.section("run"), provider=provider, model=model, stream=stream)
    gate = await Gate.open(config)
    async with gate:
        client = await open_provider(gate, settings)
        try:
            runner = Runner(gate, client, settings, case=case, approver=approver, out=out, log=log)
            return await runner.run(goal)
        finally:
            await client.aclose()
