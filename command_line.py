"""What the project's commands share: bad input refused in one line, with exit status 2, before anything acts.

    parser = command_line.Parser(prog="python -m ops.drill", description=...)
    parser.add_argument("--probe-interval", type=command_line.number(1, 60, "seconds"), default=5.0)
    ...
    except Refused as refusal:
        return command_line.refuse(str(refusal))
    ...
    if __name__ == "__main__":
        command_line.run_main(main)

A refusal is one line on stderr, `refused: <what>`, naming the option, setting or file, the bad value and
what is allowed; the exit status is 2, argparse's own for bad usage. A command that tried and failed exits 1.
The failover runtime's command (`python -m failover`) ships alone in the Lambda package and refuses the same
way in its own words; a file either cannot read is worded by failover/documents.py for both. A command whose
reader stops reading (`... | head`) ends quietly (run_main).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, NoReturn

BAD_INPUT = 2  # exit status: refused, nothing was done
STDOUT_CLOSED = 1  # exit status when whoever reads the output stops reading, as Python's own on EPIPE


def refuse(reason: str) -> int:
    """Prints `refused: <reason>` on stderr as one line and returns BAD_INPUT, the command's exit status."""
    print(f"refused: {' '.join(reason.split())}", file=sys.stderr)
    return BAD_INPUT


def one_line(error: BaseException) -> str:
    """An error's message for `refuse`: an OSError as `<file>: <reason>` (no errno), anything else as its message."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename is not None else error.strerror
    return str(error)


class Parser(argparse.ArgumentParser):
    """argparse, refusing bad usage in one `refused:` line that points to --help, instead of the usage block.

    Unknown arguments are refused like any other mistake (parse_args does; parse_known_args is not for commands).
    """

    def error(self, message: str) -> NoReturn:
        """Refuses bad usage: `refused: <message> (see <prog> --help)` on stderr, then exits with status 2."""
        refuse(f"{message} (see {self.prog} --help)")
        sys.exit(BAD_INPUT)


def number(minimum: float, maximum: float, unit: str, *, whole: bool = False) -> Callable[[str], float]:
    """An argparse `type` accepting a finite number from `minimum` to `maximum` (inclusive) of `unit`.

    whole: accept integers only (returned as int). Anything else, `nan` and `inf` included (Python's
    float() accepts both), raises argparse.ArgumentTypeError, which the parser reports as
    `argument --option: '-1' is not allowed; expected <unit> from <minimum> to <maximum>`.
    """
    allowed = f"{'a whole number of ' if whole else ''}{unit} from {minimum:g} to {maximum:g}"

    def parse(text: str) -> float:
        try:
            value: float = int(text) if whole else float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and minimum <= value <= maximum):
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected {allowed}")
        return value

    return parse


def table_command(module: str, what: str, table: Callable[[], str]) -> Callable[[list[str] | None], int]:
    """The `main(argv)` of `python -m <module>` that prints `table()` (the README's `what`, a string) and
    takes no argument but --help; it returns 0, or exits 2 through the parser on anything else."""

    def main(argv: list[str] | None = None) -> int:
        parser = Parser(prog=f"python -m {module}", description=f"Prints {what}.")
        parser.parse_args(argv)
        print(table())
        return 0

    main.__doc__ = f"`python -m {module}`: prints {what}; refuses any argument but --help."
    return main


def run_main(main: Callable[[], int]) -> NoReturn:
    """Exits with the status `main()` returns; when the reader of stdout stops reading first (`... | head`), exits
    with STDOUT_CLOSED and no traceback.

    Python ignores SIGPIPE, so a write to a pipe nobody reads raises BrokenPipeError, and flushing stdout at exit
    raises it again. The recipe of Python's signal module documentation ("Note on SIGPIPE",
    docs.python.org/3/library/signal.html#note-on-sigpipe): flush inside the try, then point stdout at /dev/null
    before exiting with 1. Restoring SIGPIPE's default instead would also kill the process on a broken socket.
    """
    try:
        status = main()
        sys.stdout.flush()  # a pipe closed after the last print fails here, inside the try
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(STDOUT_CLOSED)
    sys.exit(status)
