"""One GitHub request per tool call: what building the HTTP client costs.

Run: python benchmarks/github.py  (from the repository root; a few seconds)

Against the loopback fake GitHub API (tests/github/fake_github.py), GET /repos/acme/widget:
- baseline: a fresh httpx.AsyncClient with httpx's default TLS setup per call (what each tool call
  did before the TLS context was shared: it loads the CA bundle every time);
- shared TLS: a fresh GitHubClient per call, sharing one TLS context (each call's own connection);
- tollhouse: a fresh GitHubClient per call on the gate's shared connection pool (what each tool call
  does now, unless the environment names a proxy);
- reused: one GitHubClient for all calls (the floor).
Loopback has no TLS handshake: against api.github.com a fresh connection also costs the TCP and TLS
round trips, which the shared pool saves.
"""

from __future__ import annotations

import statistics
import sys
import time
import types
from pathlib import Path

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.github.conftest import CANARY, seed
from tests.github.fake_github import FakeGitHub
from tollhouse.tools.github.client import GitHubClient, shared_transport
from tollhouse.tools.github.settings import GitHubSettings

N = 200


async def main() -> None:
    fake = FakeGitHub(CANARY).start()
    seed(fake)
    settings = GitHubSettings(api_url=fake.url)
    headers = {"Authorization": f"Bearer {CANARY}"}
    try:
        times: dict[str, list[float]] = {"baseline": [], "shared_tls": [], "tollhouse": [], "reused": []}
        closers: list = []
        services = types.SimpleNamespace(shared={}, on_close=closers.append)
        for _ in range(N):
            start = time.perf_counter()
            async with httpx.AsyncClient() as http:
                (await http.get(fake.url + "/repos/acme/widget", headers=headers)).json()
            times["baseline"].append(time.perf_counter() - start)
            start = time.perf_counter()
            async with GitHubClient(settings, CANARY) as client:
                await client.get_json("/repos/acme/widget")
            times["shared_tls"].append(time.perf_counter() - start)
            start = time.perf_counter()
            async with GitHubClient(settings, CANARY, transport=shared_transport(services)) as client:
                await client.get_json("/repos/acme/widget")
            times["tollhouse"].append(time.perf_counter() - start)
        async with GitHubClient(settings, CANARY) as client:
            for _ in range(N):
                start = time.perf_counter()
                await client.get_json("/repos/acme/widget")
                times["reused"].append(time.perf_counter() - start)
        for close in closers:
            await close()
    finally:
        fake.stop()
    base = statistics.median(times["baseline"])
    print(f"{'client per call':<40} {'p50 ms':>8} {'ratio':>7}")
    for name, label in (
        ("baseline", "fresh httpx client, default TLS"),
        ("shared_tls", "fresh GitHubClient, shared TLS"),
        ("tollhouse", "fresh GitHubClient, shared pool"),
        ("reused", "one GitHubClient reused"),
    ):
        p50 = statistics.median(times[name])
        print(f"{label:<40} {p50 * 1e3:>8.2f} {p50 / base:>7.2f}")


if __name__ == "__main__":
    anyio.run(main)
