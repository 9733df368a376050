"""python -m report <stack> [<stack> ...]: write the topology report of each stack under docs/report/."""

from __future__ import annotations

import argparse
import sys
import time

from report.availability import SlaError
from report.cost import PriceError
from report.generate import ROOT, generate


def main(argv: list[str] | None = None) -> int:
    """`python -m report <stack> ...` with `argv`; returns the exit status.

    Writes each stack's report files (for two or more stacks, the comparison and the README section too);
    0 when done, 1 with the reason on stderr when a price or an SLA is missing.
    """
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__)
    parser.add_argument("stacks", nargs="+", help="stack names with a Pulumi.<stack>.yaml, e.g. dev prod")
    args = parser.parse_args(argv)
    missing = [stack for stack in args.stacks if not (ROOT / f"Pulumi.{stack}.yaml").exists()]
    if missing:
        parser.error(f"no stack file for {', '.join(missing)} (expected Pulumi.<stack>.yaml in {ROOT})")

    started = time.perf_counter()
    try:
        summaries, files = generate(args.stacks)
    except (PriceError, SlaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path, text in files.items():
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for summary in summaries:
        print(summary.line())
    print(f"wrote {len(files)} files in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
