"""Pulumi.yaml, stack files, README and CI agree with the settings schema and with each other."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
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


def distribution_name(name: str) -> str:
    """A distribution's name as pip compares it (PEP 503): lower case, runs of -, _ and . as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(requirements: str) -> set[str]:
    """The distributions a requirements file names, extras and version ranges left out."""
    lines = (line.split("#")[0].strip() for line in (ROOT / requirements).read_text().splitlines())
    return {distribution_name(re.match(r"[A-Za-z0-9_.-]+", line).group()) for line in lines if line}


def third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    """{top-level module: the files importing it} for every module neither the standard library's nor the project's own."""
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                own = any((place / top).is_dir() or (place / f"{top}.py").is_file() for place in (ROOT, path.parent))
                if top not in sys.stdlib_module_names and top != "__future__" and not own:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def project_files(under: str = "") -> list[Path]:
    """The repository's Python files (under `under`), without virtual environments and build output."""
    skipped = {"venv", "build", ".git"}
    return [path for path in sorted((ROOT / under).rglob("*.py")) if not skipped & set(path.relative_to(ROOT).parts)]


@pytest.mark.parametrize(
    "requirements, files",
    [("requirements.txt", [path for path in project_files() if path.relative_to(ROOT).parts[0] != "policy"]), ("policy/requirements.txt", project_files("policy"))],
    ids=["project", "policy pack"],
)
def test_every_imported_package_is_declared_where_its_importer_is_installed_from(requirements, files):
    # A package that is only there because another one depends on it can go when that one changes its dependencies.
    providers = importlib.metadata.packages_distributions()
    declared = declared_distributions(requirements)
    undeclared = {
        module: sorted(importers)
        for module, importers in third_party_imports(files).items()
        if not declared & {distribution_name(name) for name in providers.get(module, [module])}
    }
    assert undeclared == {}, f"declare each in {requirements} with a comment saying why, and in the README's Dependencies table"


def test_readme_dependency_table_lists_exactly_the_declared_packages():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Dependencies") :].split("\n## ", 1)[0]
    documented = set()
    for first_cell in re.findall(r"^\| (.+?) \|", table, flags=re.MULTILINE):
        documented |= {distribution_name(name) for name in re.findall(r"`([^`/]+)`", first_cell)}
    declared = declared_distributions("requirements.txt")
    assert sorted(declared - documented) == [], "say in the README's Dependencies table why each is there"
    assert sorted(documented - declared) == [], "the README's Dependencies table names packages requirements.txt does not declare"


# Not part of the project's layout: local environments and caches (hidden entries other than CI's are not looked at).
UNLISTED = {"venv", "__pycache__", "dist", "README.md"}


def test_readme_layout_names_every_top_level_entry_and_every_module_of_components_and_ops():
    readme = (ROOT / "README.md").read_text()
    layout = re.search(r"## Layout\n\n```\n(.*?)```", readme, flags=re.DOTALL).group(1)
    named = set(re.findall(r"[\w.-]+/?", layout))
    shown = [path for path in ROOT.iterdir() if not path.name.startswith(".") or path.name in (".github", ".ci")]
    entries = [path.name + "/" if path.is_dir() else path.name for path in shown if path.name not in UNLISTED and not path.name.endswith(".egg-info")]
    modules = [path.name for place in ("components", "ops") for path in (ROOT / place).glob("*.py") if not path.name.startswith("__")]
    assert sorted(name for name in entries + modules if name not in named) == [], "say in the README's Layout what each is for"
