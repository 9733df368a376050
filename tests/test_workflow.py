"""The CI workflow: tests with the README's commands, previews both stacks with the policy pack, deploys through OIDC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_project_files import BUILD_PROXY_PACKAGE, readme_command, readme_test_command

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "preview.yml"
LONG_LIVED_KEYS = ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "client-secret", "creds:")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW_FILE.read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def pulumi_jobs(workflow: dict[str, Any], command: str) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in workflow["jobs"].items() if any(run.startswith(f"pulumi {command}") for run in runs(job))}


def test_workflow_is_valid_yaml_triggered_by_pull_requests_and_main(workflow):
    assert set(triggers(workflow)) == {"pull_request", "push"}
    assert triggers(workflow)["push"]["branches"] == ["main"]
    for name, job in workflow["jobs"].items():
        assert job["runs-on"] and job["steps"], name


def test_tests_run_with_exactly_the_readme_commands(workflow):
    test = workflow["jobs"]["test"]
    assert runs(test) == [readme_command("set up"), readme_test_command()]
    assert uses(test, "actions/setup-python")[0]["with"]["python-version"] == "3.11"


def test_every_pulumi_job_installs_the_project_the_pack_and_the_cli_and_needs_the_tests(workflow):
    for name, job in {**pulumi_jobs(workflow, "preview"), **pulumi_jobs(workflow, "up")}.items():
        assert readme_command("set up") in runs(job), name
        assert "policy/venv/bin/pip install -r policy/requirements.txt" in " ".join(runs(job)), name
        assert uses(job, "pulumi/actions"), name
        assert job["needs"] in ("test", "deploy-dev"), name


def test_every_pulumi_job_builds_the_proxy_package_before_running_pulumi(workflow):
    # The program refuses a missing or stale Lambda package, so a preview on a fresh runner needs the build first.
    for name, job in {**pulumi_jobs(workflow, "preview"), **pulumi_jobs(workflow, "up")}.items():
        steps = runs(job)
        built = next(index for index, run in enumerate(steps) if BUILD_PROXY_PACKAGE in run)
        assert built < next(index for index, run in enumerate(steps) if run.startswith("pulumi ")), name


def test_pull_requests_preview_dev_and_prod_with_the_policy_pack(workflow):
    (name, preview), = pulumi_jobs(workflow, "preview").items()
    assert preview["if"] == "github.event_name == 'pull_request'"
    command = next(run for run in runs(preview) if run.startswith("pulumi preview"))
    assert "--stack ${{ matrix.stack }} --policy-pack policy ${{ matrix.policy-config }}" in command
    stacks = {entry["stack"]: entry["policy-config"] for entry in preview["strategy"]["matrix"]["include"]}
    assert stacks == {"dev": "", "prod": "--policy-pack-config policy/production.json"}


def test_cloud_credentials_come_from_oidc_roles_never_long_lived_keys(workflow):
    text = WORKFLOW_FILE.read_text()
    assert not [key for key in LONG_LIVED_KEYS if key in text]
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    for name, job in {**pulumi_jobs(workflow, "preview"), **pulumi_jobs(workflow, "up")}.items():
        (aws,) = uses(job, "aws-actions/configure-aws-credentials")
        assert aws["with"]["role-to-assume"].startswith("${{ vars."), name
    for name in ("preview", "deploy-prod"):
        (azure,) = uses(workflow["jobs"][name], "azure/login")
        assert set(azure["with"]) == {"client-id", "tenant-id", "subscription-id"}
        assert all(value.startswith("${{ vars.") for value in azure["with"].values())


def test_main_deploys_dev_then_prod_only_through_the_approved_production_environment(workflow):
    ups = {name: next(run for run in runs(job) if run.startswith("pulumi up")) for name, job in pulumi_jobs(workflow, "up").items()}
    assert ups == {
        "deploy-dev": "pulumi up --yes --stack dev --policy-pack policy",
        "deploy-prod": "pulumi up --yes --stack prod --policy-pack policy --policy-pack-config policy/production.json",
    }
    on_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    dev, prod = workflow["jobs"]["deploy-dev"], workflow["jobs"]["deploy-prod"]
    assert dev["if"] == prod["if"] == on_main
    assert prod["environment"] == "production" and prod["needs"] == "deploy-dev"
    assert dev["concurrency"]["cancel-in-progress"] is False and prod["concurrency"]["cancel-in-progress"] is False


def readme_deploy_commands() -> list[str]:
    """The shell lines of the README's "Deploy for real" section, comments dropped."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy for real") :].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [re.split(r"\s+# ", line)[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_readme_deploys_each_stack_through_the_policy_pack_as_ci_does(workflow):
    commands = readme_deploy_commands()
    (pack_setup,) = {run for name, job in pulumi_jobs(workflow, "up").items() for run in runs(job) if "policy/venv" in run}
    assert pack_setup in commands, "the README sets up the policy pack's environment as CI does"
    for name, job in pulumi_jobs(workflow, "up").items():
        ci = next(run for run in runs(job) if run.startswith("pulumi up"))
        stack, policy = re.fullmatch(r"pulumi up --yes --stack (\w+) (--policy-pack .+)", ci).groups()
        for command in ("preview", "up"):
            local = [line for line in commands if line.startswith(f"pulumi {command} --stack {stack} ")]
            assert local == [f"pulumi {command} --stack {stack} {policy}"], f"the README's {command} of {stack} runs the guardrails {name} runs"
