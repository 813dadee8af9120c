"""``tollhouse auth test openai:default``: check a model credential profile with a cheap call (list
the models) against the endpoint ``[run]`` would use with it."""

from __future__ import annotations

from typing import Any

from tollhouse.run.settings import MODEL_PROVIDERS, PROVIDERS, RunSettingsError, load_run_settings


def settings_for_profile(config: Any, profile_id: str) -> Any:
    """The run settings that use ``profile_id``: the ``[run.X]`` table naming it as its credential,
    else the one of its provider, with the credential set to it."""
    section = config.section("run")
    provider = profile_id.split(":", 1)[0]
    chosen = provider
    for name in PROVIDERS:
        table = section.get(name)
        if isinstance(table, dict) and table.get("credential") == profile_id:
            chosen = name
            break
    settings = load_run_settings(section, provider=chosen)
    from dataclasses import replace

    return replace(settings, credential=profile_id)


async def check_model_profile(config: Any, resolver: Any, profile_id: str) -> dict[str, Any]:
    """Resolve the profile and list the provider's models with it: ``{models, api_url}``. Raises
    ToolError (credential), RunSettingsError, or the SDK's error (caller reports it)."""
    from tollhouse.run.provider import provider_for

    settings = settings_for_profile(config, profile_id)
    api_key = await resolver.resolve(profile_id)
    client = provider_for(settings, api_key)
    try:
        models = await client.list_models()
    finally:
        await client.aclose()
    return {"api_url": settings.base_url, "models": len(models), "model_ids": models[:5]}


__all__ = ["MODEL_PROVIDERS", "RunSettingsError", "check_model_profile", "settings_for_profile"]
