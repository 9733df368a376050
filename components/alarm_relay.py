"""AlarmRelay: the other regions' "region degraded" alarms, mirrored as alarms of this region.

A CloudWatch alarm watches only metrics of its own region ("Cross-Region functionality is not supported
for alarms", CloudWatch user guide, Cross-Account-Cross-Region.html), and AWS FIS documents stop
conditions only as alarms it reads next to the experiment; whether an alarm ARN of another region is
honoured is undocumented (aws-samples/aws-fault-injection-simulator-workshop #306 lists it as untested).
A drill in one region must still stop when another region degrades, so each region relays its own
alarm's state changes to its peers and mirrors theirs:

    region B: EventBridge rule on B's region-degraded alarm --(cross-Region event bus target)--> region A's default bus
    region A: EventBridge rule on its peers' alarms -> log group -> metric filters (ALARM = 1, OK = 0, per peer)
              -> one alarm per peer, treat missing data "ignore", so it keeps the peer's last state

CloudWatch sends every alarm state change to EventBridge (cloudwatch-and-eventbridge.html), EventBridge
delivers to an event bus in another Region (eb-cross-region.html), and a log group target needs a resource
policy for events.amazonaws.com (eb-use-resource-based.html#eb-cloudwatchlogs-permissions). The policy is
attached to the log group itself: account-level CloudWatch Logs resource policies are limited to 10 per Region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_aws as aws

TYPE = "ha-model-serving:aws:AlarmRelay"
ALARM_STATE_CHANGE = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
MIRROR_METRIC = "RegionDegraded"
PEER_DIMENSION = "PeerRegion"
# The alarm's state as a number: what the mirror alarm compares against 1.
STATE_VALUES = {"ALARM": "1", "OK": "0"}


@dataclass(frozen=True)
class AlarmRelayArgs:
    """What one region's AlarmRelay forwards and mirrors.

    own_alarm_arn: this region's region-degraded alarm, whose state changes go to every peer;
    peer_alarm_arns: each other region's region-degraded alarm, mirrored here (at least one);
    log_retention_days: the mirror log group's retention, one of CloudWatch's accepted values.
    """

    region: str
    # Names operators see, unique per account: <project>-<stack>-<region>.
    name_prefix: str
    # Unique per stack, so two stacks in one account never share a mirrored metric.
    metric_namespace: str
    own_alarm_arn: pulumi.Input[str]
    # Every other region of the stack -> its region-degraded alarm ARN.
    peer_alarm_arns: Mapping[str, pulumi.Input[str]]
    log_retention_days: int


def state_filter_pattern(state: str) -> str:
    """CloudWatch Logs JSON filter pattern matching an alarm state change event into `state`."""
    return f'{{ $.detail.state.value = "{state}" }}'


class AlarmRelay(pulumi.ComponentResource):
    """Forwards this region's degraded-alarm events to its peers and mirrors theirs as `self.mirrors[peer]`."""

    def __init__(self, name: str, args: AlarmRelayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        if not args.peer_alarm_arns:
            raise ValueError(f"{name}: a relay needs at least one other region; {args.region} has no peers")
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        self.forward_rule = self._forward(name, args, account, partition)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-peer-alarms",
            name=f"/aws/events/{args.name_prefix}/peer-alarms",
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        aws.cloudwatch.LogResourcePolicy(
            f"{name}-peer-alarms",
            resource_arn=self.log_group.arn,
            policy_document=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EventBridgeWritesPeerAlarmEvents",
                            "Effect": "Allow",
                            "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": pulumi.Output.concat(self.log_group.arn, ":*"),
                        }
                    ],
                }
            ),
            opts=child,
        )
        receive = aws.cloudwatch.EventRule(
            f"{name}-receive",
            description=f"Region-degraded alarm state changes of {', '.join(sorted(args.peer_alarm_arns))}, forwarded to {args.region}",
            event_pattern=pulumi.Output.json_dumps({**ALARM_STATE_CHANGE, "resources": [args.peer_alarm_arns[p] for p in sorted(args.peer_alarm_arns)]}),
            opts=child,
        )
        aws.cloudwatch.EventTarget(f"{name}-receive", rule=receive.name, arn=self.log_group.arn, opts=child)
        for state, value in STATE_VALUES.items():
            aws.cloudwatch.LogMetricFilter(
                f"{name}-peer-{state.lower()}",
                log_group_name=self.log_group.name,
                pattern=state_filter_pattern(state),
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=MIRROR_METRIC, namespace=args.metric_namespace, value=value, dimensions={PEER_DIMENSION: "$.region"}
                ),
                opts=child,
            )
        self.mirrors: dict[str, aws.cloudwatch.MetricAlarm] = {
            peer: aws.cloudwatch.MetricAlarm(
                f"{name}-peer-{peer}",
                name=f"{args.name_prefix}-peer-{peer}-degraded",
                alarm_description=(
                    f"Mirror, in {args.region}, of {peer}'s region-degraded alarm: what stops a drill here when {peer} degrades. "
                    f"{peer}'s own alarm notifies operators."
                ),
                namespace=args.metric_namespace,
                metric_name=MIRROR_METRIC,
                dimensions={PEER_DIMENSION: peer},
                statistic="Maximum",
                period=60,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                # No event means no change: keep the peer's last state instead of guessing.
                treat_missing_data="ignore",
                opts=child,
            )
            for peer in sorted(args.peer_alarm_arns)
        }
        self.register_outputs({"mirror_alarm_arns": {peer: alarm.arn for peer, alarm in self.mirrors.items()}})

    def _forward(self, name: str, args: AlarmRelayArgs, account: pulumi.Output[str], partition: pulumi.Output[str]) -> aws.cloudwatch.EventRule:
        """This region's alarm state changes, sent to the default event bus of every peer region."""
        child = pulumi.ResourceOptions(parent=self)
        peer_buses = {
            peer: pulumi.Output.concat("arn:", partition, ":events:", peer, ":", account, ":event-bus/default")
            for peer in sorted(args.peer_alarm_arns)
        }
        role = aws.iam.Role(
            f"{name}-forward",
            description=f"EventBridge in {args.region}: put this region's alarm events on its peers' default buses only",
            assume_role_policy=account.apply(
                lambda account_id: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-forward",
            role=role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "PeerBuses", "Effect": "Allow", "Action": "events:PutEvents", "Resource": list(peer_buses.values())}],
                }
            ),
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-forward",
            description=f"State changes of {args.region}'s region-degraded alarm, for the other regions' drill stop conditions",
            event_pattern=pulumi.Output.json_dumps({**ALARM_STATE_CHANGE, "resources": [args.own_alarm_arn]}),
            opts=child,
        )
        for peer, bus in peer_buses.items():
            aws.cloudwatch.EventTarget(f"{name}-forward-{peer}", rule=rule.name, arn=bus, role_arn=role.arn, opts=child)
        return rule
