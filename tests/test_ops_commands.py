"""What the runbook and the drill share: bad options, another stack's outputs and missing credentials are refused
in one line, with exit status 2, before any AWS call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ops import drill, failover
from ops.stack import Refused, read_outputs

SCENARIO = "region-outage-us-east-1"
OUTPUTS = {
    "stack": "dev",
    "environment": "dev",
    "rtoSeconds": 300,
    "topology": "active-passive",
    "primaryRegion": "us-east-1",
    "drills": {"faultMinutes": 10, "scenarios": {SCENARIO: {"region": "us-east-1", "kind": "region", "summary": "", "templateId": "EXT1"}}},
    "regions": {
        region: {
            "role": role, "autoscalingGroupName": "g", "targetGroupArn": "arn", "fullCapacity": {"min": 1, "max": 2, "desired": 1},
            "database": {"identifier": f"db-{region}", "secretName": "secret"}, "endpoint": "http://a", "healthUrl": "http://a/health",
            "degradedAlarmArn": f"arn:aws:cloudwatch:{region}:123456789012:alarm:x",
        }
        for region, role in (("us-east-1", "primary"), ("us-west-2", "standby"))
    },
}
COMMANDS = {"failover": (failover.main, ["--to", "us-west-2"]), "drill": (drill.main, ["--scenario", SCENARIO])}


class Untouchable:
    """Clients, prober and sleep that record being used at all: a refusal must come before any of them."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def clients(self, service: str, region: str):
        self.used.append(f"client {service}")
        raise AssertionError(f"{service} was called")

    def sleep(self, seconds: float) -> None:
        self.used.append(f"sleep {seconds}")

    def probe(self, target):
        self.used.append(f"probe {target.name}")
        raise AssertionError("probed")


def run(command: str, args: list[str], tmp_path: Path, capsys, outputs: dict | None = OUTPUTS, untouchable: Untouchable | None = None, **injected):
    """(exit status, stderr) of `command` with the outputs as --outputs; argparse's SystemExit counts as a status."""
    main, required = COMMANDS[command]
    argv = ["--stack", "dev", *required, *args]
    if outputs is not None:
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        argv += ["--outputs", str(tmp_path / "outputs.json")]
    if untouchable is not None:
        injected = {"clients": untouchable.clients, "sleep": untouchable.sleep, **({"prober": untouchable} if command == "drill" else {}), **injected}
    try:
        status = main(argv, **injected)
    except SystemExit as exit_:
        status = exit_.code
    return status, capsys.readouterr().err


def refused_in_one_line(stderr: str) -> str:
    assert stderr.startswith("refused: ") and stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr


@pytest.mark.parametrize(
    "command, option, value, allowed",
    [
        ("drill", "--probe-interval", "-1", "seconds from 1 to 60"),
        ("drill", "--probe-interval", "0", "seconds from 1 to 60"),
        ("drill", "--probe-interval", "nan", "seconds from 1 to 60"),
        ("drill", "--probe-interval", "3600", "seconds from 1 to 60"),
        ("drill", "--recovery-timeout", "-1", "seconds from 0 to 86400"),
        ("drill", "--recovery-timeout", "inf", "seconds from 0 to 86400"),
        ("drill", "--max-probes", "0", "a whole number of probe requests from 1 to 100000"),
        ("drill", "--max-probes", "2.5", "a whole number of probe requests from 1 to 100000"),
        ("failover", "--timeout", "0", "seconds from 1 to 86400"),
        ("failover", "--timeout", "inf", "seconds from 1 to 86400"),
        ("failover", "--poll-interval", "-1", "seconds from 1 to 300"),
        ("failover", "--poll-interval", "0", "seconds from 1 to 300"),
        ("failover", "--poll-interval", "abc", "seconds from 1 to 300"),
    ],
)
def test_a_numeric_option_out_of_range_is_refused_naming_option_value_and_range(tmp_path, capsys, command, option, value, allowed):
    untouchable = Untouchable()
    status, stderr = run(command, [option, value], tmp_path, capsys, untouchable=untouchable)
    assert status == 2 and untouchable.used == []
    assert f"argument {option}: '{value}' is not allowed; expected {allowed}" in refused_in_one_line(stderr)


def test_a_poll_interval_longer_than_the_timeout_is_refused(tmp_path, capsys):
    status, stderr = run("failover", ["--timeout", "10", "--poll-interval", "30"], tmp_path, capsys, untouchable=Untouchable())
    assert status == 2 and "argument --poll-interval: 30 is not allowed; expected at most --timeout (10)" in refused_in_one_line(stderr)


def test_an_empty_model_name_for_the_drills_probes_is_refused(tmp_path, capsys):
    status, stderr = run("drill", ["--model", " "], tmp_path, capsys, untouchable=Untouchable())
    assert status == 2 and "argument --model: ' ' is not allowed; expected the name of a model the proxies serve" in refused_in_one_line(stderr)


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_usage_is_one_line_pointing_to_help(tmp_path, capsys, command):
    status, stderr = run(command, ["--bogus"], tmp_path, capsys, untouchable=Untouchable())
    assert status == 2 and f"unrecognized arguments: --bogus (see python -m ops.{command} --help)" in refused_in_one_line(stderr)


@pytest.mark.parametrize("command", COMMANDS)
def test_outputs_of_another_stack_are_refused_before_anything_else(tmp_path, capsys, command):
    prod = {**OUTPUTS, "stack": "prod", "environment": "prod"}
    untouchable = Untouchable()
    status, stderr = run(command, [], tmp_path, capsys, outputs=prod, untouchable=untouchable)
    assert status == 2 and untouchable.used == []
    assert f"outputs in {tmp_path / 'outputs.json'} are of stack prod (environment prod), not stack dev" in refused_in_one_line(stderr)


def test_outputs_that_do_not_name_their_stack_are_used_with_a_note(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({key: value for key, value in OUTPUTS.items() if key != "stack"}))
    notes: list[str] = []
    assert read_outputs("dev", path, warn=notes.append)["topology"] == "active-passive"
    assert notes == [f"the outputs in {path} do not name their stack (exported before the `stack` output); make sure they are stack dev's"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "text, problem",
    [
        (None, "no such file"),
        ("", "the file is empty"),
        ("topology: active-passive\n", "not JSON (line 1, column 1: Expecting value)"),
        ('{"stack": "dev",}', "not JSON (line 1, column 17: Expecting property name enclosed in double quotes)"),
        ("[]", "it holds a JSON array, not a JSON object"),
    ],
    ids=["missing", "empty", "yaml", "trailing-comma", "array"],
)
def test_outputs_that_cannot_be_read_are_one_line_naming_the_file_and_what_it_should_hold(tmp_path, capsys, command, text, problem):
    path = tmp_path / "dev.json"
    if text is not None:
        path.write_text(text)
    untouchable = Untouchable()
    status, stderr = run(command, ["--outputs", str(path)], tmp_path, capsys, outputs=None, untouchable=untouchable)
    assert status == 2 and untouchable.used == []
    assert stderr == f"refused: --outputs {path}: {problem}; expected the output of `pulumi stack output --json`, a JSON object of stack outputs\n"


def test_outputs_the_pulumi_cli_prints_that_are_not_json_are_refused_saying_so():
    def prints(stdout: str):
        return lambda command, **kwargs: type("Completed", (), {"stdout": stdout})()

    command = "`pulumi stack output --json --show-secrets --stack dev`"
    with pytest.raises(Refused) as refused:
        read_outputs("dev", None, run=prints("warning: no stack outputs\n"))
    assert str(refused.value) == f"what {command} printed: not JSON (line 1, column 1: Expecting value); expected the stack's outputs as a JSON object"
    with pytest.raises(Refused, match=r"printed: it is empty; expected"):
        read_outputs("dev", None, run=prints(""))


@pytest.fixture
def aws_home(tmp_path, monkeypatch):
    """An environment where botocore finds no credentials of its own: no AWS_* variables, an empty home, no IMDS."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask the instance metadata service off this machine
    return home


SSO_PROFILE = """[profile operator]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Operator
"""


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "situation, reason",
    [
        ("none", "no AWS credentials"),
        ("unknown profile", "The config profile (nobody) could not be found"),
        ("sso not signed in", "Error loading SSO Token"),
    ],
)
def test_without_usable_credentials_both_commands_refuse_with_how_to_sign_in(aws_home, tmp_path, capsys, monkeypatch, command, situation, reason):
    if situation == "unknown profile":
        monkeypatch.setenv("AWS_PROFILE", "nobody")
    if situation == "sso not signed in":
        (aws_home / ".aws" / "config").write_text(SSO_PROFILE)
        monkeypatch.setenv("AWS_PROFILE", "operator")
    status, stderr = run(command, ["--dry-run"], tmp_path, capsys)
    assert status == 2
    line = refused_in_one_line(stderr)
    assert reason in line and "aws sso login" in line and "AWS_PROFILE" in line
