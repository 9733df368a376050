"""Alert topics, alarms and dashboards that tell operators when a region should be failed over.

Every alarm and dashboard widget is declared from ``components/alarms.py`` (``ALARM_SPECS``).
``RegionMonitoring`` watches one AWS region through that region's provider and combines the
alarms that mean "this region cannot serve" into one composite alarm. ``HealthCheckMonitoring``
watches Route 53 health checks, whose metrics exist only in us-east-1.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components.alarms import (
    FAILOVER_COMMAND,
    AutoscalingWatch,
    DatabaseWatch,
    FunctionWatch,
    HealthCheckWatch,
    TargetGroupWatch,
    Watched,
    watched,
)
from components.settings import MonitoringSettings, recipient_identity

REGION_TYPE = "ha-model-serving:aws:RegionMonitoring"
HEALTH_CHECK_TYPE = "ha-model-serving:aws:HealthCheckMonitoring"
# Route 53 publishes health check metrics to CloudWatch in this region only.
HEALTH_CHECK_METRICS_REGION = "us-east-1"


def _alarm_metric_args(item: Watched, settings: MonitoringSettings) -> dict[str, Any]:
    spec, period = item.spec, settings.period_seconds
    dimensions = dict(spec.dimensions_of(item.watch))
    if spec.expression is None:
        [metric] = spec.metrics
        statistic = {"extended_statistic": metric.stat} if metric.is_percentile else {"statistic": metric.stat}
        return {"namespace": spec.namespace, "metric_name": metric.name, "dimensions": dimensions, "period": period, **statistic}
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=metric.id,
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=spec.namespace, metric_name=metric.name, dimensions=dimensions, period=period, stat=metric.stat
            ),
        )
        for metric in spec.metrics
    ]
    queries.append(aws.cloudwatch.MetricAlarmMetricQueryArgs(id="e1", expression=spec.expression, label=spec.label, return_data=True))
    return {"metric_queries": queries}


def _widget(item: Watched, settings: MonitoringSettings, region: str) -> dict[str, Any]:
    """A dashboard graph of exactly what the alarm evaluates, with its threshold drawn in."""
    spec = item.spec
    flat_dimensions = [part for pair in spec.dimensions_of(item.watch).items() for part in pair]
    if spec.expression is None:
        [metric] = spec.metrics
        metrics = [[spec.namespace, metric.name, *flat_dimensions, {"stat": metric.stat, "label": spec.label}]]
    else:
        metrics = [[{"expression": spec.expression, "id": "e1", "label": spec.label}]] + [
            [spec.namespace, metric.name, *flat_dimensions, {"id": metric.id, "stat": metric.stat, "visible": False}]
            for metric in spec.metrics
        ]
    return {
        "type": "metric",
        "width": 12,
        "height": 6,
        "properties": {
            "title": f"{item.key}: {spec.label}",
            "region": region,
            "view": "timeSeries",
            "period": settings.period_seconds,
            "metrics": metrics,
            "annotations": {"horizontal": [{"label": "alarm threshold", "value": spec.threshold(settings, item.watch)}]},
        },
    }


def _alert_topic(parent: pulumi.Resource, name: str, region: str, settings: MonitoringSettings) -> aws.sns.Topic:
    """A KMS-encrypted SNS topic only CloudWatch alarms of this account can publish to, with the configured subscribers."""
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition

    key = aws.kms.Key(
        f"{name}-alerts",
        description=f"Encrypts the {name} alert topic",
        enable_key_rotation=True,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministersTheKey",
                        "Effect": "Allow",
                        "Principal": {"AWS": pulumi.Output.concat("arn:", partition, ":iam::", account, ":root")},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        # CloudWatch encrypts each alarm message it publishes to the topic.
                        "Sid": "CloudWatchAlarmsPublishEncrypted",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ],
            }
        ),
        opts=child,
    )
    topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=key.arn, opts=child)
    aws.sns.TopicPolicy(
        f"{name}-alerts",
        arn=topic.arn,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "OnlyThisAccountsAlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": "sns:Publish",
                        "Resource": topic.arn,
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": account},
                            "ArnLike": {"aws:SourceArn": pulumi.Output.concat("arn:", partition, ":cloudwatch:", region, ":", account, ":alarm:*")},
                        },
                    }
                ],
            }
        ),
        opts=child,
    )
    for protocol, endpoint in settings.subscribers:
        aws.sns.TopicSubscription(
            f"{name}-alerts-{protocol}-{recipient_key(endpoint)}",
            topic=topic.arn,
            protocol=protocol,
            # A webhook URL often carries its own access token.
            endpoint=pulumi.Output.secret(endpoint) if protocol == "https" else endpoint,
            opts=child,
        )
    return topic


def recipient_key(endpoint: str) -> str:
    """A stable, short resource-name key that does not spell out the recipient (URLs may hold tokens)."""
    return hashlib.sha256(recipient_identity(endpoint).encode()).hexdigest()[:10]


def _declare_alarms(
    parent: pulumi.Resource, name: str, items: list[Watched], settings: MonitoringSettings, topic: aws.sns.Topic
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    child = pulumi.ResourceOptions(parent=parent)
    return {
        item.key: aws.cloudwatch.MetricAlarm(
            f"{name}-{item.key}",
            alarm_description=f"{item.spec.meaning} What to do: {item.spec.action}",
            comparison_operator=item.spec.comparison,
            threshold=item.spec.threshold(settings, item.watch),
            evaluation_periods=settings.evaluation_periods,
            datapoints_to_alarm=settings.datapoints_to_alarm,
            treat_missing_data=item.spec.treat_missing_data,
            # State changes always reach the topic; alertingEnabled only decides who is subscribed to it.
            actions_enabled=True,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            opts=child,
            **_alarm_metric_args(item, settings),
        )
        for item in items
    }


def _dashboard(
    parent: pulumi.Resource,
    name: str,
    dashboard_name: str,
    region: str,
    items: list[Watched],
    alarm_arns: list[pulumi.Input[str]],
    settings: MonitoringSettings,
) -> aws.cloudwatch.Dashboard:
    status = {"type": "alarm", "width": 24, "height": 4, "properties": {"title": "Alarms", "alarms": alarm_arns}}
    body = {"widgets": [status] + [_widget(item, settings, region) for item in items]}
    return aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=dashboard_name,
        dashboard_body=pulumi.Output.json_dumps(body),
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass(frozen=True)
class RegionMonitoringArgs:
    """What one region's monitoring watches, each by a stable key (the component that owns it).

    At least one target group or function is needed: they decide whether the region can serve.
    """

    region: str
    # Names operators see (composite alarm, dashboard): unique per account, e.g. <project>-<stack>-<region>.
    name_prefix: str
    settings: MonitoringSettings
    target_groups: Mapping[str, TargetGroupWatch] = field(default_factory=dict)
    autoscaling_groups: Mapping[str, AutoscalingWatch] = field(default_factory=dict)
    databases: Mapping[str, DatabaseWatch] = field(default_factory=dict)
    functions: Mapping[str, FunctionWatch] = field(default_factory=dict)


class RegionMonitoring(pulumi.ComponentResource):
    """One region's alert topic, alarms, "region degraded" composite alarm and dashboard."""

    def __init__(self, name: str, args: RegionMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(REGION_TYPE, name, None, opts)
        items = watched(
            [
                (key, watch)
                for group in (args.target_groups, args.autoscaling_groups, args.databases, args.functions)
                for key, watch in group.items()
            ]
        )
        degrading = [item.key for item in items if item.spec.degrades_region]
        if not degrading:
            raise ValueError(f"{name}: nothing watched tells whether {args.region} can serve; pass its target groups or functions")

        self.topic = _alert_topic(self, name, args.region, args.settings)
        self.alarms = _declare_alarms(self, name, items, args.settings, self.topic)
        self.degraded_alarm = aws.cloudwatch.CompositeAlarm(
            f"{name}-degraded",
            alarm_name=f"{args.name_prefix}-region-degraded",
            alarm_description=(
                f"{args.region} cannot serve: one of its serving alarms is in ALARM. "
                f"If it stays in ALARM and the other regions are healthy, run `{FAILOVER_COMMAND}`."
            ),
            alarm_rule=pulumi.Output.all(*[self.alarms[key].name for key in degrading]).apply(
                lambda names: " OR ".join(f'ALARM("{alarm_name}")' for alarm_name in names)
            ),
            actions_enabled=True,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard = _dashboard(
            self,
            name,
            args.name_prefix,
            args.region,
            items,
            [self.degraded_alarm.arn] + [alarm.arn for alarm in self.alarms.values()],
            args.settings,
        )
        self.register_outputs({"topic_arn": self.topic.arn, "degraded_alarm_arn": self.degraded_alarm.arn})


@dataclass(frozen=True)
class HealthCheckMonitoringArgs:
    """The Route 53 health checks to alarm on, and the settings (thresholds, recipients) for them."""

    name_prefix: str
    settings: MonitoringSettings
    # Route 53 health check id per key (for example per region it checks).
    health_checks: Mapping[str, pulumi.Input[str]]


class HealthCheckMonitoring(pulumi.ComponentResource):
    """Alarms on Route 53 health checks, with their own topic and dashboard; create it through a us-east-1 provider."""

    def __init__(self, name: str, args: HealthCheckMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(HEALTH_CHECK_TYPE, name, None, opts)
        items = watched([(key, HealthCheckWatch(health_check_id)) for key, health_check_id in args.health_checks.items()])
        self.topic = _alert_topic(self, name, HEALTH_CHECK_METRICS_REGION, args.settings)
        self.alarms = _declare_alarms(self, name, items, args.settings, self.topic)
        self.dashboard = _dashboard(
            self,
            name,
            f"{args.name_prefix}-health-checks",
            HEALTH_CHECK_METRICS_REGION,
            items,
            [alarm.arn for alarm in self.alarms.values()],
            args.settings,
        )
        self.register_outputs({"topic_arn": self.topic.arn})
