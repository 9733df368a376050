"""Prints the `config:` block of Pulumi.yaml, or with `markdown` the README's settings table, as SCHEMA gives them.

    venv/bin/python -m components.settings [markdown] [--check]

SCHEMA is in components/settings/schema.py. Only Pulumi.yaml's `config:` block derives from it (the project's
name, description and runtime above it are written by hand): paste what this prints in place of the old block
or table. With --check it prints nothing when both are current, and exits 1 naming each that is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

import command_line
from components.settings.schema import markdown_table, pulumi_yaml_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_COMMAND = "venv/bin/python -m components.settings"
TABLE_COMMAND = f"{CONFIG_COMMAND} markdown"


def config_block() -> str:
    """Pulumi.yaml's `config:` block, as YAML text."""
    return yaml.safe_dump({"config": pulumi_yaml_config()}, sort_keys=False, width=1000)


def out_of_date(root: Path = ROOT) -> list[str]:
    """One line for each of Pulumi.yaml's config block and the README's settings table that SCHEMA no longer gives."""
    stale = []
    if (yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}).get("config") != pulumi_yaml_config():
        stale.append(f"Pulumi.yaml: its config block is out of date; replace it with what `{CONFIG_COMMAND}` prints")
    if markdown_table() not in (root / "README.md").read_text():
        stale.append(f"README.md: its settings table is out of date; replace it with what `{TABLE_COMMAND}` prints")
    return stale


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    """Prints the chosen block, or checks both; returns the exit status."""
    parser = command_line.Parser(prog="python -m components.settings", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "what", nargs="?", choices=("config", "markdown"), default="config",
        help="config: Pulumi.yaml's config: block (the default); markdown: the README's settings table",
    )
    parser.add_argument("--check", action="store_true", help="print nothing; exit 1 when Pulumi.yaml's config block or the README table is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = out_of_date(root)
        for line in stale:
            print(line, file=sys.stderr)
        return 1 if stale else 0
    print(markdown_table() if args.what == "markdown" else config_block(), end="" if args.what == "config" else "\n")
    return 0


if __name__ == "__main__":
    command_line.run_main(main)
