"""What the failover gateway costs on loopback, and how it rides out a dead region.

Starts fake upstreams and the gateway as separate processes (as they would
run), then from this process measures:
  * latency (p50, p99) of sequential requests, direct to the upstream vs.
    through the gateway, non-streaming and streaming, one target after the
    other in each round so a busy machine slows all of them alike;
  * throughput at 16 concurrent callers, direct vs. through the gateway, in
    alternating bursts;
  * failover: three active-active regions under load, one killed midway;
    failed requests (target zero) and how long requests kept paying for it.
Figures are reported as ratios from one run, so the machine's speed cancels out,
and checked against the targets below. `--baseline DIR` adds a second gateway
run from another checkout's `failover/` (e.g. `git worktree add /tmp/baseline <ref>`),
measured in the same rounds: two gateways compared in one run.

    venv/bin/python benchmarks/proxy_overhead.py [--help]
"""

from __future__ import annotations

import argparse
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

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16  # callers at once in the throughput bursts (the target is stated at 16)
FAILOVER_REQUESTS = 600
BODY = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}
PATH = "/v1/chat/completions"
# Targets: added milliseconds at p50 and p99 per mode, and the least throughput ratio.
TARGETS = {"non-streaming": (0.5, 2.0), "streaming": (1.0, 3.0)}
THROUGHPUT_TARGET = 0.7


def launch(*args: str, source: Path = ROOT) -> tuple[subprocess.Popen[str], str]:
    """Start `python -m failover ...` from `source` and return it with the URL from its banner."""
    process = subprocess.Popen([sys.executable, "-m", "failover", *args], cwd=source, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
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


async def _post(session: aiohttp.ClientSession, url: str, body: dict) -> None:
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        await response.read()


async def interleaved_latencies(session: aiohttp.ClientSession, targets: dict[str, str], stream: bool, rounds: int, warm_up: int) -> dict[str, list[float]]:
    """Seconds per request to each target, one request to each per round."""
    body = {**BODY, "stream": stream}
    samples: dict[str, list[float]] = {label: [] for label in targets}
    for number in range(warm_up + rounds):
        for label, url in targets.items():
            started = time.perf_counter()
            await _post(session, url + PATH, body)
            if number >= warm_up:
                samples[label].append(time.perf_counter() - started)
    return samples


async def alternating_throughput(session: aiohttp.ClientSession, targets: dict[str, str], stream: bool, bursts: int, burst: int) -> dict[str, float]:
    """Requests per second for each target: `bursts` bursts of `burst` requests at CONCURRENCY, targets taking turns."""
    body = {**BODY, "stream": stream}
    elapsed = {label: 0.0 for label in targets}
    for _ in range(bursts):
        for label, url in targets.items():
            remaining = burst

            async def worker() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    await _post(session, url + PATH, body)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            elapsed[label] += time.perf_counter() - started
    return {label: bursts * burst / seconds for label, seconds in elapsed.items()}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def overhead(targets: dict[str, str], args: argparse.Namespace) -> list[tuple[str, str, float, float, float]]:
    """(mode, gateway, added p50 ms, added p99 ms, throughput ratio) per mode and gateway, against `targets["direct"]`."""
    rows = []
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        for stream in (False, True):
            mode = "streaming" if stream else "non-streaming"
            latency = await interleaved_latencies(session, targets, stream, args.requests, args.warm_up)
            rates = await alternating_throughput(session, targets, stream, args.bursts, args.burst)
            direct = latency["direct"]
            for label in targets:
                if label != "direct":
                    added_p50 = (statistics.median(latency[label]) - statistics.median(direct)) * 1000
                    added_p99 = (percentile(latency[label], 0.99) - percentile(direct, 0.99)) * 1000
                    rows.append((mode, label, added_p50, added_p99, rates[label] / rates["direct"]))
            rows.append((mode, "direct", statistics.median(direct) * 1000, percentile(direct, 0.99) * 1000, rates["direct"]))
    return rows


async def failover_under_load(gateway_url: str, victim: subprocess.Popen[str]) -> dict[str, float]:
    outcomes: list[tuple[float, float, int, int]] = []  # (start, latency, status, attempts)
    sent = 0
    killed_at = 0.0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal sent, killed_at
        while sent < FAILOVER_REQUESTS:
            sent += 1
            if sent == FAILOVER_REQUESTS // 3:
                victim.send_signal(signal.SIGKILL)
                killed_at = time.perf_counter()
            started = time.perf_counter()
            try:
                async with session.post(gateway_url + PATH, json=BODY) as response:
                    await response.read()
                    status, attempts = response.status, int(response.headers.get("x-failover-attempts", "0"))
            except (aiohttp.ClientError, TimeoutError):
                status, attempts = 0, 0
            outcomes.append((started, time.perf_counter() - started, status, attempts))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
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


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/proxy_overhead.py",
        description="Measure what the failover gateway adds over a direct call (latency, throughput) and how it rides out a dead region, as ratios from one run.",
    )
    parser.add_argument("--requests", type=int, default=300, help="sequential requests to each target per mode (default 300)")
    parser.add_argument("--warm-up", type=int, default=50, help="rounds sent first and not counted (default 50)")
    parser.add_argument("--bursts", type=int, default=5, help="throughput bursts per target and mode (default 5)")
    parser.add_argument("--burst", type=int, default=200, help=f"requests per burst, {CONCURRENCY} at once (default 200)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR", help="also run the gateway from DIR (a checkout holding failover/) in the same rounds")
    parser.add_argument("--skip-failover", action="store_true", help="measure the overhead only")
    args = parser.parse_args(argv)
    for name in ("requests", "bursts", "burst"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: {getattr(args, name)} is not allowed; expected a whole number of at least 1")
    if args.warm_up < 0:
        parser.error(f"--warm-up: {args.warm_up} is not allowed; expected a whole number, 0 or more")
    if args.baseline is not None and not (args.baseline / "failover" / "__main__.py").is_file():
        parser.error(f"--baseline: {str(args.baseline)!r} is not allowed; expected a directory holding failover/__main__.py")
    return args


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    with tempfile.TemporaryDirectory() as configs, processes() as started:
        upstream, upstream_url = launch("fake-upstream", "--port", "0", "--name", "fast")
        started.append(upstream)
        config = gateway_config(configs, [upstream_url], "active-passive")
        targets = {"direct": upstream_url}
        gateway, targets["gateway"] = launch("serve", "--config", config, "--port", "0")
        started.append(gateway)
        if args.baseline is not None:
            baseline, targets["baseline"] = launch("serve", "--config", config, "--port", "0", source=args.baseline.resolve())
            started.append(baseline)
        rows = asyncio.run(asyncio.wait_for(overhead(targets, args), 600))

    print(f"Proxy overhead on loopback ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.requests} sequential rounds, {args.bursts} x {args.burst} requests at concurrency {CONCURRENCY})\n")
    print("| mode | gateway | p50 direct | added p50 (target) | p99 direct | added p99 (target) | throughput vs direct (target) |")
    print("|---|---|---|---|---|---|---|")
    direct = {mode: (p50, p99) for mode, label, p50, p99, _ in rows if label == "direct"}
    for mode, label, added_p50, added_p99, ratio in rows:
        if label == "direct":
            continue
        p50_target, p99_target = TARGETS[mode]
        mark = lambda met: "met" if met else "MISSED"  # noqa: E731
        print(
            f"| {mode} | {label} | {direct[mode][0]:.2f} ms | {added_p50:+.2f} ms ({mark(added_p50 < p50_target)} < {p50_target}) "
            f"| {direct[mode][1]:.2f} ms | {added_p99:+.2f} ms ({mark(added_p99 < p99_target)} < {p99_target}) | {ratio:.2f} ({mark(ratio >= THROUGHPUT_TARGET)} >= {THROUGHPUT_TARGET}) |"
        )
    if args.skip_failover:
        return

    with tempfile.TemporaryDirectory() as configs, processes() as started:
        regions = [launch("fake-upstream", "--port", "0", "--name", f"region-{i}") for i in range(3)]
        started.extend(process for process, _ in regions)
        gateway, gateway_url = launch("serve", "--config", gateway_config(configs, [url for _, url in regions], "active-active"), "--port", "0")
        started.append(gateway)
        failover = asyncio.run(asyncio.wait_for(failover_under_load(gateway_url, regions[1][0]), 120))

    print(f"\nFailover: 1 of 3 active-active regions killed after {FAILOVER_REQUESTS // 3} of {FAILOVER_REQUESTS} requests (concurrency {CONCURRENCY})\n")
    print("| requests | failed | needed a retry | failover time (kill to last retried answer) | p50 before the kill | slowest request after the kill |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {failover['requests']:.0f} | {failover['failed']:.0f} | {failover['retried']:.0f} | {failover['window_ms']:.1f} ms "
        f"| {failover['p50_before_ms']:.2f} ms | {failover['max_after_ms']:.2f} ms |"
    )


if __name__ == "__main__":
    main()
