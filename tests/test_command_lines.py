"""The project's commands refuse bad input in one `refused:` line with exit status 2: unknown arguments, a bad
setting, a stale proxy package, a missing stack or file; and say what they print (--help)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import command_line
import proxy_package
from components import alarms, azure_monitoring
from components.settings import __main__ as settings_command
from components.settings import parse_settings
from failover.documents import UnreadableDocument
from offline import records, runner
from report import __main__ as report_command

COMMANDS = {"report": report_command.main, "records": records.main}


def refused_in_one_line(stderr: str) -> str:
    assert stderr.startswith("refused: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr


@pytest.fixture
def stack_named(tmp_path, monkeypatch):
    """Adds a stack of this name, dev's settings with `changes`, without touching the project's stack files."""
    real = runner.stack_file

    def add(stack: str, **changes: str) -> str:
        document = yaml.safe_load(real("dev").read_text())
        document["config"].update({f"{runner.PROJECT}:{key}": value for key, value in changes.items()})
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(document))
        monkeypatch.setattr(runner, "stack_file", lambda name: path if name == stack else real(name))
        return stack

    return add


@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_setting_is_one_line_naming_the_key_not_a_traceback(stack_named, capsys, command):
    stack = stack_named(f"bad-setting-{command}", environment="qa")
    assert COMMANDS[command]([stack]) == 2
    line = refused_in_one_line(capsys.readouterr().err)
    assert "invalid setting ha-model-serving:environment = 'qa': allowed values are 'dev', 'staging', 'prod'" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_or_stale_proxy_package_is_one_line_with_the_build_command(stack_named, tmp_path, monkeypatch, capsys, command):
    stack = stack_named(f"no-package-{command}")
    monkeypatch.setattr(proxy_package, "BUILD_DIR", tmp_path / "nothing-built")
    assert COMMANDS[command]([stack]) == 2
    assert f"build it with: {proxy_package.BUILD_COMMAND}" in refused_in_one_line(capsys.readouterr().err)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_stack_without_a_stack_file_is_refused_before_any_stack_runs(capsys, command):
    assert COMMANDS[command](["dev", "staging"]) == 2
    line = refused_in_one_line(capsys.readouterr().err)
    assert "no stack staging: there is no Pulumi.staging.yaml in " in line and "(stacks: dev, prod" in line


@pytest.mark.parametrize(
    "text, problem",
    [
        (None, "no such file"),
        ("", "the file is empty"),
        ('{"dev": ', "not JSON (line 1, column 9: Expecting value)"),
        ("[1, 2]", "it holds a JSON array, not a JSON object"),
        ('{"dev": {"outputs": {}}}', "its entry 'dev' holds no resources"),
    ],
)
def test_compare_refuses_a_file_that_is_not_records_in_one_line(tmp_path, capsys, text, problem):
    path = tmp_path / "before.json"
    if text is not None:
        path.write_text(text)
    assert records.main(["--compare", str(path), str(path)]) == 2
    assert capsys.readouterr().err == f"refused: {path}: {problem}; expected {records.RECORDS_EXPECTED}\n"


STACK_FILE = f"expected {runner.STACK_FILE_EXPECTED}"


@pytest.fixture
def stack_file_text(tmp_path, monkeypatch):
    """Adds a stack of this name whose stack file is `text`, without touching the project's stack files."""
    real = runner.stack_file

    def add(stack: str, text: str) -> Path:
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(text)
        monkeypatch.setattr(runner, "stack_file", lambda name: path if name == stack else real(name))
        return path

    return add


def _dev_with(line: int, replacement: str) -> str:
    """Pulumi.dev.yaml with its `line`-th line (from 1) replaced."""
    lines = runner.stack_file("dev").read_text().splitlines(keepends=True)
    lines[line - 1] = replacement
    return "".join(lines)


def _line_of(key: str) -> int:
    """The line (from 1) of Pulumi.dev.yaml that sets `key`."""
    return next(number for number, line in enumerate(runner.stack_file("dev").read_text().splitlines(), 1) if line.startswith(f"  {runner.PROJECT}:{key}:"))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_stack_file_that_is_not_yaml_is_one_line_saying_where(stack_file_text, capsys, command):
    line = _line_of("minSize")
    path = stack_file_text(f"misindented-{command}", _dev_with(line, f" {runner.PROJECT}:minSize: 1\n"))
    assert COMMANDS[command]([path.name[len("Pulumi.") : -len(".yaml")]]) == 2
    where = f"line {line}, column 2: expected <block end>, but found '<block mapping start>'"
    assert capsys.readouterr().err == f"refused: {path}: not YAML ({where}); {STACK_FILE}\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_key_written_twice_in_a_stack_file_is_refused_naming_both_lines(stack_file_text, capsys, command):
    first, line = _line_of("azCount"), _line_of("natStrategy")
    path = stack_file_text(f"twice-{command}", _dev_with(line, f"  {runner.PROJECT}:azCount: 3\n"))
    assert COMMANDS[command]([path.name[len("Pulumi.") : -len(".yaml")]]) == 2
    problem = f'not YAML (line {line}, column 3: mapping key "{runner.PROJECT}:azCount" already defined at line {first})'
    assert capsys.readouterr().err == f"refused: {path}: {problem}; {STACK_FILE}\n"


@pytest.mark.parametrize(
    "text, settings",
    [
        ("", {}),
        ("# settings come later\n", {}),
        ("secretsprovider: passphrase\n", {}),
        ("config:\n", {}),
        ("config:\n  aws:region: eu-west-1\n  azCount: 2\n", {"aws:region": "eu-west-1", f"{runner.PROJECT}:azCount": 2}),
    ],
    ids=["empty", "only-comments", "no-config", "config-without-settings", "namespaced-and-not"],
)
def test_a_stack_file_is_read_as_the_pulumi_cli_reads_it(tmp_path, text, settings):
    """An empty file or one without config: sets nothing; a key without a namespace is the project's."""
    path = tmp_path / "Pulumi.any.yaml"
    path.write_text(text)
    assert runner.read_stack_file(path) == settings


def test_a_quoted_boolean_in_a_stack_file_is_read_as_the_pulumi_cli_hands_it_over(tmp_path):
    """Pulumi keeps every config value as a string, and Config.get_bool parses "true" and "false": both spellings are one setting."""
    path = tmp_path / "Pulumi.any.yaml"
    path.write_text(f'config:\n  {runner.PROJECT}:deletionProtection: "false"\n  {runner.PROJECT}:dbReplicaMultiAz: false\n')
    settings = runner.read_stack_file(path)
    raw = {key.split(":", 1)[1]: value if isinstance(value, str) else json.dumps(value) for key, value in settings.items()}
    parsed = parse_settings(raw.get, "any", keys=list(settings))
    assert (parsed.deletion_protection, parsed.multi_region.database.replica_multi_az) == (False, False)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("- config\n", "it holds a list, not a mapping"),
        ("config: [a, b]\n", "its config: holds a list, not a mapping"),
        (
            f"config:\n  {runner.PROJECT}:azCount: 2\n  # the same setting again, without its namespace\n  azCount: 3\n",
            f"{runner.PROJECT}:azCount (line 2) and azCount (line 4) are the same setting, {runner.PROJECT}:azCount: a key without a namespace is the project's",
        ),
        ("config:\n  a: \x01\n", "not YAML (line 2, column 6: special characters are not allowed, #x0001)"),
    ],
)
def test_a_stack_file_the_pulumi_cli_would_refuse_is_refused_naming_it(tmp_path, text, problem):
    path = tmp_path / "Pulumi.any.yaml"
    path.write_text(text)
    with pytest.raises(UnreadableDocument) as refused:
        runner.read_stack_file(path)
    assert str(refused.value) == f"{path}: {problem}; {STACK_FILE}"


def test_a_reader_that_stops_reading_ends_a_command_quietly():
    """`python -m components.settings markdown | head -5`: head closes the pipe early; no traceback follows."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: what `| head` does once it has its lines
    try:
        command = [sys.executable, "-m", "components.settings", "markdown"]
        done = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, cwd=runner.ROOT, timeout=60)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr.decode()) == (command_line.STDOUT_CLOSED, "")


def test_every_command_ends_quietly_when_its_reader_stops_reading():
    """Each `python -m` command of the project runs its main through command_line.run_main (the runtime's own ships alone)."""
    folders = [folder for folder in runner.ROOT.iterdir() if (folder / "__init__.py").is_file() and folder.name not in ("tests", "failover")]
    commands = {path.relative_to(runner.ROOT).as_posix(): path.read_text() for folder in folders for path in folder.rglob("*.py")}
    commands = {path: text for path, text in commands.items() if 'if __name__ == "__main__":' in text}
    assert {"components/settings/__main__.py", "offline/records.py", "report/__main__.py", "ops/drill.py"} <= set(commands)
    assert [path for path, text in commands.items() if 'if __name__ == "__main__":\n    command_line.run_main(main)\n' not in text] == []


def run(main, argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize(
    "main, prog, says",
    [
        (settings_command.main, "components.settings", "`config:` block of Pulumi.yaml"),
        (alarms.main, "components.alarms", "the README's alarm table"),
        (azure_monitoring.main, "components.azure_monitoring", "the README's Azure alert table"),
    ],
)
def test_generators_refuse_unknown_arguments_and_say_what_they_print(capsys, main, prog, says):
    assert run(main, ["bogus"]) == 2
    assert capsys.readouterr().out == ""
    assert run(main, ["--bogus"]) == 2
    assert f"(see python -m {prog} --help)" in refused_in_one_line(capsys.readouterr().err)
    assert run(main, ["--help"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"usage: python -m {prog}") and "| Alarm |" not in printed and "| Alert |" not in printed and "config:\n" not in printed
    assert says in " ".join(printed.split())


def test_settings_check_names_each_generated_file_that_is_out_of_date(tmp_path, capsys):
    root = settings_command.ROOT
    assert settings_command.main(["--check"]) == 0 and capsys.readouterr() == ("", "")
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    del project["config"]["rtoSeconds"]
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (tmp_path / "README.md").write_text((root / "README.md").read_text().replace("| `rtoSeconds` |", "| `rto` |"))
    assert settings_command.main(["--check"], root=tmp_path) == 1
    assert capsys.readouterr().err.splitlines() == [
        "Pulumi.yaml: its config block is out of date; replace it with what `venv/bin/python -m components.settings` prints",
        "README.md: its settings table is out of date; replace it with what `venv/bin/python -m components.settings markdown` prints",
    ]
    assert settings_command.main([]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"config": yaml.safe_load((root / "Pulumi.yaml").read_text())["config"]}


def test_the_failover_runtime_docs_test_command_runs_every_test_file_they_describe():
    root = Path(__file__).resolve().parent.parent
    section = (root / "docs" / "failover-runtime.md").read_text().split("\n## Tests\n", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL).group(1)
    assert command.startswith("venv/bin/python -m pytest ")
    run = {path.name for pattern in command.split()[3:] for path in root.glob(pattern)}
    described = set(re.findall(r"`(test_\w+\.py)`", section))
    assert described and described <= run, f"described but not run by `{command}`: {sorted(described - run)}"


def test_the_package_builder_refuses_unknown_arguments_in_one_line_before_building(capsys):
    from proxy_package.__main__ import main

    assert run(main, ["--bogus"]) == 2
    assert "unrecognized arguments: --bogus (see python -m proxy_package --help)" in refused_in_one_line(capsys.readouterr().err)
