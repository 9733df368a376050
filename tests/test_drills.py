"""Failover drills: the settings that bound them, the experiment templates both stacks declare, and the relay of peer alarms."""

from __future__ import annotations

import json

import pytest

from components import alarm_relay, drills
from components.drills import FIS_ACTIONS, LOG_DELIVERY_PERMISSIONS, PROVIDER_TARGET_KEYS
from components.lambda_web_adapter import EXEC_WRAPPER as LAMBDA_WEB_ADAPTER_WRAPPER
from tests.settings_helpers import parse, rejected


def test_drills_are_on_by_default_with_a_bounded_fault_and_a_stated_rto():
    drills = parse().drills
    assert (drills.enabled, drills.fault_minutes, drills.rto_seconds) == (True, 10, 900)


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("drillFaultMinutes", {"drillFaultMinutes": 0}, "between 1 and 60 minutes"),
        ("drillFaultMinutes", {"drillFaultMinutes": 61}, "between 1 and 60 minutes"),
        ("drillLogRetentionDays", {"drillLogRetentionDays": 10}, "allowed values are 1, 3, 5"),
        ("rtoSeconds", {"rtoSeconds": 30}, "between 60 and 86400 seconds"),
        # 16 servers over 3 zones puts 6 in one zone, one more than an FIS stop-instances target holds.
        ("maxSize", {"maxSize": 16, "azCount": 3}, "at most 5 model servers (AWS FIS stops at most 5 instances per target"),
        ("maxSize", {"maxSize": 11, "availabilityZones": ["us-east-1=us-east-1a,us-east-1b"]}, "11 over 2 zones puts up to 6"),
    ],
)
def test_bad_drill_setting_is_rejected_with_its_key(key, overrides, fragment):
    assert fragment in str(rejected(key, **overrides))


def test_a_fleet_too_large_for_fis_targets_is_fine_without_drills():
    assert parse(maxSize=16, azCount=3, drillsEnabled=False).fleet.capacity.max_size == 16


# --- the templates both stacks declare -----------------------------------------------------------------------------


TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
LOG_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"


def stack_tags(stack: str) -> dict[str, str]:
    return {"project": "ha-model-serving", "stack": stack, "environment": stack}


def templates(run) -> dict[str, object]:
    return {t["tags"]["scenario"]: t for t in run.of_type(TEMPLATE)}


def region_of_arn(arn: str) -> str:
    return arn.split(":")[3]


def policy_of(run, template) -> tuple[dict, dict]:
    """The experiment role's trust policy and its one inline policy."""
    role = next(r for r in run.of_type(ROLE) if r.state["arn"] == template["roleArn"])
    [policy] = [p for p in run.of_type(ROLE_POLICY) if p["role"] == role.id]
    return json.loads(role["assumeRolePolicy"]), json.loads(policy["policy"])


def actions_of(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_each_region_declares_the_drills_its_topology_supports(dev, prod):
    # dev: the primary runs one server in two zones over a Multi-AZ primary; the pilot-light standby has no
    # servers to stop and a Single-AZ replica with no standby to fail over to, but its network can still be cut.
    assert set(templates(dev)) == {
        "az-outage-us-east-1a", "az-outage-us-east-1b", "region-outage-us-east-1", "region-isolation-us-east-1",
        "database-failover-us-east-1", "region-isolation-us-west-2",
    }
    expected = set()
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        expected |= {f"az-outage-{region}{zone}" for zone in "abc"}
        expected |= {f"region-outage-{region}", f"region-isolation-{region}", f"database-failover-{region}"}
    assert set(templates(prod)) == expected
    for run in (dev, prod):
        exported = run.outputs["drills"]["scenarios"]
        assert {key: entry["templateId"] for key, entry in exported.items()} == {key: t.id for key, t in templates(run).items()}
        assert all(entry["region"] == templates(run)[key].region for key, entry in exported.items())
    assert (dev.outputs["rtoSeconds"], prod.outputs["rtoSeconds"]) == (3600, 300)
    assert (dev.outputs["environment"], prod.outputs["environment"]) == ("dev", "prod")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_template_targets_only_this_stacks_resources_by_their_tags(request, stack):
    run = request.getfixturevalue(stack)
    for key, template in templates(run).items():
        for target in template["targets"]:
            tags = {tag["key"]: tag["value"] for tag in target["resourceTags"]}
            expected = {**stack_tags(stack), "tier": "private"} if target["resourceType"] == "aws:ec2:subnet" else stack_tags(stack)
            assert tags == expected, (key, target["name"])
            assert "resourceArns" not in target and target["selectionMode"] == "ALL", key
            filters = {f["path"]: f["values"] for f in target.get("filters", [])}
            if target["resourceType"] == "aws:ec2:instance":
                # One zone per target keeps every target within FIS's five instances per stop-instances target.
                assert filters["State.Name"] == ["running"] and len(filters["Placement.AvailabilityZone"]) == 1, key
            if key.startswith("az-outage-"):
                zone = key.removeprefix("az-outage-")
                assert filters.get("Placement.AvailabilityZone", [zone]) == [zone], key
        assert template["experimentOptions"] == {"accountTargeting": "single-account", "emptyTargetResolutionMode": "skip"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_template_stops_on_alarms_of_its_own_region_that_mean_stop_now(request, stack):
    run = request.getfixturevalue(stack)
    degraded = {c.region: c.state["arn"] for c in run.of_type(COMPOSITE)}
    mirrors = {
        (alarm.region, alarm["dimensions"]["PeerRegion"]): alarm.state["arn"]
        for relay in run.of_type(alarm_relay.TYPE)
        for alarm in run.descendants(relay)
        if alarm.type == ALARM
    }
    for key, template in templates(run).items():
        region = template.region
        stops = [condition["value"] for condition in template["stopConditions"]]
        assert all(condition["source"] == "aws:cloudwatch:alarm" for condition in template["stopConditions"]), key
        assert {region_of_arn(arn) for arn in stops} == {region}, key
        peers = {mirrors[(region, peer)] for peer in degraded if peer != region}
        own = {degraded[region]} if not key.startswith(("region-outage-", "region-isolation-")) else set()
        # A region-wide fault is meant to degrade its own region: only the others degrading means stop now.
        assert set(stops) == own | peers and 1 <= len(stops) <= drills.MAX_STOP_CONDITIONS, key


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_action_is_a_verified_fis_action_bounded_by_the_drill_duration(request, stack):
    run = request.getfixturevalue(stack)
    fault = f"PT{run.outputs['drills']['faultMinutes']}M"
    for key, template in templates(run).items():
        targets = {target["name"]: target for target in template["targets"]}
        for action in template["actions"]:
            fis = FIS_ACTIONS[action["actionId"]]
            assert action["target"]["key"] == fis.target_key and fis.target_key in PROVIDER_TARGET_KEYS, key
            assert targets[action["target"]["value"]]["resourceType"] == fis.resource_type, key
            parameters = {p["key"]: p["value"] for p in action.get("parameters", [])}
            if fis.duration_parameter:
                assert parameters[fis.duration_parameter] == fault, key
            else:
                # A one-shot action: RDS's reboot with failover is the whole fault.
                assert action["actionId"] == "aws:rds:reboot-db-instances" and parameters == {"forceFailover": "true"}, key
            if action["actionId"] == "aws:ec2:stop-instances":
                # The group may replace a stopped server before FIS restarts it; that must not fail the drill.
                assert parameters["completeIfInstancesTerminated"] == "true", key


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_experiment_role_allows_only_its_templates_actions_on_this_stacks_resources(request, stack):
    run = request.getfixturevalue(stack)
    groups = {g.region: g.state["name"] for g in run.of_type("aws:autoscaling/group:Group")}
    databases = {d.region: d.state["identifier"] for d in run.of_type("aws:rds/instance:Instance")}
    tag_condition = {f"aws:ResourceTag/{key}": value for key, value in stack_tags(stack).items()}
    for key, template in templates(run).items():
        region = template.region
        trust, policy = policy_of(run, template)
        [assume] = trust["Statement"]
        assert assume["Principal"] == {"Service": "fis.amazonaws.com"} and assume["Action"] == "sts:AssumeRole"
        assert assume["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:fis:{region}:123456789012:experiment/*"
        allowed = {action for statement in policy["Statement"] for action in actions_of(statement)}
        used = {action["actionId"] for action in template["actions"]}
        assert allowed == {p for action_id in used for p in FIS_ACTIONS[action_id].permissions} | set(LOG_DELIVERY_PERMISSIONS), key
        for statement in policy["Statement"]:
            acts = set(actions_of(statement))
            assert statement["Effect"] == "Allow"
            if acts & {"ec2:StopInstances", "ec2:StartInstances"}:
                assert statement["Resource"] == f"arn:aws:ec2:{region}:123456789012:instance/*"
                assert statement["Condition"] == {"StringEquals": tag_condition}, key
            if "ec2:InjectApiError" in acts:
                condition = statement["Condition"]
                assert condition["StringEquals"] == {"ec2:FisActionId": "aws:ec2:asg-insufficient-instance-capacity-error"}
                assert condition["ForAllValues:ArnLike"]["ec2:FisTargetArns"].endswith(f":autoScalingGroupName/{groups[region]}"), key
            if "rds:RebootDBInstance" in acts:
                assert statement["Resource"] == f"arn:aws:rds:{region}:123456789012:db:{databases[region]}", key
            if acts & {"ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"}:
                assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/managedByFIS": "true"}}, key
            if "ec2:CreateNetworkAcl" in acts:
                # Authorized on the new ACL (the request carries the FIS tag) and on its VPC (it does not): as in AWS's
                # AWSFaultInjectionSimulatorNetworkAccess, one statement each, the VPC limited to this stack's.
                if statement["Resource"].endswith(":vpc/*"):
                    assert statement["Condition"] == {"StringEquals": tag_condition}, key
                else:
                    assert statement["Resource"] == f"arn:aws:ec2:{region}:123456789012:network-acl/*"
                    assert statement["Condition"] == {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}}, key
        creates = [s for s in policy["Statement"] if "ec2:CreateNetworkAcl" in actions_of(s)]
        if creates:
            assert sorted(s["Resource"].rsplit(":", 1)[1] for s in creates) == ["network-acl/*", "vpc/*"], key
            if "kms:CreateGrant" in acts:
                assert statement["Condition"]["StringEquals"] == {"kms:ViaService": f"ec2.{region}.amazonaws.com"}, key


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_experiment_logs_go_to_a_log_group_of_the_stack_in_the_templates_region(request, stack):
    run = request.getfixturevalue(stack)
    groups = {g.state["arn"]: g for g in run.of_type(LOG_GROUP)}
    for key, template in templates(run).items():
        configuration = template["logConfiguration"]
        assert configuration["logSchemaVersion"] == drills.LOG_SCHEMA_VERSION == 2
        arn = configuration["cloudwatchLogsConfiguration"]["logGroupArn"]
        assert arn.endswith(":*"), key
        group = groups[arn.removesuffix(":*")]
        assert group.region == template.region and group["name"] == f"/aws/fis/ha-model-serving-{stack}-{template.region}"
        assert group["retentionInDays"] == 90


def test_the_model_proxy_carries_no_fis_lambda_extension(prod):
    # The FIS extension must be the function's exec wrapper and suppresses response streaming even between
    # experiments (FIS user guide, use-lambda-actions.html); the proxy is drilled by cutting its subnets instead.
    for function in prod.of_type("aws:lambda/function:Function"):
        variables = (function.get("environment") or {}).get("variables", {})
        # The exec wrapper is the Lambda Web Adapter's; the FIS extension would need its own and a configuration location.
        assert variables.get("AWS_LAMBDA_EXEC_WRAPPER") == LAMBDA_WEB_ADAPTER_WRAPPER
        assert "AWS_FIS_CONFIGURATION_LOCATION" not in variables
        assert not any("aws-fis" in layer.lower() for layer in function.get("layers") or [])
    assert not any(action["actionId"].startswith("aws:lambda:") for t in prod.of_type(TEMPLATE) for action in t["actions"])


def test_each_region_mirrors_every_other_regions_degraded_alarm(prod):
    degraded = {c.region: c.state["arn"] for c in prod.of_type(COMPOSITE)}
    for relay in prod.of_type(alarm_relay.TYPE):
        parts = prod.descendants(relay)
        [region] = {part.region for part in parts}
        peers = sorted(set(degraded) - {region})
        of = lambda token: [r for r in parts if r.type == token]  # noqa: E731
        forward = next(rule for rule in of(RULE) if rule.name.endswith("-forward"))
        receive = next(rule for rule in of(RULE) if rule.name.endswith("-receive"))
        pattern = json.loads(forward["eventPattern"])
        assert pattern == {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "resources": [degraded[region]]}
        assert json.loads(receive["eventPattern"])["resources"] == [degraded[peer] for peer in peers]
        buses = {t["arn"] for t in of(EVENT_TARGET) if t["rule"] == forward.state["name"]}
        assert buses == {f"arn:aws:events:{peer}:123456789012:event-bus/default" for peer in peers}
        [log_group] = of(LOG_GROUP)
        assert {t["arn"] for t in of(EVENT_TARGET) if t["rule"] == receive.state["name"]} == {log_group.state["arn"]}
        [log_policy] = of(LOG_POLICY)
        assert log_policy["resourceArn"] == log_group.state["arn"] and "policyName" not in log_policy
        filters = {f["pattern"]: f["metricTransformation"] for f in of(METRIC_FILTER)}
        assert {pattern: t["value"] for pattern, t in filters.items()} == {
            '{ $.detail.state.value = "ALARM" }': "1",
            '{ $.detail.state.value = "OK" }': "0",
        }
        assert all(t["dimensions"] == {"PeerRegion": "$.region"} and t["namespace"] == "ha-model-serving-prod/PeerRegions" for t in filters.values())
        mirrors = {a["dimensions"]["PeerRegion"]: a for a in of(ALARM)}
        assert sorted(mirrors) == peers
        for alarm in mirrors.values():
            assert (alarm["metricName"], alarm["namespace"], alarm["statistic"]) == ("RegionDegraded", "ha-model-serving-prod/PeerRegions", "Maximum")
            assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
            # Events arrive only on changes: between them the mirror keeps the peer's last state.
            assert alarm["treatMissingData"] == "ignore"


def test_a_region_without_peers_drills_zones_and_its_database_only():
    # Nowhere to route to: a region outage would be an outage, not a drill.
    plan = drills.RegionDrillPlan("us-east-1", ("us-east-1a", "us-east-1b"), stack_tags("dev"), 10, True, True, has_peers=False)
    scenarios = drills.plan_scenarios(plan)
    assert [s.key for s in scenarios] == ["az-outage-us-east-1a", "az-outage-us-east-1b", "database-failover-us-east-1"]
    assert all(s.stops_on_own_alarm for s in scenarios)


def test_a_pilot_light_standby_with_a_single_az_replica_drills_only_its_network():
    plan = drills.RegionDrillPlan("us-west-2", ("us-west-2a", "us-west-2b"), stack_tags("dev"), 10, False, False, True)
    assert [s.key for s in drills.plan_scenarios(plan)] == ["region-isolation-us-west-2"]


def test_drills_off_declares_no_template_role_or_relay(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev", regions=["us-east-1"], vpcCidrs=["us-east-1=10.110.0.0/16"], drillsEnabled=False)
    assert not run.of_type(TEMPLATE) and not run.of_type(alarm_relay.TYPE) and not run.of_type(drills.TYPE)
    assert run.outputs["drills"]["scenarios"] == {}


def test_a_scenario_fis_or_the_provider_would_refuse_is_refused_by_name():
    plan = drills.RegionDrillPlan("us-east-1", ("us-east-1a", "us-east-1b"), stack_tags("dev"), 10, True, True, True)
    outage = next(s for s in drills.plan_scenarios(plan) if s.key == "region-outage-us-east-1")
    with pytest.raises(ValueError, match=r"region-outage-us-east-1: 6 stop conditions; an FIS template takes 1 to 5 \(quota L-872EC72B\)"):
        drills.check_scenario(outage, 6)
    with pytest.raises(ValueError, match="0 stop conditions"):
        drills.check_scenario(outage, 0)
    lambda_delay = drills.Action("delay", "aws:lambda:invocation-add-delay", "server-group")
    with pytest.raises(ValueError, match="aws:lambda:invocation-add-delay is not an FIS action this program has verified"):
        drills.check_scenario(drills.Scenario("x", "region", "", outage.targets, (lambda_delay,), False), 1)
    wrong = drills.Action("stop", "aws:ec2:stop-instances", "server-group")
    with pytest.raises(ValueError, match="acts on aws:ec2:instance, not aws:ec2:autoscaling-group"):
        drills.check_scenario(drills.Scenario("x", "region", "", outage.targets, (wrong,), False), 1)
