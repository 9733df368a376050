"""Prints what is generated from SCHEMA: Pulumi.yaml's config block, or with `markdown` the README's settings table."""

import sys

import yaml

from components.settings.schema import markdown_table, pulumi_yaml_config

if sys.argv[1:] == ["markdown"]:
    print(markdown_table())
else:
    print(yaml.safe_dump({"config": pulumi_yaml_config()}, sort_keys=False, width=1000), end="")
