"""`venv/bin/python -m proxy_package`: build the model proxy's Lambda package into build/proxy/."""

from __future__ import annotations

import sys
from pathlib import Path

import command_line
from proxy_package import BUILD_DIR, ROOT
from proxy_package.build import BuildError, build


def main(argv: list[str] | None = None) -> int:
    """Builds the package into `--out` (default build/proxy/) and prints its size and hash; 1 with the reason on stderr when the build fails."""
    parser = command_line.Parser(prog="python -m proxy_package", description=__doc__)
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help=f"build directory (default: {BUILD_DIR.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    try:
        package = build(args.out.resolve())
    except BuildError as error:
        print(f"proxy_package: {error}", file=sys.stderr)
        return 1
    size_mb = package.archive.stat().st_size / 1e6
    print(f"built {package.archive} ({size_mb:.1f} MB, {package.runtime}, sha256 {package.sha256})")
    return 0


if __name__ == "__main__":
    command_line.run_main(main)
