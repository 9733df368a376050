"""Topology: how regions share the work. Full capacity where a region serves, a warm standby or a pilot light where it waits."""

from __future__ import annotations

import pytest

from components.settings import Capacity
from tests.settings_helpers import parse, rejected
from components.topology import region_capacity, region_role, standby_regions
from offline import PulumiMocks

ASG = "aws:autoscaling/group:Group"
DB = "aws:rds/instance:Instance"


def capacity(run, region: str) -> tuple[int, int, int]:
    group = run.one(ASG, region=region)
    return group["minSize"], group["maxSize"], group["desiredCapacity"]


def test_pilot_light_standby_has_no_servers_but_a_running_replica(dev):
    assert dev.outputs["topology"] == "active-passive"
    assert capacity(dev, "us-east-1") == (1, 2, 1)
    assert capacity(dev, "us-west-2") == (0, 2, 0)
    assert dev.one(DB, region="us-west-2")["replicateSourceDb"] == dev.one(DB, region="us-east-1").state["arn"]
    assert {region: r["role"] for region, r in dev.outputs["regions"].items()} == {"us-east-1": "primary", "us-west-2": "standby"}


def test_warm_standby_runs_the_configured_reduced_capacity(pulumi_mocks):
    run = pulumi_mocks.run_stack(
        "dev", standby="warm-standby", minSize=2, maxSize=6, desiredCapacity=4, standbyMinSize=1, standbyMaxSize=3, standbyDesiredCapacity=2
    )
    assert capacity(run, "us-east-1") == (2, 6, 4)
    assert capacity(run, "us-west-2") == (1, 3, 2)


def test_active_active_gives_every_region_full_capacity():
    run = PulumiMocks().run_stack("prod")
    for region, exported in run.outputs["regions"].items():
        assert capacity(run, region) == (2, 8, 3)
        assert exported["role"] == "active"
        assert exported["fullCapacity"] == {"min": 2, "max": 8, "desired": 3}


def test_standby_exports_what_a_failover_needs(dev):
    standby = dev.outputs["regions"]["us-west-2"]
    group = dev.one(ASG, region="us-west-2")
    assert standby["autoscalingGroupName"] == group.state["name"]
    assert [standby["targetGroupArn"]] == group["targetGroupArns"]
    # Full capacity, not the standby's: the size a promoted region must reach.
    assert standby["fullCapacity"] == {"min": 1, "max": 2, "desired": 1}
    assert standby["database"]["role"] == "replica"


PROD = {"environment": "prod", "alertingEnabled": True, "alertEmails": ["oncall@example.com"]}
DOMAIN = {"domainName": "models.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}
THREE_REGIONS = {"regions": ["us-east-1", "us-west-2", "eu-west-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.0/16", "eu-west-1=10.30.0.0/16"]}


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("standby", {"standby": "cold"}, "'warm-standby', 'pilot-light'"),
        ("standby", {"topology": "active-active", "standby": "pilot-light"}, "must be empty under active-active"),
        ("standbyMinSize", {"standbyMinSize": 3, "standbyMaxSize": 2, "standbyDesiredCapacity": 2}, "must not exceed standbyMaxSize"),
        ("standbyDesiredCapacity", {"standbyMinSize": 1, "standbyMaxSize": 2, "standbyDesiredCapacity": 3}, "between standbyMinSize (1) and standbyMaxSize (2)"),
        ("standbyMaxSize", {"standbyMinSize": 0, "standbyMaxSize": 0, "standbyDesiredCapacity": 0}, "at least 1"),
        ("hostedZoneId", {"domainName": "models.example.com"}, "required with domainName"),
        ("domainName", {"hostedZoneId": "Z0123456789EXAMPLE"}, "required with hostedZoneId"),
        ("domainName", {"domainName": "not a domain", "hostedZoneId": "Z0123456789EXAMPLE"}, "DNS name"),
        ("hostedZoneId", {**DOMAIN, "hostedZoneId": "example.com"}, "hosted zone id"),
        ("regions", {**DOMAIN, **THREE_REGIONS}, "one standby region"),
        ("dnsHealthCheckInterval", {"dnsHealthCheckInterval": 20}, "10 or 30"),
        ("dnsFailureThreshold", {"dnsFailureThreshold": 11}, "between 1 and 10"),
        ("dbBackupRetentionDays", {**PROD, "dbBackupRetentionDays": 10}, "prod keeps at least 14 days of backups, the policy pack's minimum (policy/production.json)"),
        ("dbBackupRetentionDays", {"dbBackupRetentionDays": 3}, "dev keeps at least 7 days of backups, the policy pack's minimum (policy/rules.py"),
        ("dbBackupRetentionDays", {"dbBackupRetentionDays": 0}, "between 1 and 35"),
        ("dbInstanceClass", {"dbInstanceClass": "r6g.large"}, "RDS instance class"),
        ("dbReplicaInstanceClass", {"dbReplicaInstanceClass": "large"}, "RDS instance class"),
        ("dbEngineVersion", {"dbEngineVersion": "9.6"}, "12 or newer"),
        # Automatic minor upgrades move a pinned 16.4 on; the next up would ask RDS for a downgrade.
        ("dbEngineVersion", {"dbEngineVersion": "16.4"}, "pin only the major version (16)"),
        ("dbAllocatedStorage", {"dbAllocatedStorage": 10}, "between 20 and 65536"),
        ("dbMaxAllocatedStorage", {"dbAllocatedStorage": 100, "dbMaxAllocatedStorage": 50}, "above dbAllocatedStorage (100)"),
        ("dbName", {"dbName": "model-registry"}, "underscores"),
        ("dbUsername", {"dbUsername": "rdsadmin"}, "not starting with rds"),
        ("dbPort", {"dbPort": 80}, "between 1150 and 65535"),
    ],
)
def test_bad_multi_region_setting_is_rejected_with_its_key(key, overrides, fragment):
    assert fragment in str(rejected(key, **overrides))


def test_active_passive_without_a_standby_mode_is_a_warm_standby():
    settings = parse(standby="", standbyMinSize=1, standbyMaxSize=3, standbyDesiredCapacity=2)
    assert settings.multi_region.standby == "warm-standby"
    assert region_capacity(settings, "us-west-2") == Capacity(min_size=1, max_size=3, desired=2)
    assert region_capacity(settings, "us-east-1") == settings.fleet.capacity


def test_three_region_active_passive_without_a_domain_keeps_its_standbys_in_region_order():
    settings = parse(**THREE_REGIONS, primaryRegion="us-west-2", standby="pilot-light")
    assert standby_regions(settings) == ("us-east-1", "eu-west-1")
    assert [region_role(settings, name) for name in settings.region_names] == ["standby", "primary", "standby"]
    assert region_capacity(settings, "eu-west-1") == Capacity(min_size=0, max_size=6, desired=0)
