"""How long one offline (mocked) run of each stack takes: the budget is under 5 s for prod.

    venv/bin/python benchmarks/stack_synthesis.py [--runs 5]

Reports, per stack, the median wall time of a run (every resource checked against the provider
schemas, as tests and the report run it), resources declared and time per resource; then prod
once more with the schema check replaced by a no-op, to show what the check costs. Everything is
measured in one process, so the stacks and the two prod runs compare as ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import offline.runner  # noqa: E402
from offline import PulumiMocks  # noqa: E402

BUDGET_SECONDS = 5.0


def measure(stack: str, runs: int) -> tuple[float, int]:
    """(median seconds of `runs` uncached offline runs of `stack`, resources it declares)."""
    timings, count = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        run = PulumiMocks().run_stack(stack, cached=False)
        timings.append(time.perf_counter() - started)
        count = len(run.resources)
    return statistics.median(timings), count


@contextmanager
def schema_check_skipped() -> Iterator[None]:
    """Replaces the runner's schema check with a no-op, for a comparison only: tests never run without it."""
    check = offline.runner.check_inputs
    offline.runner.check_inputs = lambda *args, **kwargs: None
    try:
        yield
    finally:
        offline.runner.check_inputs = check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    results = {stack: measure(stack, args.runs) for stack in ("dev", "prod")}
    with schema_check_skipped():
        unchecked, _ = measure("prod", args.runs)
    print(f"| stack | resources | median run (s) | ms per resource | within {BUDGET_SECONDS:g} s budget |")
    print("| --- | --- | --- | --- | --- |")
    for stack, (seconds, count) in results.items():
        print(f"| {stack} | {count} | {seconds:.2f} | {1000 * seconds / count:.1f} | {'yes' if seconds < BUDGET_SECONDS else 'NO'} |")
    dev, prod = results["dev"][0], results["prod"][0]
    print(f"\nprod / dev run time: {prod / dev:.2f}x for {results['prod'][1] / results['dev'][1]:.2f}x the resources")
    print(f"prod with / without the schema check: {prod / unchecked:.2f}x ({unchecked:.2f} s without)")
    return 0 if prod < BUDGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
