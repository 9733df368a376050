"""GlobalRouting: a Route 53 health check per regional endpoint; latency records (active-active) or a failover pair (active-passive)."""

from __future__ import annotations

import pytest

from offline import PulumiMocks

HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
LB = "aws:lb/loadBalancer:LoadBalancer"
DOMAIN = {"domainName": "models.dev.example.com", "hostedZoneId": "Z0123456789DEV"}


@pytest.fixture(scope="module")
def dev_with_domain():
    return PulumiMocks().run_stack("dev", dnsHealthCheckInterval=10, dnsFailureThreshold=5, **DOMAIN)


def records_by_region(run):
    """The routed records of the global name (regional names carry no set identifier)."""
    return {record["setIdentifier"]: record for record in run.of_type(RECORD) if "setIdentifier" in record}


def health_checks_by_region(run):
    checks = {}
    for check in run.of_type(HEALTH_CHECK):
        lb = next(lb for lb in run.of_type(LB) if lb.state["dns_name"] == check["fqdn"])
        checks[lb.region] = check
    return checks


def test_prod_has_a_latency_record_per_region_each_with_that_regions_health_check(prod):
    records, checks = records_by_region(prod), health_checks_by_region(prod)
    assert set(records) == set(checks) == {"us-east-1", "us-west-2", "eu-west-1"}
    for region, record in records.items():
        assert record["latencyRoutingPolicies"] == [{"region": region}]
        assert "failoverRoutingPolicies" not in record
        assert record["healthCheckId"] == checks[region].id
        assert record["name"] == "models.example.com" and record["zoneId"] == "Z0123456789EXAMPLE" and record["type"] == "A"
        lb = prod.one(LB, region=region)
        assert record["aliases"] == [{"name": lb.state["dns_name"], "zoneId": lb.state["zone_id"], "evaluateTargetHealth": True}]
    assert prod.outputs["globalDnsName"] == "models.example.com"
    assert prod.outputs["hostedZoneId"] == "Z0123456789EXAMPLE"


def test_health_checks_probe_each_load_balancer_over_https_on_the_fleets_health_path(prod):
    for region, check in health_checks_by_region(prod).items():
        assert check["type"] == "HTTPS" and check["port"] == 443 and check["enableSni"] is True
        assert check["resourcePath"] == "/health"
        assert check["requestInterval"] == 10 and check["failureThreshold"] == 3
        assert check["measureLatency"] is True


def test_active_passive_has_a_primary_and_a_secondary_failover_record(dev_with_domain):
    records, checks = records_by_region(dev_with_domain), health_checks_by_region(dev_with_domain)
    assert {region: r["failoverRoutingPolicies"] for region, r in records.items()} == {
        "us-east-1": [{"type": "PRIMARY"}],
        "us-west-2": [{"type": "SECONDARY"}],
    }
    for region, record in records.items():
        assert record["healthCheckId"] == checks[region].id
        assert record["aliases"][0]["evaluateTargetHealth"] is True
        assert "latencyRoutingPolicies" not in record


def test_health_checks_carry_the_configured_interval_and_threshold_and_use_http_without_a_certificate(dev_with_domain):
    assert len(dev_with_domain.of_type(HEALTH_CHECK)) == 2
    for check in dev_with_domain.of_type(HEALTH_CHECK):
        assert (check["type"], check["port"], check["resourcePath"]) == ("HTTP", 80, "/health")
        assert check["requestInterval"] == 10 and check["failureThreshold"] == 5


def test_primary_region_decides_which_record_is_primary(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev", primaryRegion="us-west-2", **DOMAIN)
    assert {region: r["failoverRoutingPolicies"][0]["type"] for region, r in records_by_region(run).items()} == {
        "us-west-2": "PRIMARY",
        "us-east-1": "SECONDARY",
    }


def test_without_a_domain_there_is_no_route53_but_every_regional_endpoint_is_exported(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev")
    assert not [r for r in run.resources if r.type.startswith("aws:route53/")]
    assert "globalDnsName" not in run.outputs and "hostedZoneId" not in run.outputs
    for region, exported in run.outputs["regions"].items():
        assert exported["endpoint"] == "http://" + run.one(LB, region=region).state["dns_name"]
        assert exported["healthUrl"] == exported["endpoint"] + "/health"


def test_every_region_also_gets_its_own_name_for_proxies_and_clients(pulumi_mocks):
    run = pulumi_mocks.run_stack("prod")
    regional = {r["name"]: r for r in run.of_type(RECORD) if "setIdentifier" not in r}
    assert set(regional) == {f"{region}.models.example.com" for region in ("us-east-1", "us-west-2", "eu-west-1")}
    for name, record in regional.items():
        region = name.split(".")[0]
        lb = run.one("aws:lb/loadBalancer:LoadBalancer", region=region)
        assert record["aliases"] == [{"name": lb.state["dns_name"], "zoneId": lb.state["zone_id"], "evaluateTargetHealth": True}]
        assert run.outputs["regions"][region]["endpoint"] == f"https://{name}"
