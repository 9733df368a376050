"""Alarms, alert topics and dashboards that tell operators when a region should be failed over.

``ALARM_SPECS`` is the one source of truth: every CloudWatch alarm, every dashboard widget
and the README's alarm table are generated from it. A spec names the kind of resource it
watches (a target group, an autoscaling group, a database, a function, a Route 53 health
check); a component declares one alarm per spec and watched resource of that kind.

``RegionMonitoring`` watches one AWS region through that region's provider and combines the
alarms that mean "this region cannot serve" into one composite alarm. ``HealthCheckMonitoring``
watches Route 53 health checks, whose metrics exist only in us-east-1.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

import pulumi
import pulumi_aws as aws

from components.settings import MonitoringSettings, recipient_identity

REGION_TYPE = "ha-model-serving:aws:RegionMonitoring"
HEALTH_CHECK_TYPE = "ha-model-serving:aws:HealthCheckMonitoring"
# Route 53 publishes health check metrics to CloudWatch in this region only.
HEALTH_CHECK_METRICS_REGION = "us-east-1"
FAILOVER_COMMAND = "python -m ops.failover --stack <stack> --to <standby region>"
GIB = 1024**3


@dataclass(frozen=True)
class TargetGroupWatch:
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    # Fewer healthy targets than this and the region counts as unable to serve.
    healthy_floor: int

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"LoadBalancer": self.load_balancer_arn_suffix, "TargetGroup": self.target_group_arn_suffix}


@dataclass(frozen=True)
class AutoscalingWatch:
    name: pulumi.Input[str]
    min_size: int

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"AutoScalingGroupName": self.name}


@dataclass(frozen=True)
class DatabaseWatch:
    identifier: pulumi.Input[str]
    role: str  # "primary" or "replica"

    def __post_init__(self) -> None:
        if self.role not in ("primary", "replica"):
            raise ValueError(f"database role must be 'primary' or 'replica', not {self.role!r}")

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"DBInstanceIdentifier": self.identifier}


@dataclass(frozen=True)
class FunctionWatch:
    name: pulumi.Input[str]

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"FunctionName": self.name}


@dataclass(frozen=True)
class HealthCheckWatch:
    health_check_id: pulumi.Input[str]

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        return {"HealthCheckId": self.health_check_id}


Watch = Union[TargetGroupWatch, AutoscalingWatch, DatabaseWatch, FunctionWatch, HealthCheckWatch]


@dataclass(frozen=True)
class Metric:
    name: str
    stat: str  # a CloudWatch statistic (Sum, Minimum, ...) or a percentile such as p99
    id: str = "m1"

    @property
    def is_percentile(self) -> bool:
        return re.fullmatch(r"p\d+(\.\d+)?", self.stat) is not None


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm per watched resource of kind ``watches``: what it measures, when it fires, what to do."""

    key: str
    label: str  # the plotted quantity, on dashboards and in the README
    watches: type
    namespace: str
    metrics: tuple[Metric, ...]
    comparison: str
    threshold: Callable[[MonitoringSettings, Any], float]
    threshold_doc: str
    # What no data means for this metric: silence from a health signal is itself a failure.
    treat_missing_data: str
    meaning: str
    action: str
    # Part of the region's "region degraded" composite alarm: the region cannot serve.
    degrades_region: bool = False
    # Metric math over the metrics' ids, when the alarm is on a derived value (a rate).
    expression: str | None = None
    dimensions: Callable[[Any], Mapping[str, pulumi.Input[str]]] | None = None
    applies: Callable[[Any], bool] = field(default=lambda watch: True)
    # What the alarm is declared on, for the README, when narrower than every resource of its kind.
    scope: str | None = None

    def dimensions_of(self, watch: Watch) -> Mapping[str, pulumi.Input[str]]:
        return self.dimensions(watch) if self.dimensions else watch.dimensions()


# m1 errors, m2 requests. FILL: no error datapoints means no errors; IF: no requests is no error rate, not a division by zero.
PERCENT_OF_REQUESTS = "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"


def _load_balancer_only(watch: TargetGroupWatch) -> dict[str, pulumi.Input[str]]:
    return {"LoadBalancer": watch.load_balancer_arn_suffix}


_RUNBOOK = f"run `{FAILOVER_COMMAND}`"

ALARM_SPECS: list[AlarmSpec] = [
    AlarmSpec(
        key="unhealthy-hosts",
        label="Unhealthy model servers",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("UnHealthyHostCount", "Maximum"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: 0,
        threshold_doc="0",
        treat_missing_data="notBreaching",
        meaning="At least one model server fails its health check; the load balancer has stopped sending it requests.",
        action="The autoscaling group replaces it on its own. Look at the server's container logs (Session Manager) if it repeats; no failover.",
    ),
    AlarmSpec(
        key="healthy-hosts",
        label="Healthy model servers",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("HealthyHostCount", "Minimum"),),
        comparison="LessThanThreshold",
        threshold=lambda s, w: w.healthy_floor,
        threshold_doc="`alarmHealthyHostFloor`",
        treat_missing_data="breaching",
        # A pilot-light standby has no servers by design (floor 0) until the runbook promotes it.
        applies=lambda watch: watch.healthy_floor > 0,
        meaning="Fewer model servers pass health checks than the region needs to serve; no data means the load balancer itself is gone.",
        action=f"Region degraded. The group replaces failed servers; if it stays in ALARM after a new server had time to load its model, {_RUNBOOK}.",
        degrades_region=True,
    ),
    AlarmSpec(
        key="target-5xx-rate",
        label="Model server 5xx, % of requests",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("HTTPCode_Target_5XX_Count", "Sum", "m1"), Metric("RequestCount", "Sum", "m2")),
        expression=PERCENT_OF_REQUESTS,
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.target_5xx_percent,
        threshold_doc="`alarmTarget5xxPercent`",
        treat_missing_data="notBreaching",
        meaning="Model servers answer too many requests with 5xx: the model crashed, ran out of memory or rejects requests.",
        action=f"Region degraded. Check the last deployment (model image, arguments) and roll it back; if every server fails, {_RUNBOOK}.",
        degrades_region=True,
    ),
    AlarmSpec(
        key="lb-5xx-rate",
        label="Load balancer 5xx, % of requests",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("HTTPCode_ELB_5XX_Count", "Sum", "m1"), Metric("RequestCount", "Sum", "m2")),
        expression=PERCENT_OF_REQUESTS,
        dimensions=_load_balancer_only,
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.lb_5xx_percent,
        threshold_doc="`alarmLb5xxPercent`",
        treat_missing_data="notBreaching",
        meaning="The load balancer answers requests itself with 5xx (502/503/504): no healthy target, or targets time out.",
        action=f"Region degraded. Read it with the healthy-hosts alarm; if clients keep failing, {_RUNBOOK}.",
        degrades_region=True,
    ),
    AlarmSpec(
        key="latency-p99",
        label="Model server response time p99, seconds",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("TargetResponseTime", "p99"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.latency_p99_seconds,
        threshold_doc="`alarmLatencyP99Seconds`",
        treat_missing_data="notBreaching",
        meaning="The slowest 1% of requests take longer than they should: servers are saturated or a model is stuck.",
        action="Check requests per target and scaling activity; raise maxSize if the group is at its maximum. The region still serves; no failover.",
    ),
    AlarmSpec(
        key="in-service-instances",
        label="In-service model servers",
        watches=AutoscalingWatch,
        namespace="AWS/AutoScaling",
        metrics=(Metric("GroupInServiceInstances", "Minimum"),),
        comparison="LessThanThreshold",
        threshold=lambda s, w: w.min_size,
        threshold_doc="the group's `minSize`",
        treat_missing_data="breaching",
        meaning="The autoscaling group runs fewer instances than its minimum: launches fail (capacity, quota, AMI) or the group is gone.",
        action="Read the group's activity history for the launch error and fix it (instance type capacity, service quota, AMI). Fail over only with the healthy-hosts alarm.",
        applies=lambda watch: watch.min_size > 0,
    ),
    AlarmSpec(
        key="db-cpu",
        label="Database CPU, %",
        watches=DatabaseWatch,
        namespace="AWS/RDS",
        metrics=(Metric("CPUUtilization", "Average"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.db_cpu_percent,
        threshold_doc="`alarmDbCpuPercent`",
        treat_missing_data="breaching",
        meaning="The database is CPU-bound, or reports nothing because it is down.",
        action="Find the expensive queries (Performance Insights) or scale the instance class; if the primary is down, Multi-AZ fails over within the region on its own.",
    ),
    AlarmSpec(
        key="db-free-storage",
        label="Database free storage, bytes",
        watches=DatabaseWatch,
        namespace="AWS/RDS",
        metrics=(Metric("FreeStorageSpace", "Minimum"),),
        comparison="LessThanThreshold",
        threshold=lambda s, w: s.db_free_storage_gib * GIB,
        threshold_doc="`alarmDbFreeStorageGiB` in bytes",
        treat_missing_data="breaching",
        meaning="The database is running out of storage; at zero it stops accepting writes.",
        action="Increase allocated storage (or enable storage autoscaling) before it runs out.",
    ),
    AlarmSpec(
        key="replica-lag",
        label="Replica lag, seconds",
        watches=DatabaseWatch,
        namespace="AWS/RDS",
        metrics=(Metric("ReplicaLag", "Maximum"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.replica_lag_seconds,
        threshold_doc="`alarmReplicaLagSeconds`",
        treat_missing_data="breaching",
        meaning="The read replica is behind the primary: a failover to it now loses the writes of that many seconds. No data means replication stopped.",
        action="Before promoting this replica in a failover, weigh the data it would lose; fix replication (network, primary load) or pick another replica.",
        applies=lambda watch: watch.role == "replica",
        scope="each read replica (never the primary)",
    ),
    AlarmSpec(
        key="proxy-errors",
        label="Model proxy errors",
        watches=FunctionWatch,
        namespace="AWS/Lambda",
        metrics=(Metric("Errors", "Sum"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.lambda_errors,
        threshold_doc="`alarmLambdaErrors`",
        treat_missing_data="notBreaching",
        meaning="The regional model proxy fails requests even after trying the other regions.",
        action=f"Region degraded. Check the function's logs for the failing upstream; if the region's own fleet is the cause, {_RUNBOOK}.",
        degrades_region=True,
    ),
    AlarmSpec(
        key="proxy-throttles",
        label="Model proxy throttles",
        watches=FunctionWatch,
        namespace="AWS/Lambda",
        metrics=(Metric("Throttles", "Sum"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.lambda_throttles,
        threshold_doc="`alarmLambdaThrottles`",
        treat_missing_data="notBreaching",
        meaning="The model proxy hit its concurrency limit and rejected invocations.",
        action="Raise the function's reserved concurrency or the account's Lambda concurrency quota in this region.",
    ),
    AlarmSpec(
        key="proxy-duration-p99",
        label="Model proxy duration p99, milliseconds",
        watches=FunctionWatch,
        namespace="AWS/Lambda",
        metrics=(Metric("Duration", "p99"),),
        comparison="GreaterThanThreshold",
        threshold=lambda s, w: s.lambda_duration_p99_seconds * 1000,
        threshold_doc="`alarmLambdaDurationP99Seconds` in milliseconds",
        treat_missing_data="notBreaching",
        meaning="The slowest 1% of proxied requests take too long: upstreams are slow or the proxy keeps failing over between regions.",
        action="Compare with each region's latency-p99 alarm to find the slow upstream.",
    ),
    AlarmSpec(
        key="health-check",
        label="Route 53 health check status (1 healthy)",
        watches=HealthCheckWatch,
        namespace="AWS/Route53",
        metrics=(Metric("HealthCheckStatus", "Minimum"),),
        comparison="LessThanThreshold",
        threshold=lambda s, w: 1,
        threshold_doc="1",
        treat_missing_data="breaching",
        meaning="Route 53's checkers cannot reach the region's health URL; DNS already sends clients elsewhere.",
        action=f"Confirm with the region's region-degraded alarm. If the region stays unhealthy, {_RUNBOOK} so the database primary moves too.",
    ),
]

_COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class _Watched:
    """One alarm to declare: a spec applied to one watched resource."""

    key: str
    spec: AlarmSpec
    watch: Watch


def _watched(watches: list[tuple[str, Watch]]) -> list[_Watched]:
    """Every (spec, watched resource) pair, in the order of ALARM_SPECS, read when called."""
    items = [
        _Watched(f"{watch_key}-{spec.key}", spec, watch)
        for spec in ALARM_SPECS
        for watch_key, watch in watches
        if isinstance(watch, spec.watches) and spec.applies(watch)
    ]
    # Two specs sharing a key would silently put one alarm in place of another.
    keys = [item.key for item in items]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"alarm keys must be unique, repeated: {duplicates}")
    return items


def _alarm_metric_args(item: _Watched, settings: MonitoringSettings) -> dict[str, Any]:
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


def _widget(item: _Watched, settings: MonitoringSettings, region: str) -> dict[str, Any]:
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
    parent: pulumi.Resource, name: str, items: list[_Watched], settings: MonitoringSettings, topic: aws.sns.Topic
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
    items: list[_Watched],
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
        items = _watched(
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
    name_prefix: str
    settings: MonitoringSettings
    # Route 53 health check id per key (for example per region it checks).
    health_checks: Mapping[str, pulumi.Input[str]]


class HealthCheckMonitoring(pulumi.ComponentResource):
    """Alarms on Route 53 health checks, with their own topic and dashboard; create it through a us-east-1 provider."""

    def __init__(self, name: str, args: HealthCheckMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(HEALTH_CHECK_TYPE, name, None, opts)
        items = _watched([(key, HealthCheckWatch(health_check_id)) for key, health_check_id in args.health_checks.items()])
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


def markdown_table() -> str:
    """The README's alarm table, derived from ALARM_SPECS."""
    kinds = {
        TargetGroupWatch: "each target group",
        AutoscalingWatch: "each autoscaling group",
        DatabaseWatch: "each database",
        FunctionWatch: "each model proxy function",
        HealthCheckWatch: "each Route 53 health check (us-east-1)",
    }
    rows = [
        "| Alarm | On | Fires when | No data counts as | Region degraded | What it means | What to do |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for spec in ALARM_SPECS:
        on = spec.scope or kinds[spec.watches]
        fires = f"{spec.label} {_COMPARISONS[spec.comparison]} {spec.threshold_doc}"
        missing = "alarm" if spec.treat_missing_data == "breaching" else "ok"
        rows.append(
            f"| `{spec.key}` | {on} | {fires} | {missing} | {'yes' if spec.degrades_region else 'no'} | {spec.meaning} | {spec.action} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
