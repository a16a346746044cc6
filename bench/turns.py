"""Turn latency through the gateway against the same load sent straight to Rasa.

50 concurrent web chat users each hold a 20-message conversation over the REST contract
(each user waits for the answer before sending the next message). The same load goes to
Rasa's own REST channel in the same run; both paths call the same custom actions.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bench.machine import machine
from gateway.settings import Settings
from knowledge import load_entries
from tests.harness import GatewayProcess, free_port, gateway_env, start_rasa

SMALL_TALK = [
    "hello",
    "what can you do?",
    "thanks a lot",
    "are you a bot?",
    "good morning",
    "ok thank you",
]


def script(length: int, questions: list[str], offset: int) -> list[str]:
    """A conversation: mostly FAQ questions with some small talk, different per user."""
    turns = []
    for i in range(length):
        n = offset + i
        turns.append(
            SMALL_TALK[n % len(SMALL_TALK)] if i % 3 == 0 else questions[n % len(questions)]
        )
    return turns


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_load(url: str, users: int, turns: int, questions: list[str]) -> dict[str, object]:
    latencies: list[float] = []
    errors = 0

    async def user(n: int, http: aiohttp.ClientSession) -> None:
        nonlocal errors
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        for text in script(turns, questions, n * 7):
            started = time.perf_counter()
            try:
                async with http.post(url, json={"sender": sender, "message": text}) as response:
                    body = await response.json()
                    if response.status != 200 or not isinstance(body, list) or not body:
                        errors += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=users * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started = time.perf_counter()
        await asyncio.gather(*(user(n, http) for n in range(users)))
        elapsed = time.perf_counter() - started
    return {
        "turns": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


async def measure(gateway_url: str, rasa_url: str, users: int, turns: int) -> dict[str, object]:
    questions = [e.question for e in load_entries(Settings().faq_seed_path)]
    gateway_rest = f"{gateway_url}/webhooks/rest/webhook"
    rasa_rest = f"{rasa_url}/webhooks/rest/webhook"
    await run_load(gateway_rest, 10, 5, questions)  # warm both paths up
    await run_load(rasa_rest, 10, 5, questions)
    direct = await run_load(rasa_rest, users, turns, questions)
    through = await run_load(gateway_rest, users, turns, questions)
    return {
        "bench": "turns",
        "machine": machine(),
        "load": {"users": users, "messages_per_user": turns, "channel": "rest"},
        "gateway": through,
        "rasa_direct": direct,
        "overhead_p50": round(float(through["p50_ms"]) / float(direct["p50_ms"]), 3),  # type: ignore[arg-type]
        "overhead_p99": round(float(through["p99_ms"]) / float(direct["p99_ms"]), 3),  # type: ignore[arg-type]
        "targets": {"overhead_p50_max": 1.2, "gateway_p99_ms_max": 300},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as tmp:
        var = Path(tmp)
        actions_port = free_port()
        rasa = start_rasa(actions_port, var / "rasa.log")
        env = gateway_env(rasa.url, f"sqlite:///{var}/bench.db", var, actions_port)
        env["LOG_LEVEL"] = "WARNING"
        env["RASA_TIMEOUT_S"] = "60"  # the same patience the load generator has on the direct path
        gateway = GatewayProcess(env, var / "gateway.log")
        try:
            gateway.start()
            result = asyncio.run(measure(gateway.url, rasa.url, args.users, args.messages))
        finally:
            gateway.stop()
            rasa.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
