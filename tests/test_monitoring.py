"""Monitoring: every watched resource has its alarms, each alarm alerts its own region's topic, one spec list drives all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from components import alarm_relay, alarms
from components.alarms import AlarmSpec, AutoscalingWatch, DatabaseWatch, FunctionWatch, Metric, TargetGroupWatch
from components.monitoring import HealthCheckMonitoring, HealthCheckMonitoringArgs, RegionMonitoring, RegionMonitoringArgs
from tests.settings_helpers import parse
from offline import PulumiMocks
from offline.runner import ACCOUNT

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"
REGION_COMPONENT = "ha-model-serving:aws:RegionMonitoring"
HEALTH_COMPONENT = "ha-model-serving:aws:HealthCheckMonitoring"

SETTINGS = parse(
    alertingEnabled=True,
    alertEmails=["oncall@example.com"],
    alertWebhooks=["https://alerts.example.com/hook?token=abc"],
    alarmHealthyHostFloor=2,
).monitoring

# The primary database lives in us-east-1; every other region holds read replicas, eu-west-1 two of them.
DATABASES = {
    "us-east-1": {"orders": DatabaseWatch("db-us-east-1", "primary")},
    "us-west-2": {"orders": DatabaseWatch("db-us-west-2", "replica")},
    "eu-west-1": {"orders": DatabaseWatch("db-eu-west-1", "replica"), "orders-2": DatabaseWatch("db-eu-west-1-2", "replica")},
}
HEALTH_CHECKS = {"east": "hc-us-east-1", "west": "hc-us-west-2", "eu": "hc-eu-west-1"}
SERVING = {"fleet-healthy-hosts", "fleet-target-5xx-rate", "fleet-lb-5xx-rate", "proxy-proxy-errors"}


def monitored_program():
    providers = {region: aws.Provider(f"aws-{region}", region=region) for region in DATABASES}
    for region, databases in DATABASES.items():
        RegionMonitoring(
            f"monitoring-{region}",
            RegionMonitoringArgs(
                region=region,
                name_prefix=f"test-{region}",
                settings=SETTINGS,
                target_groups={"fleet": TargetGroupWatch(f"app/lb-{region}/1", f"targetgroup/tg-{region}/1", SETTINGS.healthy_host_floor)},
                autoscaling_groups={"fleet": AutoscalingWatch(f"asg-{region}", 2)},
                databases=databases,
                functions={"proxy": FunctionWatch(f"proxy-{region}")},
            ),
            opts=pulumi.ResourceOptions(provider=providers[region]),
        )
    HealthCheckMonitoring(
        "health-checks",
        HealthCheckMonitoringArgs(name_prefix="test", settings=SETTINGS, health_checks=HEALTH_CHECKS),
        opts=pulumi.ResourceOptions(provider=providers["us-east-1"]),
    )


@pytest.fixture(scope="module")
def run():
    return PulumiMocks().run(monitored_program)


def component_of(run, resource):
    return run.by_urn(resource.parent_urn)


def topic_of(run, component):
    [topic] = run.children(component, TOPIC)
    return topic


def dimensions(alarm) -> dict[str, str]:
    """Every dimension an alarm evaluates, whether on one metric or inside metric math."""
    found = dict(alarm.get("dimensions", {}))
    for query in alarm.get("metricQueries", []):
        found.update(query.get("metric", {}).get("dimensions", {}))
    return found


def alarm_key(run, alarm) -> str:
    return alarm.name.removeprefix(component_of(run, alarm).name + "-")


def test_every_watched_resource_has_its_alarms(run):
    for region, databases in DATABASES.items():
        component = run.one(REGION_COMPONENT, name=f"monitoring-{region}")
        alarms = {alarm_key(run, a): dimensions(a) for a in run.children(component, ALARM)}
        expected = {
            "fleet-unhealthy-hosts": {"LoadBalancer": f"app/lb-{region}/1", "TargetGroup": f"targetgroup/tg-{region}/1"},
            "fleet-healthy-hosts": {"LoadBalancer": f"app/lb-{region}/1", "TargetGroup": f"targetgroup/tg-{region}/1"},
            "fleet-target-5xx-rate": {"LoadBalancer": f"app/lb-{region}/1", "TargetGroup": f"targetgroup/tg-{region}/1"},
            "fleet-lb-5xx-rate": {"LoadBalancer": f"app/lb-{region}/1"},
            "fleet-latency-p99": {"LoadBalancer": f"app/lb-{region}/1", "TargetGroup": f"targetgroup/tg-{region}/1"},
            "fleet-in-service-instances": {"AutoScalingGroupName": f"asg-{region}"},
            "proxy-proxy-errors": {"FunctionName": f"proxy-{region}"},
            "proxy-proxy-throttles": {"FunctionName": f"proxy-{region}"},
            "proxy-proxy-duration-p99": {"FunctionName": f"proxy-{region}"},
        }
        for key, database in databases.items():
            expected[f"{key}-db-cpu"] = {"DBInstanceIdentifier": database.identifier}
            expected[f"{key}-db-free-storage"] = {"DBInstanceIdentifier": database.identifier}
            if database.role == "replica":
                expected[f"{key}-replica-lag"] = {"DBInstanceIdentifier": database.identifier}
        assert alarms == expected, region


def test_each_alarm_alerts_the_topic_of_its_own_region_and_none_is_silent(run):
    alarms = run.of_type(ALARM) + run.of_type(COMPOSITE)
    assert len(run.of_type(COMPOSITE)) == len(DATABASES)
    for alarm in alarms:
        topic = topic_of(run, component_of(run, alarm))
        assert topic.region == alarm.region, alarm.name
        assert alarm["alarmActions"] == [topic.state["arn"]], alarm.name
        assert alarm["okActions"] == [topic.state["arn"]], alarm.name
        assert alarm["actionsEnabled"] is True, alarm.name


def test_route53_health_check_alarms_live_in_us_east_1_with_their_own_topic(run):
    component = run.one(HEALTH_COMPONENT)
    alarms = run.children(component, ALARM)
    assert {dimensions(a)["HealthCheckId"] for a in alarms} == set(HEALTH_CHECKS.values())
    topic = topic_of(run, component)
    assert topic.region == "us-east-1"
    east_region_topic = topic_of(run, run.one(REGION_COMPONENT, name="monitoring-us-east-1"))
    for alarm in alarms:
        assert alarm.region == "us-east-1"
        assert alarm["alarmActions"] == [topic.state["arn"]] != [east_region_topic.state["arn"]]
        assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == ("AWS/Route53", "HealthCheckStatus", "Minimum")
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)
        assert alarm["treatMissingData"] == "breaching"


def test_replica_lag_is_watched_on_every_replica_and_never_on_the_primary(run):
    lagged = {dimensions(a)["DBInstanceIdentifier"] for a in run.of_type(ALARM) if a.get("metricName") == "ReplicaLag"}
    replicas = {d.identifier for databases in DATABASES.values() for d in databases.values() if d.role == "replica"}
    assert lagged == replicas == {"db-us-west-2", "db-eu-west-1", "db-eu-west-1-2"}
    lag = next(a for a in run.of_type(ALARM) if a.get("metricName") == "ReplicaLag")
    assert (lag["threshold"], lag["treatMissingData"]) == (SETTINGS.replica_lag_seconds, "breaching")


def test_region_degraded_names_only_the_serving_alarms_of_its_own_region(run):
    by_name = {a.state["name"]: a for a in run.of_type(ALARM)}
    composites = run.of_type(COMPOSITE)
    assert {c.region for c in composites} == set(DATABASES)
    for composite in composites:
        names = re.findall(r'ALARM\("([^"]+)"\)', composite["alarmRule"])
        assert composite["alarmRule"] == " OR ".join(f'ALARM("{n}")' for n in names)
        named = [by_name[n] for n in names]
        assert {a.region for a in named} == {composite.region}
        assert {alarm_key(run, a) for a in named} == SERVING
        assert composite["alarmName"] == f"test-{composite.region}-region-degraded"


def test_error_rates_are_percentages_by_metric_math_and_latency_is_p99(run):
    component = run.one(REGION_COMPONENT, name="monitoring-us-west-2")
    alarms = {alarm_key(run, a): a for a in run.children(component, ALARM)}
    for key, errors, threshold in (
        ("fleet-target-5xx-rate", "HTTPCode_Target_5XX_Count", SETTINGS.target_5xx_percent),
        ("fleet-lb-5xx-rate", "HTTPCode_ELB_5XX_Count", SETTINGS.lb_5xx_percent),
    ):
        alarm = alarms[key]
        assert "metricName" not in alarm and alarm["threshold"] == threshold
        queries = {q["id"]: q for q in alarm["metricQueries"]}
        assert queries["m1"]["metric"]["metricName"] == errors and queries["m1"]["metric"]["stat"] == "Sum"
        assert queries["m2"]["metric"]["metricName"] == "RequestCount"
        assert queries["e1"]["expression"] == "IF(m2 > 0, 100 * FILL(m1, 0) / m2, 0)"
        assert [q["id"] for q in alarm["metricQueries"] if q.get("returnData")] == ["e1"]
        assert alarm["treatMissingData"] == "notBreaching"
    latency = alarms["fleet-latency-p99"]
    assert latency["extendedStatistic"] == "p99" and "statistic" not in latency
    assert latency["threshold"] == SETTINGS.latency_p99_seconds
    assert alarms["proxy-proxy-duration-p99"]["threshold"] == SETTINGS.lambda_duration_p99_seconds * 1000
    healthy = alarms["fleet-healthy-hosts"]
    assert (healthy["comparisonOperator"], healthy["threshold"], healthy["treatMissingData"]) == ("LessThanThreshold", 2, "breaching")
    assert alarms["fleet-in-service-instances"]["treatMissingData"] == "breaching"
    assert alarms["orders-db-free-storage"]["threshold"] == SETTINGS.db_free_storage_gib * 1024**3
    for alarm in alarms.values():
        assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (SETTINGS.evaluation_periods, SETTINGS.datapoints_to_alarm)
        assert alarm.get("period", SETTINGS.period_seconds) == SETTINGS.period_seconds


def test_topic_is_encrypted_and_only_this_accounts_cloudwatch_may_publish(run):
    for component in run.of_type(REGION_COMPONENT) + run.of_type(HEALTH_COMPONENT):
        topic, [key], [policy] = topic_of(run, component), run.children(component, KEY), run.children(component, TOPIC_POLICY)
        assert topic["kmsMasterKeyId"] == key.state["arn"]
        assert key["enableKeyRotation"] is True
        key_statements = json.loads(key["policy"])["Statement"]
        assert {s["Principal"].get("Service") for s in key_statements} == {None, "cloudwatch.amazonaws.com"}
        [statement] = json.loads(policy["policy"])["Statement"]
        assert policy["arn"] == topic.state["arn"] == statement["Resource"]
        assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sns:Publish")
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:cloudwatch:{topic.region}:{ACCOUNT}:alarm:*"


def test_every_recipient_is_subscribed_to_every_topic(run):
    for component in run.of_type(REGION_COMPONENT) + run.of_type(HEALTH_COMPONENT):
        topic = topic_of(run, component)
        subscriptions = {(s["protocol"], s["endpoint"]) for s in run.children(component, SUBSCRIPTION)}
        assert subscriptions == {("email", "oncall@example.com"), ("https", "https://alerts.example.com/hook?token=abc")}
        # A webhook URL may carry a token: it is stored as a secret.
        assert all(("endpoint" in s.secret_inputs) == (s["protocol"] == "https") for s in run.children(component, SUBSCRIPTION))
        assert all(s["topic"] == topic.state["arn"] for s in run.children(component, SUBSCRIPTION))
        # The webhook's token does not end up in resource names.
        assert not any("token" in s.name or "example" in s.name for s in run.children(component, SUBSCRIPTION))


def dashboard_widgets(run, component) -> list[dict]:
    [dashboard] = run.children(component, DASHBOARD)
    return json.loads(dashboard["dashboardBody"])["widgets"]


def test_dashboard_graphs_every_alarm_and_shows_their_states(run):
    for component in run.of_type(REGION_COMPONENT) + run.of_type(HEALTH_COMPONENT):
        alarms = run.children(component, ALARM)
        widgets = dashboard_widgets(run, component)
        [status] = [w for w in widgets if w["type"] == "alarm"]
        expected = {a.state["arn"] for a in alarms + run.children(component, COMPOSITE)}
        assert set(status["properties"]["alarms"]) == expected
        graphs = {w["properties"]["title"].split(":")[0]: w["properties"] for w in widgets if w["type"] == "metric"}
        assert set(graphs) == {alarm_key(run, a) for a in alarms}
        for alarm in alarms:
            graph = graphs[alarm_key(run, alarm)]
            assert graph["region"] == alarm.region
            assert graph["annotations"]["horizontal"][0]["value"] == alarm["threshold"]
            plotted = json.dumps(graph["metrics"])
            assert all(value in plotted for value in dimensions(alarm).values())


def test_dashboard_and_alarms_come_from_one_spec_list(monkeypatch):
    request_count = AlarmSpec(
        key="request-flood",
        label="Requests",
        watches=TargetGroupWatch,
        namespace="AWS/ApplicationELB",
        metrics=(Metric("RequestCount", "Sum"),),
        comparison="GreaterThanThreshold",
        threshold=lambda settings, watch: 1000,
        threshold_doc="1000",
        treat_missing_data="notBreaching",
        meaning="More requests than the fleet was sized for.",
        action="Raise maxSize.",
    )
    monkeypatch.setattr(alarms, "ALARM_SPECS", [*alarms.ALARM_SPECS, request_count])
    run = PulumiMocks().run(monitored_program)
    for region in DATABASES:
        component = run.one(REGION_COMPONENT, name=f"monitoring-{region}")
        [alarm] = [a for a in run.children(component, ALARM) if a.get("metricName") == "RequestCount"]
        assert alarm_key(run, alarm) == "fleet-request-flood" and alarm["threshold"] == 1000
        titles = [w["properties"]["title"] for w in dashboard_widgets(run, component) if w["type"] == "metric"]
        assert "fleet-request-flood: Requests" in titles
    assert "request-flood" in alarms.markdown_table()


def test_a_spec_key_used_twice_is_refused(monkeypatch):
    monkeypatch.setattr(alarms, "ALARM_SPECS", [*alarms.ALARM_SPECS, alarms.ALARM_SPECS[0]])
    with pytest.raises(ValueError, match="fleet-unhealthy-hosts"):
        PulumiMocks().run(monitored_program)


def test_stacks_watch_each_regions_fleet_and_export_its_degraded_alarm(dev, prod):
    for run in (dev, prod):
        for region, exported in run.outputs["regions"].items():
            composite = run.one(COMPOSITE, name=f"monitoring-{region}-degraded", region=region)
            assert exported["degradedAlarmArn"] == composite.state["arn"]
            assert exported["alertTopicArn"] == run.one(TOPIC, name=f"monitoring-{region}-alerts", region=region).state["arn"]
            tg, asg = run.one("aws:lb/targetGroup:TargetGroup", region=region), run.one("aws:autoscaling/group:Group", region=region)
            watched = [dimensions(a) for a in run.of_type(ALARM, region)]
            assert {"TargetGroup": tg.state["arn_suffix"], "LoadBalancer": run.one("aws:lb/loadBalancer:LoadBalancer", region=region).state["arn_suffix"]} in watched
            # A pilot-light standby's group has no minimum to fall below until it is promoted.
            assert ({"AutoScalingGroupName": asg.state["name"]} in watched) == (asg["minSize"] > 0)
            assert {"FunctionName": run.one("aws:lambda/function:Function", region=region).state["name"]} in watched
            # The in-service alarm only sees the group because the group publishes that metric.
            assert "GroupInServiceInstances" in asg["enabledMetrics"]


def operator_alarms(run, region: str | None = None) -> list:
    """Alarms that tell operators something; the drills' mirrors of other regions' alarms (AlarmRelay) only stop experiments."""
    mirrors = {r.urn for relay in run.of_type(alarm_relay.TYPE) for r in run.descendants(relay)}
    return [alarm for alarm in run.of_type(ALARM, region) if alarm.urn not in mirrors]


def test_dev_keeps_its_alarms_but_alerts_no_one_and_prod_alerts_on_call(dev, prod):
    # The primary: six on the fleet, three on the model proxy, two on the primary database. The pilot-light
    # standby has no servers to count until promoted (no healthy-host or in-service alarm) and a replica
    # whose lag is watched too.
    assert {region: len(operator_alarms(dev, region)) for region in dev.regions} == {"us-east-1": 11, "us-west-2": 10}
    assert not dev.of_type(SUBSCRIPTION)
    assert all(a["actionsEnabled"] and a["alarmActions"] for a in operator_alarms(dev))
    subscriptions = prod.of_type(SUBSCRIPTION)
    assert {(s.region, s["protocol"], s["endpoint"]) for s in subscriptions} == {
        (region, "email", "oncall@example.com") for region in prod.regions
    }
    healthy = [a for a in prod.of_type(ALARM) if a.get("metricName") == "HealthyHostCount"]
    assert {a["threshold"] for a in healthy} == {2}


def test_readme_lists_every_alarm_with_what_to_do():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "## How you know a region is failing" in readme
    assert alarms.markdown_table() in readme, "regenerate with: venv/bin/python -m components.alarms"
    assert "python -m ops.failover --stack <stack> --to <standby region>" in readme


def test_a_region_without_serving_signals_is_refused():
    def program():
        RegionMonitoring(
            "monitoring-us-east-1",
            RegionMonitoringArgs(
                region="us-east-1", name_prefix="test", settings=SETTINGS, autoscaling_groups={"fleet": AutoscalingWatch("asg", 2)}
            ),
        )

    with pytest.raises(ValueError, match="nothing watched tells whether us-east-1 can serve"):
        PulumiMocks().run(program)


def test_every_alarm_description_says_what_it_means_and_what_to_do_within_cloudwatchs_limit(run):
    for alarm in run.of_type(ALARM):
        assert " What to do: " in alarm["alarmDescription"] and len(alarm["alarmDescription"]) <= 1024


def test_a_database_is_either_the_primary_or_a_replica():
    with pytest.raises(ValueError, match="'primary' or 'replica'"):
        DatabaseWatch("db-us-east-1", "standby")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_everything_each_stack_runs_is_watched_and_alerts_its_own_regions_topic(request, stack):
    run = request.getfixturevalue(stack)
    providers = {p.urn: p["region"] for p in run.resources if p.type == "pulumi:providers:aws"}
    topics = {t.state["arn"]: providers[t.provider_urn] for t in run.of_type(TOPIC)}
    alarms = operator_alarms(run)
    watched = [(providers[a.provider_urn], dimensions(a)) for a in alarms]

    def watched_in(region: str, **dimension: str) -> bool:
        return any(r == region and dimension.items() <= found.items() for r, found in watched)

    for tg in run.of_type("aws:lb/targetGroup:TargetGroup"):
        assert watched_in(tg.region, TargetGroup=tg.state["arn_suffix"]), tg.name
    for group in run.of_type("aws:autoscaling/group:Group"):
        assert watched_in(group.region, AutoScalingGroupName=group.state["name"]) == (group["minSize"] > 0), group.name
    for function in run.of_type("aws:lambda/function:Function"):
        assert watched_in(function.region, FunctionName=function.state["name"]), function.name
    for db in run.of_type("aws:rds/instance:Instance"):
        assert watched_in(db.region, DBInstanceIdentifier=db.state["identifier"]), db.name
        lag = [a for a in alarms if a.get("metricName") == "ReplicaLag" and dimensions(a) == {"DBInstanceIdentifier": db.state["identifier"]}]
        assert len(lag) == (1 if "replicateSourceDb" in db else 0), db.name
    # Route 53 health check metrics exist only in us-east-1: their alarms and topic are there.
    for check in run.of_type("aws:route53/healthCheck:HealthCheck"):
        assert watched_in("us-east-1", HealthCheckId=check.id), check.name
    assert bool(run.of_type("aws:route53/healthCheck:HealthCheck")) == (stack == "prod")

    for alarm in alarms:
        region = providers[alarm.provider_urn]
        assert alarm["alarmActions"] and alarm["okActions"], alarm.name
        assert {topics[arn] for arn in alarm["alarmActions"] + alarm["okActions"]} == {region}, alarm.name
    # Each region's "region degraded" alarm combines only that region's alarms.
    alarm_regions = {a.state["name"]: providers[a.provider_urn] for a in alarms}
    for composite in run.of_type(COMPOSITE):
        names = re.findall(r'ALARM\("([^"]+)"\)', composite["alarmRule"])
        assert names and {alarm_regions[n] for n in names} == {providers[composite.provider_urn]}, composite.name
