"""Each stack file runs the whole program under mocks, every resource through its own region's provider."""

from __future__ import annotations

import asyncio

import pytest

from components.settings import SettingsError

CUSTOM_TOKEN_PREFIXES = ("aws:", "azure-native:")


@pytest.mark.parametrize("stack, regions", [("dev", {"us-east-1", "us-west-2"}), ("prod", {"us-east-1", "us-west-2", "eu-west-1"})])
def test_stack_runs_end_to_end_and_exports_every_regional_endpoint(pulumi_mocks, stack, regions):
    run = pulumi_mocks.run_stack(stack)
    assert set(run.outputs["regions"]) == regions
    for name, region in run.outputs["regions"].items():
        assert f".{name}.elb.amazonaws.com" in region["endpoint"]
        assert region["healthUrl"] == region["endpoint"] + "/health"
    assert run.regions == regions


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_goes_through_the_provider_of_its_own_region(pulumi_mocks, stack):
    run = pulumi_mocks.run_stack(stack)
    providers = {p.urn: p["region"] for p in run.resources if p.type == "pulumi:providers:aws"}
    for resource in run.resources:
        if not resource.type.startswith("aws:"):
            continue
        assert resource.provider_urn in providers, f"{resource.name} uses the default provider"
        region_in_name = next((r for r in providers.values() if r in resource.name), None)
        assert region_in_name == providers[resource.provider_urn], resource.name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_child_has_a_component_parent(pulumi_mocks, stack):
    run = pulumi_mocks.run_stack(stack)
    components = {r.urn for r in run.resources if r.type.startswith("ha-model-serving:")}
    orphans = [r.name for r in run.resources if r.type.startswith("aws:") and r.parent_urn not in components]
    assert orphans == []


def test_bad_setting_stops_the_program_before_any_resource(pulumi_mocks):
    with pytest.raises(SettingsError, match="ha-model-serving:topology"):
        pulumi_mocks.run_stack("dev", topology="multi-master")


def test_dev_is_a_cheap_pair_and_prod_is_redundant(pulumi_mocks):
    dev, prod = pulumi_mocks.run_stack("dev"), pulumi_mocks.run_stack("prod")
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 1
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 3
    assert dev.outputs["topology"] == "active-passive" and prod.outputs["topology"] == "active-active"


def test_stack_runs_after_asyncio_run_closed_the_event_loop(pulumi_mocks):
    # Runtime tests use asyncio.run(), which leaves no current loop; the mocks must not depend on test order.
    asyncio.run(asyncio.sleep(0))
    assert pulumi_mocks.run_stack("dev").outputs["regions"]
