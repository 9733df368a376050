"""The report's topology model, rebuilt from small synthetic sets of declared resources."""

from __future__ import annotations

import pytest

from report import model
from tests.report_topology import active_passive_stack, declared, region_resources, replica_lag_alarm


def test_regions_zones_and_tiers_come_from_the_declared_resources():
    resources, outputs = active_passive_stack(standby_desired=0)
    topology = model.build("test", resources, outputs)

    assert [region.name for region in topology.regions] == ["us-east-1", "us-west-2"]
    assert (topology.mode, topology.role("us-east-1"), topology.role("us-west-2")) == ("active-passive", "primary", "standby")
    primary, standby = topology.regions
    assert primary.zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert primary.nat_zones == primary.zones and standby.nat_zones == ("us-west-2a",)
    assert primary.public_ips == 3
    assert primary.load_balancers[0].zones == primary.zones
    fleet = primary.fleets[0]
    assert (fleet.instance_type, fleet.min_size, fleet.desired, fleet.max_size) == ("g5.xlarge", 2, 3, 8)
    assert (fleet.root_volume_gib, fleet.health_check_grace_period, fleet.target_interval, fleet.target_healthy_threshold) == (100, 600, 15, 2)
    assert standby.fleets[0].desired == 0


def test_databases_health_checks_records_and_functions_are_read_when_declared():
    resources, outputs = active_passive_stack()
    topology = model.build("test", resources + [replica_lag_alarm(30.0)], outputs)

    primary_db, replica_db = topology.region("us-east-1").databases[0], topology.region("us-west-2").databases[0]
    assert (primary_db.is_replica, primary_db.multi_az, replica_db.is_replica, replica_db.multi_az) == (False, True, True, False)
    assert [check.target_region for check in topology.routing.health_checks] == ["us-east-1", "us-west-2"]
    assert [(r.policy, r.target_region, r.ttl_seconds, r.health_checked) for r in topology.routing.records] == [
        ("failover-primary", "us-east-1", None, True),
        ("failover-secondary", "us-west-2", None, True),
    ]
    assert topology.region("us-east-1").functions[0] == model.Function("proxy-us-east-1", 512, 60, "arm64")
    assert topology.replica_lag_alarms == (model.ReplicaLagAlarm("db-replica-lag", 30.0),)


def test_azure_children_are_matched_to_their_owners():
    topology = model.build("test", *active_passive_stack())
    azure = topology.azure
    assert [(fd.sku, fd.origins) for fd in azure.front_doors] == [("Standard_AzureFrontDoor", 1)]
    assert [(g.sku, g.capacity, g.location) for g in azure.gateways] == [("StandardV2", 1, "eastus")]
    assert [(a.location, [d.sku for d in a.deployments]) for a in azure.accounts] == [
        ("eastus", ["GlobalStandard"]),
        ("swedencentral", ["GlobalStandard"]),
    ]


@pytest.mark.parametrize("desired, spread", [(3, [1, 1, 1]), (4, [2, 1, 1]), (1, [1, 0, 0]), (0, [0, 0, 0])])
def test_a_fleet_spreads_its_instances_across_its_zones(desired, spread):
    topology = model.build("test", region_resources("us-east-1", "abc", desired=desired), {})
    assert list(topology.regions[0].fleets[0].per_zone().values()) == spread


def test_a_group_naming_an_undeclared_launch_template_is_an_error():
    resources = [r for r in region_resources("us-east-1", "ab") if r.type != model.LAUNCH_TEMPLATE]
    with pytest.raises(ValueError, match="fleet-us-east-1-servers names launch template 'fleet-us-east-1-server-id'"):
        model.build("test", resources, {})


def test_a_resource_with_its_own_region_input_counts_in_that_region():
    resources = region_resources("us-east-1", "ab") + region_resources("us-west-2", "ab")
    resources.append(declared(model.DB_INSTANCE, "db", "us-east-1", {"instanceClass": "db.t4g.medium", "region": "us-west-2"}))
    topology = model.build("test", resources, {})
    assert [len(region.databases) for region in topology.regions] == [0, 1]


def test_a_replica_without_its_own_storage_size_has_its_sources():
    resources, outputs = active_passive_stack()
    for resource in resources:
        if resource.name == "db-us-west-2":
            resource.inputs.pop("allocatedStorage")
    topology = model.build("test", resources, outputs)
    assert topology.region("us-west-2").databases[0].storage_gib == 100
