"""python -m report <stack> [<stack> ...]: write the topology report of each stack under docs/report/."""

from __future__ import annotations

import sys
import time

import command_line
from offline import runner
from offline.runner import BAD_STACK_INPUT
from report.availability import SlaError
from report.cost import PriceError
from report.generate import ROOT, generate


def main(argv: list[str] | None = None) -> int:
    """Writes the report files; 2 (one `refused:` line, nothing written) when a stack or its settings are bad input."""
    parser = command_line.Parser(prog="python -m report", description=__doc__)
    parser.add_argument("stacks", nargs="+", help="stack names with a Pulumi.<stack>.yaml, e.g. dev prod")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        for stack in args.stacks:
            runner.stack_file(stack)  # every stack known before the first one runs
        summaries, files = generate(args.stacks)
    except (*BAD_STACK_INPUT, OSError) as error:
        return command_line.refuse(command_line.one_line(error))
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
    command_line.run_main(main)
