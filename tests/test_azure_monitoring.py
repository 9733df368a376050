"""AzureMonitoring: the gateway, Front Door and every OpenAI account log to one workspace; alerts reach the action group."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pulumi
import pytest

from components import azure_monitoring
from components.azure_monitoring import AzureMonitoring, AzureMonitoringArgs, GatewayService, alert_window
from components.settings import MonitoringSettings
from tests.settings_helpers import parse
from offline import PulumiMocks

WORKSPACE = "azure-native:operationalinsights:Workspace"
INSIGHTS = "azure-native:applicationinsights:Component"
LOGGER = "azure-native:apimanagement:Logger"
DIAGNOSTIC = "azure-native:apimanagement:Diagnostic"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
METRIC_ALERT = "azure-native:monitor:MetricAlert"

SUBSCRIPTION = "/subscriptions/00000000-0000-4000-8000-000000000000"
GATEWAY_ID = f"{SUBSCRIPTION}/resourceGroups/rg-gateway/providers/Microsoft.ApiManagement/service/apim-models"
FRONT_DOOR_ID = f"{SUBSCRIPTION}/resourceGroups/rg-edge/providers/Microsoft.Cdn/profiles/fd-models"
OPENAI_IDS = {
    "eastus2": f"{SUBSCRIPTION}/resourceGroups/rg-models/providers/Microsoft.CognitiveServices/accounts/oai-eastus2",
    "swedencentral": f"{SUBSCRIPTION}/resourceGroups/rg-models/providers/Microsoft.CognitiveServices/accounts/oai-swedencentral",
}


def monitoring_settings(**overrides: object) -> MonitoringSettings:
    return parse(**overrides).monitoring


ALERTING = monitoring_settings(
    alertingEnabled=True, alertEmails=["oncall@example.com", "sre@example.com"], alertWebhooks=["https://alerts.example.com/hook?token=abc"]
)


def run_with(settings: MonitoringSettings):
    return PulumiMocks().run(
        lambda: AzureMonitoring(
            "azure-monitoring",
            AzureMonitoringArgs(
                resource_group_name="rg-monitoring",
                location="eastus2",
                settings=settings,
                api_management=GatewayService(resource_group_name="rg-gateway", name="apim-models", id=GATEWAY_ID),
                front_door_profile_id=FRONT_DOOR_ID,
                openai_account_ids=OPENAI_IDS,
            ),
        )
    )


@pytest.fixture(scope="module")
def run():
    return run_with(ALERTING)


def test_gateway_front_door_and_every_openai_account_send_diagnostics_to_the_workspace(run):
    workspace = run.one(WORKSPACE)
    settings = {s["resourceUri"]: s for s in run.of_type(DIAGNOSTIC_SETTING)}
    assert set(settings) == {GATEWAY_ID, FRONT_DOOR_ID, *OPENAI_IDS.values()}
    for setting in settings.values():
        assert setting["workspaceId"] == workspace.id
        assert setting["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
        assert setting["metrics"] == [{"category": "AllMetrics", "enabled": True}]
    # Gateway logs land in their own tables, which the runbook queries (ApiManagementGatewayLogs).
    assert settings[GATEWAY_ID]["logAnalyticsDestinationType"] == "Dedicated"


def test_gateway_sends_traces_and_token_metrics_to_workspace_based_insights(run):
    workspace, insights = run.one(WORKSPACE), run.one(INSIGHTS)
    assert insights["workspaceResourceId"] == workspace.id and insights["ingestionMode"] == "LogAnalytics"
    logger, diagnostic = run.one(LOGGER), run.one(DIAGNOSTIC)
    for resource in (logger, diagnostic):
        assert (resource["resourceGroupName"], resource["serviceName"]) == ("rg-gateway", "apim-models")
    assert logger["loggerType"] == "applicationInsights" and logger["resourceId"] == insights.id
    # The connection string lets anyone write telemetry: the whole credentials map is a secret.
    assert "credentials" in logger.secret_inputs
    assert logger["credentials"] == {"connectionString": insights.state["connectionString"]}
    assert diagnostic["diagnosticId"] == "applicationinsights"
    assert diagnostic["loggerId"] == logger.id
    assert diagnostic["metrics"] is True
    assert diagnostic["sampling"] == {"samplingType": "fixed", "percentage": 100}


def test_gateway_logging_is_declared_with_the_names_it_was_given_while_the_service_id_is_unknown(pulumi_mocks):
    # During a preview of a new stack the service's id is unknown; its group and name are not, and stay known.
    def program():
        loop = asyncio.get_event_loop()
        value, known = loop.create_future(), loop.create_future()
        value.set_result(None)
        known.set_result(False)
        AzureMonitoring(
            "azure-monitoring",
            AzureMonitoringArgs(
                resource_group_name="rg-monitoring",
                location="eastus2",
                settings=ALERTING,
                api_management=GatewayService(resource_group_name="rg-gateway", name="apim-models", id=pulumi.Output(set(), value, known)),
                front_door_profile_id=FRONT_DOOR_ID,
                openai_account_ids=OPENAI_IDS,
            ),
        )

    run = pulumi_mocks.run(program)
    for resource in (run.one(LOGGER), run.one(DIAGNOSTIC)):
        assert (resource["resourceGroupName"], resource["serviceName"]) == ("rg-gateway", "apim-models")


def test_action_group_alerts_the_same_recipients_as_the_aws_topics(run):
    group = run.one(ACTION_GROUP)
    # Webhook URLs may carry tokens: the receivers are stored as a secret.
    assert "webhookReceivers" in group.secret_inputs
    emails, webhooks = group["emailReceivers"], group["webhookReceivers"]
    recipients = {("email", r["emailAddress"]) for r in emails} | {("https", r["serviceUri"]) for r in webhooks}
    assert recipients == set(ALERTING.subscribers)
    assert len({r["name"] for r in emails + webhooks}) == 3
    assert len(group["groupShortName"]) <= 12


def test_every_alert_uses_the_action_group(run):
    group = run.one(ACTION_GROUP)
    alerts = {a.name.removeprefix("azure-monitoring-"): a for a in run.of_type(METRIC_ALERT)}
    assert set(alerts) == {"gateway-backend-5xx", "gateway-backend-429", "origin-health"}
    for alert in alerts.values():
        assert alert["actions"] == [{"actionGroupId": group.id}]
        assert alert["enabled"] is True
        assert (alert["windowSize"], alert["evaluationFrequency"]) == ("PT5M", "PT1M")


def test_alerts_watch_backend_failures_and_origin_health_with_configured_thresholds(run):
    alerts = {a.name.removeprefix("azure-monitoring-"): a for a in run.of_type(METRIC_ALERT)}
    expected = {
        "gateway-backend-5xx": (GATEWAY_ID, "Requests", "Total", "GreaterThan", ALERTING.gateway_backend_5xx, [("BackendResponseCodeCategory", ["5xx"])]),
        "gateway-backend-429": (GATEWAY_ID, "Requests", "Total", "GreaterThan", ALERTING.gateway_backend_429, [("BackendResponseCode", ["429"])]),
        "origin-health": (FRONT_DOOR_ID, "OriginHealthPercentage", "Average", "LessThan", ALERTING.origin_health_percent, []),
    }
    for key, (scope, metric, aggregation, operator, threshold, dimensions) in expected.items():
        alert = alerts[key]
        assert alert["scopes"] == [scope]
        [criterion] = alert["criteria"]["allOf"]
        assert alert["criteria"]["odataType"] == "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
        assert (criterion["metricName"], criterion["timeAggregation"], criterion["operator"], criterion["threshold"]) == (
            metric,
            aggregation,
            operator,
            threshold,
        )
        assert [(d["name"], d["values"]) for d in criterion.get("dimensions", [])] == dimensions
        assert all(d["operator"] == "Include" for d in criterion.get("dimensions", []))


def test_alerting_off_keeps_every_alert_but_alerts_no_one():
    run = run_with(monitoring_settings(alertEmails=["oncall@example.com"]))
    group = run.one(ACTION_GROUP)
    assert not group.get("emailReceivers") and not group.get("webhookReceivers")
    assert all(a["actions"] == [{"actionGroupId": group.id}] for a in run.of_type(METRIC_ALERT))
    assert len(run.of_type(METRIC_ALERT)) == len(azure_monitoring.AZURE_ALERTS)


@pytest.mark.parametrize(
    "seconds, allowed, expected",
    [(180, azure_monitoring.ALERT_WINDOWS, "PT5M"), (60, azure_monitoring.ALERT_FREQUENCIES, "PT1M"), (86400 * 2, azure_monitoring.ALERT_WINDOWS, "P1D")],
)
def test_alert_windows_round_up_to_what_azure_accepts(seconds, allowed, expected):
    assert alert_window(seconds, allowed) == expected


def test_readme_lists_every_azure_alert():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert azure_monitoring.markdown_table() in readme, "regenerate with: venv/bin/python -m components.azure_monitoring"
