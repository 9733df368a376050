"""docs/service-rules.md covers every AWS resource type both stacks declare, and no name outlives its resource."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.fleet import AUTONAME_SUFFIX, ELB_NAME_MAX, ModelFleet, ModelFleetArgs
from tests.settings_helpers import parse

ROOT = Path(__file__).resolve().parent.parent
RULES_DOC = (ROOT / "docs" / "service-rules.md").read_text()

# The input that names a resource in the cloud, per type that this program names itself. Every other AWS resource
# is named by Pulumi (logical name and a random suffix, new for every incarnation: pulumi/pulumi#10120) or by AWS.
EXPLICIT_NAMES = {
    "aws:rds/instance:Instance": "identifier",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": "alarmName",
    # The drills' mirror alarms are read by people during a drill; CloudWatch frees an alarm's name at delete.
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:route53/record:Record": "name",
}
NAME_INPUTS = ("name", "identifier", "dashboardName", "alarmName", "functionName", "roleName", "topicName")
# Kept by AWS after a delete, so a fixed name would block the next incarnation: these must never be named.
SOFT_DELETED = {"aws:secretsmanager/secret:Secret", "aws:kms/alias:Alias"}


def aws_types(run) -> set[str]:
    return {r.type for r in run.resources if r.type.startswith("aws:")}


def section(token: str) -> str:
    match = re.search(rf"^### `{re.escape(token)}`\n(.*?)(?=^##)", RULES_DOC, re.S | re.M)
    assert match, f"docs/service-rules.md has no section ### `{token}`"
    return match.group(1)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_declared_aws_resource_type_has_its_rules_and_sources_listed(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    for token in sorted(aws_types(run)):
        text = section(token)
        assert "https://" in text, f"{token}: no source"
        assert "Cannot be checked offline" in text or "Nothing else" in text, f"{token}: say what remains unchecked"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_names_freed_at_delete_are_fixed_by_the_program(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    for resource in run.resources:
        if not resource.type.startswith("aws:"):
            continue
        named = [key for key in NAME_INPUTS if key in resource.inputs and resource.type != "aws:lambda/functionUrl:FunctionUrl"]
        if resource.type in SOFT_DELETED:
            assert "name" not in resource.inputs, f"{resource.type} {resource.name} has a fixed name that outlives it"
        elif named:
            assert named == [EXPLICIT_NAMES.get(resource.type)], f"{resource.type} {resource.name} fixes {named}"


def test_a_fleet_name_too_long_for_its_load_balancer_is_refused_before_anything_is_declared(pulumi_mocks):
    settings = parse()
    longest = f"fleet-{'x' * (ELB_NAME_MAX - AUTONAME_SUFFIX - len('fleet--tg') + 1)}"

    def program():
        ModelFleet(
            longest,
            ModelFleetArgs(
                vpc_id="vpc-1", load_balancer_subnet_ids=["subnet-a"], instance_subnet_ids=["subnet-b"], settings=settings.fleet,
                capacity=settings.fleet.capacity, certificate_arn=None, deletion_protection=False,
            ),
        )

    with pytest.raises(ValueError, match=rf"{longest}-lb: .* at most {ELB_NAME_MAX}"):
        pulumi_mocks.run(program)


@pytest.mark.parametrize("region", ["ap-southeast-5", "ap-northeast-3", "us-gov-west-1", "eu-central-2"])
def test_the_longest_region_codes_fit_the_load_balancer_names(region):
    assert len(f"fleet-{region}-tg") + AUTONAME_SUFFIX <= ELB_NAME_MAX
