"""FailoverDrills: AWS Fault Injection Service experiment templates for the failures one region claims to survive.

Every action id, target resource type, target key, parameter and IAM permission below is taken from the
AWS FIS actions reference (https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html);
`FIS_ACTIONS` says which entry each comes from. Scenarios per region, each its own template:

- `az-outage-<zone>`: the zone's model servers stopped and the group unable to launch there (what AWS's
  "AZ Availability: Power Interruption" scenario does to EC2); the region must keep serving from its other zones.
- `region-outage-<region>`: every model server of the region stopped and no launch possible anywhere in it;
  Route 53 and the other regions' proxies must route around it. Only where a peer region exists.
- `region-isolation-<region>`: the region's private subnets, where the model servers and the model proxy run,
  lose all traffic (network ACL swap); the proxy fails with them, so callers must move to another region.
- `database-failover-<region>`: a Multi-AZ database rebooted with failover; the region must keep serving.

Each template gets the role of its set of actions, which allows exactly those actions on this stack's resources.
Not drilled, with the reason in docs/drills.md: the Lambda fault actions (they need the FIS extension as the
function's exec wrapper and cannot be used with response streaming), the API error actions (they inject
into calls an IAM role makes to EC2 or Kinesis, which nothing of this stack does while serving), and Azure
(Chaos Studio has no target for API Management, Front Door or Azure OpenAI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pulumi
import pulumi_aws as aws

from components.settings import DrillSettings

TYPE = "ha-model-serving:aws:FailoverDrills"
# Experiment log schema version 2, the current one (FIS user guide, monitoring-logging.html#experiment-log-schema).
LOG_SCHEMA_VERSION = 2
# AWS FIS quota "Stop conditions per experiment template" (L-872EC72B).
MAX_STOP_CONDITIONS = 5
# Permissions FIS needs to deliver experiment logs to CloudWatch Logs ("vended logs": none takes a resource ARN).
# FIS user guide, monitoring-logging.html#permissions-experiment-logging -> CloudWatch Logs user guide,
# AWS-logs-and-resource-policy.html#AWS-logs-infrastructure-CWL.
LOG_DELIVERY_PERMISSIONS = ("logs:CreateLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")
# Action target keys the provider accepts; anything else fails `pulumi preview` (terraform-provider-aws #35299,
# #41208: "expected action.0.target.0.key to be one of [...]", Lambda's "Functions" among those refused).
PROVIDER_TARGET_KEYS = frozenset(
    {"AutoScalingGroups", "Buckets", "Cluster", "Clusters", "DBInstances", "Instances", "Nodegroups", "Pods",
     "ReplicationGroups", "Roles", "SpotInstances", "Subnets", "Tables", "Tasks", "TransitGateways", "Volumes"}
)

ZONE, REGION, DATABASE = "zone", "region", "database"


@dataclass(frozen=True)
class FisAction:
    """One AWS FIS action as the actions reference documents it."""

    action_id: str
    resource_type: str
    target_key: str
    # The parameter that ends the fault; None for a one-shot action, which ends when its API call completes.
    duration_parameter: str | None
    permissions: tuple[str, ...]
    reference: str  # anchor in fis-actions-reference.html
    short: str  # names the experiment role of every template that runs exactly these actions


FIS_ACTIONS: dict[str, FisAction] = {
    action.action_id: action
    for action in (
        # startInstancesAfterDuration restarts the instances (PT1M-PT12H); completeIfInstancesTerminated (needs it)
        # lets the action complete when the group has already replaced a stopped instance. kms:CreateGrant
        # restarts instances with encrypted volumes; DescribeInstances checks their state at the end.
        FisAction("aws:ec2:stop-instances", "aws:ec2:instance", "Instances", "startInstancesAfterDuration",
                  ("ec2:StopInstances", "ec2:StartInstances", "ec2:DescribeInstances", "kms:CreateGrant"), "#stop-instances", "stop"),
        # InsufficientInstanceCapacity on the group's launches in the listed zones (names or ids); launch templates only.
        FisAction("aws:ec2:asg-insufficient-instance-capacity-error", "aws:ec2:autoscaling-group", "AutoScalingGroups", "duration",
                  ("ec2:InjectApiError", "autoscaling:DescribeAutoScalingGroups"), "#asg-ice", "no-launch"),
        # Swaps in a clone of the subnet's network ACL (tagged managedByFIS=true) with deny rules, restored at the end.
        FisAction("aws:network:disrupt-connectivity", "aws:ec2:subnet", "Subnets", "duration",
                  ("ec2:CreateNetworkAcl", "ec2:CreateNetworkAclEntry", "ec2:CreateTags", "ec2:DeleteNetworkAcl",
                   "ec2:DescribeManagedPrefixLists", "ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                   "ec2:GetManagedPrefixListEntries", "ec2:ReplaceNetworkAclAssociation"), "#disrupt-connectivity", "network"),
        # RebootDBInstance; forceFailover moves a Multi-AZ instance to its standby.
        FisAction("aws:rds:reboot-db-instances", "aws:rds:db", "DBInstances", None,
                  ("rds:RebootDBInstance", "rds:DescribeDBInstances", "tag:GetResources"), "#reboot-db-instances", "db-reboot"),
    )
}


@dataclass(frozen=True)
class Target:
    """An FIS experiment target: resources of `resource_type` carrying every tag in `tags`, narrowed by `filters`.

    filters: (path, values) pairs as FIS takes them, e.g. ("Placement.AvailabilityZone", ("us-east-1a",)).
    """

    name: str
    resource_type: str
    tags: Mapping[str, str]
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Action:
    """An FIS action of a template: `action_id` on the target named `target`, with its FIS parameters (strings)."""

    name: str
    action_id: str
    target: str  # a Target's name
    parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """One experiment template: what it breaks, and whether the region's own alarm may stop it."""

    key: str
    kind: str  # zone, region or database
    summary: str
    targets: tuple[Target, ...]
    actions: tuple[Action, ...]
    # A zone or database fault must leave the region serving, so its own region-degraded alarm means "stop now";
    # a region fault is expected to degrade it, and only the other regions degrading means "stop now".
    stops_on_own_alarm: bool


@dataclass(frozen=True)
class RegionDrillPlan:
    """What one region runs, as far as drills care; known when the program runs."""

    region: str
    zones: tuple[str, ...]
    stack_tags: Mapping[str, str]
    fault_minutes: int
    runs_servers: bool  # a pilot-light standby has no servers to stop
    multi_az_database: bool  # only a Multi-AZ instance has a standby to fail over to
    has_peers: bool  # a region outage is a drill only when another region can take over


def iso_minutes(minutes: int) -> str:
    """An ISO 8601 duration, the form every FIS duration parameter takes (PT1M is one minute)."""
    return f"PT{minutes}M"


def plan_scenarios(plan: RegionDrillPlan) -> tuple[Scenario, ...]:
    """Every drill the region supports, in a stable order."""
    fault = iso_minutes(plan.fault_minutes)
    tags = dict(plan.stack_tags)
    scenarios: list[Scenario] = []

    def servers_in(zone: str) -> Target:
        running_in_zone = (("Placement.AvailabilityZone", (zone,)), ("State.Name", ("running",)))
        return Target(f"servers-{zone}", "aws:ec2:instance", tags, running_in_zone)

    def stop(zone: str) -> Action:
        # One target per zone keeps each within FIS's five instances per stop-instances target (settings enforce it).
        parameters = {"startInstancesAfterDuration": fault, "completeIfInstancesTerminated": "true"}
        return Action(f"stop-servers-{zone}", "aws:ec2:stop-instances", f"servers-{zone}", parameters)

    def no_launches(zones: tuple[str, ...]) -> Action:
        parameters = {"availabilityZoneIdentifiers": ",".join(zones), "duration": fault, "percentage": "100"}
        return Action("no-launches", "aws:ec2:asg-insufficient-instance-capacity-error", "server-group", parameters)

    group = Target("server-group", "aws:ec2:autoscaling-group", tags)
    if plan.runs_servers:
        for zone in plan.zones:
            scenarios.append(
                Scenario(
                    key=f"az-outage-{zone}", kind=ZONE,
                    summary=f"Model servers in {zone} stopped and no launches there for {plan.fault_minutes} min; {plan.region} must keep serving from its other zones.",
                    targets=(servers_in(zone), group), actions=(stop(zone), no_launches((zone,))), stops_on_own_alarm=True,
                )
            )
        if plan.has_peers:
            scenarios.append(
                Scenario(
                    key=f"region-outage-{plan.region}", kind=REGION,
                    summary=f"Every model server of {plan.region} stopped and no launches anywhere in it for {plan.fault_minutes} min; clients must be answered from another region.",
                    targets=(*(servers_in(zone) for zone in plan.zones), group),
                    actions=(*(stop(zone) for zone in plan.zones), no_launches(plan.zones)), stops_on_own_alarm=False,
                )
            )
    if plan.has_peers:
        subnets = tuple(Target(f"private-{zone}", "aws:ec2:subnet", {**tags, "tier": "private"}, (("AvailabilityZone", (zone,)),)) for zone in plan.zones)
        scenarios.append(
            Scenario(
                key=f"region-isolation-{plan.region}", kind=REGION,
                summary=f"The private subnets of {plan.region} (model servers and model proxy) cut off for {plan.fault_minutes} min; clients must be answered from another region.",
                targets=subnets,
                actions=tuple(Action(f"cut-{t.name}", "aws:network:disrupt-connectivity", t.name, {"scope": "all", "duration": fault}) for t in subnets),
                stops_on_own_alarm=False,
            )
        )
    if plan.multi_az_database:
        scenarios.append(
            Scenario(
                key=f"database-failover-{plan.region}", kind=DATABASE,
                summary=f"The Multi-AZ database of {plan.region} rebooted with failover to its standby; {plan.region} must keep serving.",
                targets=(Target("database", "aws:rds:db", tags),),
                actions=(Action("fail-over-database", "aws:rds:reboot-db-instances", "database", {"forceFailover": "true"}),),
                stops_on_own_alarm=True,
            )
        )
    return tuple(scenarios)


@dataclass(frozen=True)
class PolicyContext:
    """Values the role policies name: known when the program runs, or outputs of other resources."""

    partition: str
    account: str
    region: str
    stack_tags: Mapping[str, str]
    autoscaling_group_name: str | None
    database_identifier: str | None


def _stop_instances(ctx: PolicyContext) -> list[dict[str, Any]]:
    arn = f"arn:{ctx.partition}"
    return [
        {
            "Sid": "StopAndStartThisStacksServers",
            "Effect": "Allow",
            "Action": ["ec2:StopInstances", "ec2:StartInstances"],
            "Resource": f"{arn}:ec2:{ctx.region}:{ctx.account}:instance/*",
            # Every stack tag at once: another stack's instances stay out of reach whatever FIS selects.
            "Condition": {"StringEquals": {f"aws:ResourceTag/{key}": value for key, value in ctx.stack_tags.items()}},
        },
        {"Sid": "DescribeInstances", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
        {
            # Restarting an instance with an encrypted EBS volume needs a grant on its key, made through EC2.
            "Sid": "RestartEncryptedVolumes",
            "Effect": "Allow",
            "Action": "kms:CreateGrant",
            "Resource": f"{arn}:kms:{ctx.region}:{ctx.account}:key/*",
            "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{ctx.region}.amazonaws.com"}, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def _asg_capacity_errors(ctx: PolicyContext) -> list[dict[str, Any]]:
    group = f"arn:{ctx.partition}:autoscaling:{ctx.region}:{ctx.account}:autoScalingGroup:*:autoScalingGroupName/{ctx.autoscaling_group_name}"
    return [
        {
            # Both condition keys the actions reference asks for: this action only, on this stack's group only.
            "Sid": "CapacityErrorsForThisGroup",
            "Effect": "Allow",
            "Action": "ec2:InjectApiError",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"ec2:FisActionId": "aws:ec2:asg-insufficient-instance-capacity-error"},
                "ForAllValues:ArnLike": {"ec2:FisTargetArns": group},
            },
        },
        {"Sid": "DescribeGroups", "Effect": "Allow", "Action": "autoscaling:DescribeAutoScalingGroups", "Resource": "*"},
    ]


def _disrupt_connectivity(ctx: PolicyContext) -> list[dict[str, Any]]:
    ec2 = f"arn:{ctx.partition}:ec2:{ctx.region}:{ctx.account}"
    fis_managed = {"StringEquals": {"aws:ResourceTag/managedByFIS": "true"}}
    # Shaped after AWS's own AWSFaultInjectionSimulatorNetworkAccess policy (AWS managed policy reference):
    # CreateNetworkAcl is authorized on the new ACL, where the request carries the FIS tag, and on the VPC it is
    # created in, where it does not; so the VPC gets its own statement, limited here to this stack's VPCs.
    return [
        # FIS creates its network ACL tagged managedByFIS=true and edits or deletes only ACLs with that tag.
        {"Sid": "CreateFisAcl", "Effect": "Allow", "Action": "ec2:CreateNetworkAcl", "Resource": f"{ec2}:network-acl/*",
         "Condition": {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}}},
        {"Sid": "CreateFisAclInStackVpc", "Effect": "Allow", "Action": "ec2:CreateNetworkAcl", "Resource": f"{ec2}:vpc/*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{key}": value for key, value in ctx.stack_tags.items()}}},
        {"Sid": "TagFisAcl", "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": f"{ec2}:network-acl/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateNetworkAcl", "aws:RequestTag/managedByFIS": "true"}}},
        {"Sid": "EditFisAcl", "Effect": "Allow", "Action": ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
         "Resource": f"{ec2}:network-acl/*", "Condition": fis_managed},
        # The swap back at the end re-associates the subnet's original ACL, which carries no FIS tag.
        {"Sid": "SwapAclAssociation", "Effect": "Allow", "Action": "ec2:ReplaceNetworkAclAssociation",
         "Resource": [f"{ec2}:network-acl/*", f"{ec2}:subnet/*"]},
        {"Sid": "ReadNetwork", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeManagedPrefixLists", "ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                    "ec2:GetManagedPrefixListEntries"]},
    ]


def _reboot_database(ctx: PolicyContext) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "RebootThisStacksDatabase",
            "Effect": "Allow",
            "Action": "rds:RebootDBInstance",
            "Resource": f"arn:{ctx.partition}:rds:{ctx.region}:{ctx.account}:db:{ctx.database_identifier}",
        },
        {"Sid": "FindDatabases", "Effect": "Allow", "Action": ["rds:DescribeDBInstances", "tag:GetResources"], "Resource": "*"},
    ]


POLICY_STATEMENTS: dict[str, Callable[[PolicyContext], list[dict[str, Any]]]] = {
    "aws:ec2:stop-instances": _stop_instances,
    "aws:ec2:asg-insufficient-instance-capacity-error": _asg_capacity_errors,
    "aws:network:disrupt-connectivity": _disrupt_connectivity,
    "aws:rds:reboot-db-instances": _reboot_database,
}


def action_ids(scenario: Scenario) -> frozenset[str]:
    """The FIS action ids a scenario's template runs, which decide the experiment role it gets."""
    return frozenset(action.action_id for action in scenario.actions)


def role_key(ids: frozenset[str]) -> str:
    """Templates that run exactly the same actions share one role: it allows those actions and nothing else."""
    return "-".join(sorted(FIS_ACTIONS[action_id].short for action_id in ids))


def role_policy(ids: frozenset[str], ctx: PolicyContext) -> dict[str, Any]:
    """The experiment role's policy: the statements of these actions, each once, and log delivery."""
    statements: list[dict[str, Any]] = []
    for action_id in sorted(ids):
        statements += POLICY_STATEMENTS[action_id](ctx)
    statements.append({"Sid": "DeliverExperimentLogs", "Effect": "Allow", "Action": list(LOG_DELIVERY_PERMISSIONS), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


def trust_policy(partition: str, account: str, region: str) -> dict[str, Any]:
    """Only FIS, for experiments of this account and region (confused-deputy conditions, FIS user guide getting-started-iam-service-role.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "fis.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:fis:{region}:{account}:experiment/*"},
                },
            }
        ],
    }


def check_scenario(scenario: Scenario, stop_condition_count: int) -> None:
    """Refuses a scenario FIS or the provider would refuse, naming what and why."""
    targets = {target.name: target for target in scenario.targets}
    for action in scenario.actions:
        fis = FIS_ACTIONS.get(action.action_id)
        if fis is None:
            raise ValueError(f"{scenario.key}: {action.action_id} is not an FIS action this program has verified (FIS_ACTIONS)")
        if targets[action.target].resource_type != fis.resource_type:
            raise ValueError(f"{scenario.key}: {action.action_id} acts on {fis.resource_type}, not {targets[action.target].resource_type}")
        if fis.target_key not in PROVIDER_TARGET_KEYS:
            raise ValueError(f"{scenario.key}: the provider refuses target key {fis.target_key} of {action.action_id}")
    if not 1 <= stop_condition_count <= MAX_STOP_CONDITIONS:
        raise ValueError(
            f"{scenario.key}: {stop_condition_count} stop conditions; an FIS template takes 1 to {MAX_STOP_CONDITIONS} (quota L-872EC72B)"
        )


@dataclass(frozen=True)
class FailoverDrillsArgs:
    """One region's drill plan and what its templates act on and stop on.

    settings: fault duration in minutes and log retention in days (DrillSettings); own_alarm_arn: this
    region's region-degraded alarm, a stop condition of the zone and database drills.
    """

    plan: RegionDrillPlan
    # Names operators see, unique per account: <project>-<stack>-<region>.
    name_prefix: str
    settings: DrillSettings
    autoscaling_group_name: pulumi.Input[str] | None  # None when the region runs no servers
    database_identifier: pulumi.Input[str] | None  # None without a Multi-AZ database in the region
    own_alarm_arn: pulumi.Input[str]
    # Every other region -> the alarm of this region that mirrors its region-degraded alarm (AlarmRelay).
    peer_alarm_arns: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class FailoverDrills(pulumi.ComponentResource):
    """One region's experiment log group, an experiment role per set of actions, and a template per scenario (`self.templates[key]`)."""

    def __init__(self, name: str, args: FailoverDrillsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        plan = args.plan
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-experiments",
            name=f"/aws/fis/{args.name_prefix}",
            retention_in_days=args.settings.log_retention_days,
            opts=child,
        )
        self.scenarios = plan_scenarios(plan)
        context = pulumi.Output.all(partition, account, args.autoscaling_group_name, args.database_identifier).apply(
            lambda values: PolicyContext(values[0], values[1], plan.region, dict(plan.stack_tags), values[2], values[3])
        )
        self.roles = {
            role_key(ids): self._role(f"{name}-{role_key(ids)}", plan.region, ids, context, partition, account)
            for ids in sorted({action_ids(scenario) for scenario in self.scenarios}, key=role_key)
        }
        self.templates: dict[str, aws.fis.ExperimentTemplate] = {}
        self.stop_alarm_arns: dict[str, list[pulumi.Input[str]]] = {}
        for scenario in self.scenarios:
            stops = ([args.own_alarm_arn] if scenario.stops_on_own_alarm else []) + [args.peer_alarm_arns[p] for p in sorted(args.peer_alarm_arns)]
            check_scenario(scenario, len(stops))
            role = self.roles[role_key(action_ids(scenario))]
            self.templates[scenario.key] = aws.fis.ExperimentTemplate(
                f"{name}-{scenario.key}",
                description=scenario.summary,
                role_arn=role.arn,
                stop_conditions=[aws.fis.ExperimentTemplateStopConditionArgs(source="aws:cloudwatch:alarm", value=arn) for arn in stops],
                targets=[_target_args(target) for target in scenario.targets],
                actions=[_action_args(action, scenario) for action in scenario.actions],
                log_configuration=aws.fis.ExperimentTemplateLogConfigurationArgs(
                    log_schema_version=LOG_SCHEMA_VERSION,
                    cloudwatch_logs_configuration=aws.fis.ExperimentTemplateLogConfigurationCloudwatchLogsConfigurationArgs(
                        # The provider wants the log group ARN with its ":*" suffix.
                        log_group_arn=pulumi.Output.concat(self.log_group.arn, ":*"),
                    ),
                ),
                # This account only. A zone may hold no server (dev runs one over two zones): its stop action is skipped
                # rather than failing the experiment, and ops.drill reports what resolved, refusing a drill that broke nothing.
                experiment_options=aws.fis.ExperimentTemplateExperimentOptionsArgs(account_targeting="single-account", empty_target_resolution_mode="skip"),
                tags={"Name": f"{args.name_prefix}-{scenario.key}", "scenario": scenario.key},
                opts=child,
            )
            self.stop_alarm_arns[scenario.key] = stops
        self.register_outputs({"template_ids": {key: template.id for key, template in self.templates.items()}})

    def _role(
        self, name: str, region: str, ids: frozenset[str], context: pulumi.Output[PolicyContext], partition: pulumi.Output[str], account: pulumi.Output[str]
    ) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            name,
            description=f"FIS experiments in {region} running {', '.join(sorted(ids))}: those actions on this stack's resources, nothing else",
            assume_role_policy=pulumi.Output.all(partition, account).apply(lambda v: json.dumps(trust_policy(v[0], v[1], region))),
            opts=child,
        )
        aws.iam.RolePolicy(name, role=role.id, policy=context.apply(lambda ctx: json.dumps(role_policy(ids, ctx))), opts=child)
        return role


def _target_args(target: Target) -> aws.fis.ExperimentTemplateTargetArgs:
    return aws.fis.ExperimentTemplateTargetArgs(
        name=target.name,
        resource_type=target.resource_type,
        selection_mode="ALL",
        # Every stack tag at once: targets of this stack, never an account-wide selection.
        resource_tags=[aws.fis.ExperimentTemplateTargetResourceTagArgs(key=key, value=value) for key, value in sorted(target.tags.items())],
        filters=[aws.fis.ExperimentTemplateTargetFilterArgs(path=path, values=list(values)) for path, values in target.filters] or None,
    )


def _action_args(action: Action, scenario: Scenario) -> aws.fis.ExperimentTemplateActionArgs:
    fis = FIS_ACTIONS[action.action_id]
    return aws.fis.ExperimentTemplateActionArgs(
        name=action.name,
        action_id=action.action_id,
        description=f"{scenario.key}: {action.action_id} (fis-actions-reference.html{fis.reference})",
        parameters=[aws.fis.ExperimentTemplateActionParameterArgs(key=key, value=value) for key, value in sorted(action.parameters.items())] or None,
        target=aws.fis.ExperimentTemplateActionTargetArgs(key=fis.target_key, value=action.target),
    )
