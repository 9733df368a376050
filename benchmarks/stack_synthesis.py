"""How long one offline (mocked) run of each stack takes: the budget is under 5 s for prod.

    venv/bin/python benchmarks/stack_synthesis.py [--runs 5]

Reports the median wall time per stack, resources declared, and time per
resource, measured in one process so the stacks compare as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline import PulumiMocks  # noqa: E402

BUDGET_SECONDS = 5.0


def measure(stack: str, runs: int) -> tuple[float, int]:
    timings, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        run = PulumiMocks().run_stack(stack, cached=False)
        timings.append(time.perf_counter() - started)
        count = len(run.resources)
    return statistics.median(timings), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    results = {stack: measure(stack, args.runs) for stack in ("dev", "prod")}
    print("| stack | resources | median run (s) | ms per resource | within 5 s budget |")
    print("| --- | --- | --- | --- | --- |")
    for stack, (seconds, count) in results.items():
        print(f"| {stack} | {count} | {seconds:.2f} | {1000 * seconds / count:.1f} | {'yes' if seconds < BUDGET_SECONDS else 'NO'} |")
    dev, prod = results["dev"][0], results["prod"][0]
    print(f"\nprod / dev run time: {prod / dev:.2f}x for {results['prod'][1] / results['dev'][1]:.2f}x the resources")
    return 0 if prod < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
