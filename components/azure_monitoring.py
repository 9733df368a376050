"""AzureMonitoring: logs, traces and alerts for the Azure tier (API Management, Front Door, Azure OpenAI).

Gateway logs and every diagnostic log go to one Log Analytics workspace; API Management sends its
request traces and the token metrics its policies emit to a workspace-based Application Insights.
``AZURE_ALERTS`` lists the metric alerts, which notify an action group with the same recipients as
the AWS alert topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import pulumi
import pulumi_azure_native as azure

import command_line
from components.monitoring import recipient_key
from components.settings import MonitoringSettings

TYPE = "ha-model-serving:azure:AzureMonitoring"
# Log Analytics keeps 31 days at no retention charge.
LOG_RETENTION_DAYS = 30
# Window sizes and evaluation frequencies Azure Monitor metric alerts accept, in seconds.
ALERT_WINDOWS = {60: "PT1M", 300: "PT5M", 900: "PT15M", 1800: "PT30M", 3600: "PT1H", 21600: "PT6H", 43200: "PT12H", 86400: "P1D"}
ALERT_FREQUENCIES = {60: "PT1M", 300: "PT5M", 900: "PT15M", 1800: "PT30M", 3600: "PT1H"}
GATEWAY_NAMESPACE = "Microsoft.ApiManagement/service"
FRONT_DOOR_NAMESPACE = "Microsoft.Cdn/profiles"


@dataclass(frozen=True)
class AzureAlertSpec:
    """One metric alert: on the gateway or on Front Door, a metric (optionally filtered by a dimension) against a threshold."""

    key: str
    on: str  # "gateway" or "front-door"
    namespace: str
    metric: str
    aggregation: str
    operator: str
    threshold: Callable[[MonitoringSettings], float]
    threshold_doc: str
    severity: int  # 0 critical .. 4 verbose
    meaning: str
    action: str
    dimension: tuple[str, str] | None = None  # (name, value) the metric is filtered on


# Azure metric alerts compare one metric with a static threshold and cannot divide two metrics, so
# backend failures are counted per window; a log-search alert could compute a percentage, but only
# minutes after the logs are ingested, too late to be a failover signal.
AZURE_ALERTS: list[AzureAlertSpec] = [
    AzureAlertSpec(
        key="gateway-backend-5xx",
        on="gateway",
        namespace=GATEWAY_NAMESPACE,
        metric="Requests",
        dimension=("BackendResponseCodeCategory", "5xx"),
        aggregation="Total",
        operator="GreaterThan",
        threshold=lambda s: s.gateway_backend_5xx,
        threshold_doc="`alarmGatewayBackend5xx`",
        severity=1,
        meaning="Azure OpenAI deployments behind the gateway fail requests with 5xx.",
        action="Find the failing backend in ApiManagementGatewayLogs; the backend pool's circuit breaker already sends requests to the other accounts. If every backend fails, check Azure OpenAI service health in their regions.",
    ),
    AzureAlertSpec(
        key="gateway-backend-429",
        on="gateway",
        namespace=GATEWAY_NAMESPACE,
        metric="Requests",
        dimension=("BackendResponseCode", "429"),
        aggregation="Total",
        operator="GreaterThan",
        threshold=lambda s: s.gateway_backend_429,
        threshold_doc="`alarmGatewayBackend429`",
        severity=2,
        meaning="Azure OpenAI deployments throttle the gateway: their token or request quota is exhausted.",
        action="Raise the deployments' quota (tokens per minute) or add an account to the backend pool; the gateway already retries the others.",
    ),
    AzureAlertSpec(
        key="origin-health",
        on="front-door",
        namespace=FRONT_DOOR_NAMESPACE,
        metric="OriginHealthPercentage",
        aggregation="Average",
        operator="LessThan",
        threshold=lambda s: s.origin_health_percent,
        threshold_doc="`alarmOriginHealthPercent`",
        severity=1,
        meaning="Front Door's health probes fail on some origins; it already sends traffic only to the healthy ones.",
        action="Find the failing origin in FrontDoorHealthProbeLog; if it is a whole gateway region, keep it out of rotation until it recovers.",
    ),
]

_OPERATORS = {"GreaterThan": ">", "GreaterThanOrEqual": ">=", "LessThan": "<", "LessThanOrEqual": "<="}


@dataclass(frozen=True)
class GatewayService:
    """The API Management service to watch, by name and by id, as the program declared it.

    Its logger and diagnostic are declared in the service (resource group and service name); diagnostic
    settings and alerts point at its Azure resource id. Passed as such rather than parsed out of the id,
    so both stay whatever the program gave the service, also during a preview.
    """

    resource_group_name: pulumi.Input[str]
    name: pulumi.Input[str]
    id: pulumi.Input[str]


@dataclass(frozen=True)
class AzureMonitoringArgs:
    """What AzureMonitoring watches and where it declares its workspace, alerts and action group."""

    # Where the workspace, Application Insights, action group and alerts are declared.
    resource_group_name: pulumi.Input[str]
    location: str
    settings: MonitoringSettings
    api_management: GatewayService
    # Azure resource ids: /subscriptions/<id>/resourceGroups/<group>/providers/<type>/<name>.
    front_door_profile_id: pulumi.Input[str]
    # One id per Azure OpenAI account, keyed by a stable name such as its region.
    openai_account_ids: Mapping[str, pulumi.Input[str]]


def alert_window(seconds: int, allowed: Mapping[int, str]) -> str:
    """The shortest window Azure accepts that covers `seconds` (the longest one if none does)."""
    return next((allowed[limit] for limit in sorted(allowed) if limit >= seconds), allowed[max(allowed)])


class AzureMonitoring(pulumi.ComponentResource):
    """Log Analytics, Application Insights, gateway logging, diagnostic settings, an action group and metric alerts."""

    def __init__(self, name: str, args: AzureMonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.workspace = azure.operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=args.resource_group_name,
            location=args.location,
            sku=azure.operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=LOG_RETENTION_DAYS,
            opts=child,
        )
        self.insights = azure.applicationinsights.Component(
            f"{name}-insights",
            resource_group_name=args.resource_group_name,
            location=args.location,
            kind="web",
            application_type="web",
            # Workspace-based: traces land in the same workspace as the logs, queried together.
            ingestion_mode="LogAnalytics",
            workspace_resource_id=self.workspace.id,
            opts=child,
        )
        self._gateway_logging(name, args)
        self.diagnostic_settings = self._diagnostic_settings(name, args)
        self.action_group = self._action_group(name, args)
        self.alerts = self._alerts(name, args)
        self.register_outputs({"workspace_id": self.workspace.id, "action_group_id": self.action_group.id})

    def _gateway_logging(self, name: str, args: AzureMonitoringArgs) -> None:
        """API Management traces and emitted token metrics to Application Insights."""
        child = pulumi.ResourceOptions(parent=self)
        gateway = args.api_management
        self.gateway_logger = azure.apimanagement.Logger(
            f"{name}-gateway-logger",
            resource_group_name=gateway.resource_group_name,
            service_name=gateway.name,
            logger_id="application-insights",
            logger_type=azure.apimanagement.LoggerType.APPLICATION_INSIGHTS,
            resource_id=self.insights.id,
            # The connection string lets anyone write telemetry into the component: kept secret in state.
            credentials={"connectionString": pulumi.Output.secret(self.insights.connection_string)},
            description="Gateway traces and token metrics",
            opts=child,
        )
        self.gateway_diagnostic = azure.apimanagement.Diagnostic(
            f"{name}-gateway-diagnostic",
            resource_group_name=gateway.resource_group_name,
            service_name=gateway.name,
            # API Management knows its Application Insights diagnostic by this fixed id.
            diagnostic_id="applicationinsights",
            logger_id=self.gateway_logger.id,
            always_log=azure.apimanagement.AlwaysLog.ALL_ERRORS,
            sampling=azure.apimanagement.SamplingSettingsArgs(sampling_type="fixed", percentage=100),
            # Custom metrics: what the token-metric policies emit (tokens per deployment, per client).
            metrics=True,
            http_correlation_protocol="W3C",
            verbosity="information",
            log_client_ip=False,
            opts=child,
        )

    def _diagnostic_settings(self, name: str, args: AzureMonitoringArgs) -> dict[str, azure.monitor.DiagnosticSetting]:
        """Every log and metric of the gateway, Front Door and each OpenAI account to the workspace."""
        # API Management logs into its own tables (ApiManagementGatewayLogs, ApiManagementGatewayLlmLog); the others keep the default.
        targets: dict[str, tuple[pulumi.Input[str], str | None]] = {
            "gateway": (args.api_management.id, "Dedicated"),
            "front-door": (args.front_door_profile_id, None),
        }
        targets.update({f"openai-{key}": (account_id, None) for key, account_id in args.openai_account_ids.items()})
        # A diagnostic setting outlives a resource deleted around it and reattaches to a new one of the same
        # name (Azure Monitor, "Diagnostic settings"): named after this incarnation's workspace, a stale one
        # left on a re-created Front Door profile cannot collide with the new one.
        setting_name = pulumi.Output.concat("to-", self.workspace.name)
        return {
            key: azure.monitor.DiagnosticSetting(
                f"{name}-{key}-diagnostics",
                name=setting_name,
                resource_uri=resource_id,
                workspace_id=self.workspace.id,
                log_analytics_destination_type=destination_type,
                logs=[azure.monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
                metrics=[azure.monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, (resource_id, destination_type) in targets.items()
        }

    def _action_group(self, name: str, args: AzureMonitoringArgs) -> azure.monitor.ActionGroup:
        """The same recipients as the AWS alert topics; none while alerting is off, like an unsubscribed topic."""
        subscribers = args.settings.subscribers
        return azure.monitor.ActionGroup(
            f"{name}-alerts",
            resource_group_name=args.resource_group_name,
            location="Global",
            group_short_name="modelalerts",
            enabled=True,
            email_receivers=[
                azure.monitor.MicrosoftCommonEmailReceiverArgs(name=f"email-{recipient_key(endpoint)}", email_address=endpoint, use_common_alert_schema=True)
                for protocol, endpoint in subscribers
                if protocol == "email"
            ],
            webhook_receivers=[
                azure.monitor.WebhookReceiverArgs(
                    name=f"webhook-{recipient_key(endpoint)}",
                    # A webhook URL often carries its own access token.
                    service_uri=pulumi.Output.secret(endpoint),
                    use_common_alert_schema=True,
                )
                for protocol, endpoint in subscribers
                if protocol == "https"
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _alerts(self, name: str, args: AzureMonitoringArgs) -> dict[str, azure.monitor.MetricAlert]:
        settings = args.settings
        scopes = {"gateway": args.api_management.id, "front-door": args.front_door_profile_id}
        window = settings.period_seconds * settings.evaluation_periods
        return {
            spec.key: azure.monitor.MetricAlert(
                f"{name}-{spec.key}",
                resource_group_name=args.resource_group_name,
                location="global",
                description=f"{spec.meaning} What to do: {spec.action}",
                severity=spec.severity,
                enabled=True,
                auto_mitigate=True,
                scopes=[scopes[spec.on]],
                window_size=alert_window(window, ALERT_WINDOWS),
                evaluation_frequency=alert_window(settings.period_seconds, ALERT_FREQUENCIES),
                criteria=azure.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                    odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    all_of=[
                        azure.monitor.MetricCriteriaArgs(
                            criterion_type="StaticThresholdCriterion",
                            name=spec.key,
                            metric_name=spec.metric,
                            metric_namespace=spec.namespace,
                            time_aggregation=spec.aggregation,
                            operator=spec.operator,
                            threshold=spec.threshold(settings),
                            dimensions=[
                                azure.monitor.MetricDimensionArgs(name=spec.dimension[0], operator="Include", values=[spec.dimension[1]])
                            ]
                            if spec.dimension
                            else None,
                        )
                    ],
                ),
                actions=[azure.monitor.MetricAlertActionArgs(action_group_id=self.action_group.id)],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for spec in AZURE_ALERTS
        }


def markdown_table() -> str:
    """The README's Azure alert table, derived from AZURE_ALERTS."""
    on = {"gateway": "API Management", "front-door": "Front Door profile"}
    rows = ["| Alert | On | Fires when | What it means | What to do |", "| --- | --- | --- | --- | --- |"]
    for spec in AZURE_ALERTS:
        metric = f"`{spec.metric}` ({spec.aggregation.lower()}" + (f", {spec.dimension[0]} = {spec.dimension[1]})" if spec.dimension else ")")
        rows.append(f"| `{spec.key}` | {on[spec.on]} | {metric} {_OPERATORS[spec.operator]} {spec.threshold_doc} | {spec.meaning} | {spec.action} |")
    return "\n".join(rows)


main = command_line.table_command("components.azure_monitoring", "the README's Azure alert table, derived from AZURE_ALERTS", markdown_table)


if __name__ == "__main__":
    command_line.run_main(main)
