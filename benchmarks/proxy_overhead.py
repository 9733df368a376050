"""What the failover gateway costs on loopback, and how it rides out a dead region.

Starts fake upstreams and the gateway as separate processes (as they would
run), then from this process measures:
  * latency (p50, p99) of sequential requests, direct to the upstream vs.
    through the gateway, non-streaming and streaming;
  * throughput with concurrent requests, direct vs. through the gateway;
  * failover: three active-active regions under load, one killed midway;
    failed requests (target zero) and how long requests kept paying for it.
Figures are reported as ratios from one run, so the machine's speed cancels out.

    venv/bin/python benchmarks/proxy_overhead.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
SEQUENTIAL = 300  # requests per latency measurement
CONCURRENT = 1000  # requests per throughput measurement
CONCURRENCY = 10
FAILOVER_REQUESTS = 600
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}


def launch(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `python -m failover ...` and return it with the URL from its banner."""
    process = subprocess.Popen([sys.executable, "-m", "failover", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    if not select.select([process.stdout], [], [], 20)[0]:
        process.kill()
        raise RuntimeError(f"failover {args[0]} printed no banner within 20 s")
    banner = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", banner)
    if not match:
        process.kill()
        raise RuntimeError(f"could not start failover {args[0]}: {banner!r}")
    return process, match.group(0)


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for process in started:
            process.kill()
            process.wait(timeout=10)


def gateway_config(directory: str, upstream_urls: list[str], topology: str) -> str:
    doc = {
        "topology": topology,
        "upstreams": [{"name": f"region-{i}", "url": url, "priority": i, "region": f"region-{i}"} for i, url in enumerate(upstream_urls)],
        "timeouts": {"connect": 1, "first_byte": 5, "total": 10, "stream_idle": 5},
        "breaker": {"failure_threshold": 2, "base_ejection": 5, "max_ejection": 30, "jitter": 0.2},
    }
    path = os.path.join(directory, f"{topology}.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(doc, handle)
    return path


async def latencies(client: httpx.AsyncClient, url: str, stream: bool) -> list[float]:
    body = {**BODY, "stream": stream}
    samples = []
    for _ in range(SEQUENTIAL):
        started = time.perf_counter()
        response = await client.post(url, json=body)
        response.raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples


async def throughput(client: httpx.AsyncClient, url: str, stream: bool) -> float:
    body = {**BODY, "stream": stream}
    remaining = CONCURRENT

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            (await client.post(url, json=body)).raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return CONCURRENT / (time.perf_counter() - started)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def overhead(direct_url: str, gateway_url: str) -> list[tuple[str, float, float, float, float, float, float]]:
    rows = []
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:
        for stream in (False, True):
            path = "/v1/chat/completions"
            await latencies(client, direct_url + path, stream)  # warm up connections and caches
            await latencies(client, gateway_url + path, stream)
            direct = await latencies(client, direct_url + path, stream)
            proxied = await latencies(client, gateway_url + path, stream)
            direct_rps = await throughput(client, direct_url + path, stream)
            proxied_rps = await throughput(client, gateway_url + path, stream)
            rows.append(
                (
                    "streaming" if stream else "non-streaming",
                    statistics.median(direct) * 1000,
                    statistics.median(proxied) * 1000,
                    percentile(direct, 0.99) * 1000,
                    percentile(proxied, 0.99) * 1000,
                    direct_rps,
                    proxied_rps,
                )
            )
    return rows


async def failover_under_load(gateway_url: str, victim: subprocess.Popen[str]) -> dict[str, float]:
    outcomes: list[tuple[float, float, int, int]] = []  # (start, latency, status, attempts)
    sent = 0
    killed_at = 0.0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent, killed_at
        while sent < FAILOVER_REQUESTS:
            sent += 1
            if sent == FAILOVER_REQUESTS // 3:
                victim.send_signal(signal.SIGKILL)
                killed_at = time.perf_counter()
            started = time.perf_counter()
            try:
                response = await client.post(gateway_url + "/v1/chat/completions", json=BODY)
                status, attempts = response.status_code, int(response.headers.get("x-failover-attempts", "0"))
            except httpx.HTTPError:
                status, attempts = 0, 0
            outcomes.append((started, time.perf_counter() - started, status, attempts))

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    after_kill = [o for o in outcomes if o[0] >= killed_at]
    retried = [o for o in outcomes if o[3] > 1]
    return {
        "requests": len(outcomes),
        "failed": sum(1 for o in outcomes if o[2] != 200),
        "retried": len(retried),
        # Failover time: from the kill until the last request that paid for it (a retry) was answered.
        "window_ms": ((max(o[0] + o[1] for o in retried) - killed_at) * 1000) if retried else 0.0,
        "p50_before_ms": statistics.median(o[1] for o in outcomes if o[0] < killed_at) * 1000,
        "max_after_ms": max(o[1] for o in after_kill) * 1000,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as configs, processes() as started:
        upstream, upstream_url = launch("fake-upstream", "--port", "0", "--name", "fast")
        started.append(upstream)
        gateway, gateway_url = launch("serve", "--config", gateway_config(configs, [upstream_url], "active-passive"), "--port", "0")
        started.append(gateway)
        rows = asyncio.run(asyncio.wait_for(overhead(upstream_url, gateway_url), 300))

    with tempfile.TemporaryDirectory() as configs, processes() as started:
        regions = [launch("fake-upstream", "--port", "0", "--name", f"region-{i}") for i in range(3)]
        started.extend(process for process, _ in regions)
        gateway, gateway_url = launch("serve", "--config", gateway_config(configs, [url for _, url in regions], "active-active"), "--port", "0")
        started.append(gateway)
        failover = asyncio.run(asyncio.wait_for(failover_under_load(gateway_url, regions[1][0]), 120))

    print(f"Proxy overhead on loopback ({os.cpu_count()} cores, {SEQUENTIAL} sequential requests, {CONCURRENT} at concurrency {CONCURRENCY})\n")
    print("| mode | p50 direct | p50 via gateway | p50 ratio | p99 direct | p99 via gateway | p99 ratio | req/s direct | req/s via gateway | throughput ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, p50_d, p50_g, p99_d, p99_g, rps_d, rps_g in rows:
        print(
            f"| {mode} | {p50_d:.2f} ms | {p50_g:.2f} ms (+{p50_g - p50_d:.2f}) | {p50_g / p50_d:.2f}x | {p99_d:.2f} ms | {p99_g:.2f} ms | {p99_g / p99_d:.2f}x "
            f"| {rps_d:.0f} | {rps_g:.0f} | {rps_g / rps_d:.2f} |"
        )
    print(f"\nFailover: 1 of 3 active-active regions killed after {FAILOVER_REQUESTS // 3} of {FAILOVER_REQUESTS} requests (concurrency {CONCURRENCY})\n")
    print("| requests | failed | needed a retry | failover time (kill to last retried answer) | p50 before the kill | slowest request after the kill |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {failover['requests']:.0f} | {failover['failed']:.0f} | {failover['retried']:.0f} | {failover['window_ms']:.1f} ms "
        f"| {failover['p50_before_ms']:.2f} ms | {failover['max_after_ms']:.2f} ms |"
    )


if __name__ == "__main__":
    main()
