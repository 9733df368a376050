"""Pulumi.yaml, stack files, README and CI agree with the settings schema and with each other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components.settings import PROJECT, SCHEMA, markdown_table, pulumi_yaml_config

ROOT = Path(__file__).resolve().parent.parent
PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def test_pulumi_yaml_declares_every_setting_with_type_default_and_description():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}
    assert project["config"] == pulumi_yaml_config(), "regenerate with: venv/bin/python -m components.settings"
    for key, declaration in project["config"].items():
        assert isinstance(declaration["default"], PULUMI_TYPES[declaration["type"]]), key
        assert declaration["description"], key


def test_stack_files_set_only_declared_settings():
    declared = {f"{PROJECT}:{setting.key}" for setting in SCHEMA}
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(stack_file.read_text())["config"]
        unknown = {key for key in config if key.startswith(f"{PROJECT}:")} - declared
        assert not unknown, f"{stack_file.name}: {unknown}"


def test_readme_lists_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "regenerate with: venv/bin/python -m components.settings markdown"


def readme_command(label: str) -> str:
    """The command of the README's ```sh block whose first line is `# <label>` (set up, test)."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"```sh\n# {label}\n(.+?)\n```", readme)
    assert match, f"the README shows the {label} command in a ```sh block starting with '# {label}'"
    return match.group(1).strip()


def readme_test_command() -> str:
    return readme_command("test")


BUILD_PROXY_PACKAGE = "venv/bin/python -m proxy_package"


def test_ci_runs_the_readme_test_command_in_a_fresh_virtualenv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_test_command() in ci
    assert "python3 -m venv" in ci and "pip install -r requirements.txt" in ci


def test_setting_up_builds_the_proxy_package_after_installing_and_before_testing():
    setup = readme_command("set up")
    assert setup.endswith(f"pip install -r requirements.txt && {BUILD_PROXY_PACKAGE}")
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("pip install -r requirements.txt") < ci.index(BUILD_PROXY_PACKAGE) < ci.index(readme_test_command())


@pytest.mark.parametrize("requirements", ["requirements.txt", "policy/requirements.txt"])
def test_requirements_pin_version_ranges(requirements):
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.search(r">=[\d.]+,<[\d.]+", line), f"{requirements}: give {line!r} a version range"
