"""Monitoring settings: who is alerted, and when a metric means a region is in trouble."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.settings.reading import Reader, SettingsError, in_range, require_distinct


@dataclass(frozen=True)
class MonitoringSettings:
    """Alert recipients, alarm evaluation (seconds, periods) and each alarm's threshold."""

    alerting_enabled: bool
    alert_emails: tuple[str, ...]
    alert_webhooks: tuple[str, ...]
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    healthy_host_floor: int
    target_5xx_percent: int
    lb_5xx_percent: int
    latency_p99_seconds: int
    db_cpu_percent: int
    db_free_storage_gib: int
    replica_lag_seconds: int
    lambda_errors: int
    lambda_throttles: int
    lambda_duration_p99_seconds: int
    gateway_backend_5xx: int
    gateway_backend_429: int
    origin_health_percent: int

    @property
    def subscribers(self) -> tuple[tuple[str, str], ...]:
        """(protocol, endpoint) of everyone alerted: none while alerting is off."""
        if not self.alerting_enabled:
            return ()
        return tuple(("email", e) for e in self.alert_emails) + tuple(("https", u) for u in self.alert_webhooks)


def recipient_identity(endpoint: str) -> str:
    """What makes two alert recipients the same: their address or URL without case.

    Mail systems match addresses without case, and each recipient's alert subscriptions are named after
    this identity (components/monitoring.py), so two entries differing only in case would collide.
    """
    return endpoint.lower()


# CloudWatch evaluates at most one day of periods per alarm.
MAX_ALARM_WINDOW_SECONDS = 86_400
EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
HTTPS_URL = re.compile(r"https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d{1,5})?(/\S*)?")


def parse_monitoring(read: Reader, environment: str, min_size: int) -> MonitoringSettings:
    """Every monitoring setting; prod must alert someone, and the healthy-host floor stays within 1..min_size."""
    emails, webhooks = read.strings("alertEmails"), read.strings("alertWebhooks")
    for email in emails:
        if not EMAIL.fullmatch(email):
            raise SettingsError("alertEmails", email, "expected e-mail addresses such as oncall@example.com")
    for url in webhooks:
        if not HTTPS_URL.fullmatch(url):
            raise SettingsError("alertWebhooks", url, "expected https:// URLs such as https://alerts.example.com/hook")
    # Each recipient becomes one subscription per alert topic and one Azure action group receiver.
    without_case = " (recipients are compared without case)"
    require_distinct("alertEmails", emails, "e-mail addresses", identity=recipient_identity, why=without_case)
    require_distinct("alertWebhooks", webhooks, "webhook URLs", identity=recipient_identity, why=without_case)
    alerting = read.boolean("alertingEnabled")
    if alerting and not emails and not webhooks:
        raise SettingsError("alertingEnabled", alerting, "alerting is on but nobody is alerted: set alertEmails or alertWebhooks")
    if environment == "prod" and not alerting:
        raise SettingsError("alertingEnabled", alerting, "prod must alert a person when a region degrades")

    period = read.integer("alarmPeriodSeconds")
    if period < 60 or period % 60:
        raise SettingsError("alarmPeriodSeconds", period, "must be a multiple of 60 seconds (the watched metrics have one-minute resolution)")
    evaluation_periods = read.integer("alarmEvaluationPeriods")
    if evaluation_periods < 1:
        raise SettingsError("alarmEvaluationPeriods", evaluation_periods, "must be at least 1")
    if period * evaluation_periods > MAX_ALARM_WINDOW_SECONDS:
        raise SettingsError(
            "alarmEvaluationPeriods", evaluation_periods, f"{evaluation_periods} periods of {period} s exceed the one day an alarm can look back"
        )
    datapoints = read.integer("alarmDatapointsToAlarm")
    if not 1 <= datapoints <= evaluation_periods:
        raise SettingsError("alarmDatapointsToAlarm", datapoints, f"must be between 1 and alarmEvaluationPeriods ({evaluation_periods})")
    floor = read.integer("alarmHealthyHostFloor")
    if not 1 <= floor <= max(min_size, 1):
        raise SettingsError("alarmHealthyHostFloor", floor, f"must be between 1 and minSize ({min_size}), or the region alarms at its normal size")

    def percent(key: str) -> int:
        return in_range(key, read.integer(key), (0, 100), " percent")

    def count(key: str) -> int:
        return in_range(key, read.integer(key), (0, 1_000_000), " per period")

    return MonitoringSettings(
        alerting_enabled=alerting,
        alert_emails=emails,
        alert_webhooks=webhooks,
        period_seconds=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        healthy_host_floor=floor,
        target_5xx_percent=percent("alarmTarget5xxPercent"),
        lb_5xx_percent=percent("alarmLb5xxPercent"),
        latency_p99_seconds=in_range("alarmLatencyP99Seconds", read.integer("alarmLatencyP99Seconds"), (1, 3600), " seconds"),
        db_cpu_percent=percent("alarmDbCpuPercent"),
        db_free_storage_gib=in_range("alarmDbFreeStorageGiB", read.integer("alarmDbFreeStorageGiB"), (1, 65536), " GiB"),
        replica_lag_seconds=in_range("alarmReplicaLagSeconds", read.integer("alarmReplicaLagSeconds"), (1, 86400), " seconds"),
        lambda_errors=count("alarmLambdaErrors"),
        lambda_throttles=count("alarmLambdaThrottles"),
        # Lambda stops a function after 900 s, so a higher p99 could never be observed.
        lambda_duration_p99_seconds=in_range(
            "alarmLambdaDurationP99Seconds", read.integer("alarmLambdaDurationP99Seconds"), (1, 900), " seconds"
        ),
        gateway_backend_5xx=count("alarmGatewayBackend5xx"),
        gateway_backend_429=count("alarmGatewayBackend429"),
        origin_health_percent=percent("alarmOriginHealthPercent"),
    )
