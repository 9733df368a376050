"""What the Lambda package's pure-Python server costs against uvloop and httptools, on loopback.

The package ships universal wheels only, so uvicorn runs on asyncio and h11 in Lambda, where the
local gateway picks uvloop and httptools when installed. This starts one fake upstream and two
gateways with the same config: the built package unpacked and started the way the Lambda Web
Adapter starts it (asyncio + h11), and the same `failover.lambda_app` from this venv (uvloop +
httptools). Requests go to the upstream directly and through each gateway in turn, one after the
other, so a busy machine slows all three alike; it reports each gateway's added latency (p50,
p99) over the direct call and its throughput at concurrency 10 as a ratio of the direct one.

    venv/bin/python -m proxy_package && venv/bin/python benchmarks/lambda_package.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import proxy_package  # noqa: E402
from benchmarks.proxy_overhead import BODY, CONCURRENCY, launch, percentile, processes  # noqa: E402
from components.lambda_web_adapter import READINESS_PATH, streaming_environment  # noqa: E402
from proxy_package import local  # noqa: E402

def gateway_environment(upstream_url: str, port: int) -> dict[str, str]:
    config = {"topology": "active-passive", "upstreams": [{"name": "fast", "url": upstream_url}], "timeouts": {"connect": 1, "first_byte": 5, "total": 10, "stream_idle": 5}}
    return {**streaming_environment(), "FAILOVER_CONFIG": json.dumps(config), "AWS_LWA_PORT": str(port), "AWS_REGION": "local"}


ROUNDS = 400  # sequential requests to each target, interleaved
WARM_UP = 50
BURSTS, BURST = 5, 200  # throughput: bursts of requests at CONCURRENCY, alternating between targets


async def interleaved_latencies(client: httpx.AsyncClient, targets: dict[str, str], stream: bool) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {label: [] for label in targets}
    for round_number in range(WARM_UP + ROUNDS):
        for label, url in targets.items():
            started = time.perf_counter()
            (await client.post(url, json={**BODY, "stream": stream})).raise_for_status()
            if round_number >= WARM_UP:
                samples[label].append(time.perf_counter() - started)
    return samples


async def alternating_throughput(client: httpx.AsyncClient, targets: dict[str, str], stream: bool) -> dict[str, float]:
    elapsed = {label: 0.0 for label in targets}

    async def burst(url: str) -> None:
        remaining = BURST

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                (await client.post(url, json={**BODY, "stream": stream})).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    for _ in range(BURSTS):
        for label, url in targets.items():
            started = time.perf_counter()
            await burst(url)
            elapsed[label] += time.perf_counter() - started
    return {label: BURSTS * BURST / seconds for label, seconds in elapsed.items()}


async def compare(targets: dict[str, str]) -> list[tuple[str, str, float, float, float]]:
    """(gateway, mode, p50 added ms, p99 added ms, throughput ratio) for each gateway and mode."""
    rows = []
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY * len(targets))) as client:
        for stream in (False, True):
            latencies = await interleaved_latencies(client, targets, stream)
            rates = await alternating_throughput(client, targets, stream)
            direct = latencies.pop("direct")
            for label, samples in latencies.items():
                rows.append(
                    (
                        label,
                        "streaming" if stream else "non-streaming",
                        (statistics.median(samples) - statistics.median(direct)) * 1000,
                        (percentile(samples, 0.99) - percentile(direct, 0.99)) * 1000,
                        rates[label] / rates["direct"],
                    )
                )
    return rows


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    package = proxy_package.load()
    with tempfile.TemporaryDirectory() as scratch, processes() as started:
        upstream, upstream_url = launch("fake-upstream", "--port", "0", "--name", "fast")
        started.append(upstream)
        task, path = local.unpack(package.archive, Path(scratch))
        packaged_port, venv_port = local.free_port(), local.free_port()
        packaged = local.start(task, path, package.handler, gateway_environment(upstream_url, packaged_port))
        in_venv = subprocess.Popen(
            [sys.executable, "-m", "failover.lambda_app"], cwd=ROOT, env={**os.environ, **gateway_environment(upstream_url, venv_port)},
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.extend([packaged, in_venv])
        path = "/v1/chat/completions"
        targets = {"direct": upstream_url + path}
        for label, process, port in (("package: asyncio + h11", packaged, packaged_port), ("venv: uvloop + httptools", in_venv, venv_port)):
            local.wait_until_ready(process, f"http://127.0.0.1:{port}{READINESS_PATH}", "200", within=30)
            targets[label] = f"http://127.0.0.1:{port}{path}"
        rows = asyncio.run(asyncio.wait_for(compare(targets), 600))
        for process in (packaged, in_venv):
            process.send_signal(signal.SIGTERM)

    print(f"Lambda package server vs uvloop/httptools on loopback ({os.cpu_count()} cores, {ROUNDS} interleaved sequential requests per target, {BURSTS} x {BURST} at concurrency {CONCURRENCY})\n")
    print("| gateway | mode | p50 added | p99 added | throughput vs direct |")
    print("|---|---|---|---|---|")
    for label, mode, p50_added, p99_added, ratio in rows:
        print(f"| {label} | {mode} | {p50_added:.2f} ms | {p99_added:.2f} ms | {ratio:.2f} |")


if __name__ == "__main__":
    main()
