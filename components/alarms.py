"""What each region's alarms watch and when they fire: the one list every alarm is declared from.

``ALARM_SPECS`` is the one source of truth: every CloudWatch alarm, every dashboard widget
and the README's alarm table (``venv/bin/python -m components.alarms``) are generated from it.
A spec names the kind of resource it watches (a target group, an autoscaling group, a database,
a function, a Route 53 health check); ``watched`` pairs each spec with every watched resource
of its kind, and the components of ``components/monitoring.py`` declare one alarm per pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

import pulumi

import command_line
from components.settings import MonitoringSettings

FAILOVER_COMMAND = "python -m ops.failover --stack <stack> --to <standby region>"
GIB = 1024**3


@dataclass(frozen=True)
class TargetGroupWatch:
    """A target group and its load balancer, by their ARN suffixes (CloudWatch's AWS/ApplicationELB dimensions)."""

    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    # Fewer healthy targets than this and the region counts as unable to serve.
    healthy_floor: int

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        """The LoadBalancer and TargetGroup dimensions of the target group's metrics."""
        return {"LoadBalancer": self.load_balancer_arn_suffix, "TargetGroup": self.target_group_arn_suffix}


@dataclass(frozen=True)
class AutoscalingWatch:
    """An autoscaling group, by name, with the minimum it should keep in service."""

    name: pulumi.Input[str]
    min_size: int

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        """The AutoScalingGroupName dimension of the group's metrics."""
        return {"AutoScalingGroupName": self.name}


@dataclass(frozen=True)
class DatabaseWatch:
    """An RDS instance, by identifier, as `primary` or `replica`; ValueError for any other role."""

    identifier: pulumi.Input[str]
    role: str  # "primary" or "replica"

    def __post_init__(self) -> None:
        if self.role not in ("primary", "replica"):
            raise ValueError(f"database role must be 'primary' or 'replica', not {self.role!r}")

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        """The DBInstanceIdentifier dimension of the instance's metrics."""
        return {"DBInstanceIdentifier": self.identifier}


@dataclass(frozen=True)
class FunctionWatch:
    """A Lambda function, by name."""

    name: pulumi.Input[str]

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        """The FunctionName dimension of the function's metrics."""
        return {"FunctionName": self.name}


@dataclass(frozen=True)
class HealthCheckWatch:
    """A Route 53 health check, by id (its metrics exist in us-east-1 only)."""

    health_check_id: pulumi.Input[str]

    def dimensions(self) -> dict[str, pulumi.Input[str]]:
        """The HealthCheckId dimension of the health check's metrics."""
        return {"HealthCheckId": self.health_check_id}


Watch = Union[TargetGroupWatch, AutoscalingWatch, DatabaseWatch, FunctionWatch, HealthCheckWatch]


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric of an alarm: its name, statistic and id in the alarm's metric math."""

    name: str
    stat: str  # a CloudWatch statistic (Sum, Minimum, ...) or a percentile such as p99
    id: str = "m1"

    @property
    def is_percentile(self) -> bool:
        """Whether `stat` is a percentile (p99, p99.9) rather than a named statistic such as Sum."""
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
        """The dimensions of this alarm's metrics for `watch`: the spec's own choice, else the watch's."""
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

COMPARISONS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class Watched:
    """One alarm to declare: a spec applied to one watched resource, keyed <watch key>-<spec key>."""

    key: str
    spec: AlarmSpec
    watch: Watch


def watched(watches: list[tuple[str, Watch]]) -> list[Watched]:
    """Every (spec, watched resource) pair, in the order of ALARM_SPECS, read when called.

    watches: (key, watched resource) pairs, such as ("fleet", TargetGroupWatch(...)). Raises ValueError
    when two pairs would get one key (two specs sharing a key would put one alarm in place of another).
    """
    items = [
        Watched(f"{watch_key}-{spec.key}", spec, watch)
        for spec in ALARM_SPECS
        for watch_key, watch in watches
        if isinstance(watch, spec.watches) and spec.applies(watch)
    ]
    keys = [item.key for item in items]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"alarm keys must be unique, repeated: {duplicates}")
    return items


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
        fires = f"{spec.label} {COMPARISONS[spec.comparison]} {spec.threshold_doc}"
        missing = "alarm" if spec.treat_missing_data == "breaching" else "ok"
        rows.append(
            f"| `{spec.key}` | {on} | {fires} | {missing} | {'yes' if spec.degrades_region else 'no'} | {spec.meaning} | {spec.action} |"
        )
    return "\n".join(rows)


main = command_line.table_command("components.alarms", "the README's alarm table, derived from ALARM_SPECS", markdown_table)


if __name__ == "__main__":
    command_line.run_main(main)
