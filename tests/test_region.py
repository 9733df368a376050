"""Region: one AWS region's parts under one component, through that region's provider, composed in three steps."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components import region as region_module
from components.region import Region, RegionArgs
from offline import Run
from tests.settings_helpers import parse

REGION = region_module.TYPE
# What a region composes, by the name each part has in it.
PARTS = {
    "ha-model-serving:aws:Network": "network",
    "ha-model-serving:aws:ModelFleet": "fleet",
    "ha-model-serving:aws:ModelProxy": "proxy",
    "ha-model-serving:aws:RegionMonitoring": "monitoring",
    "ha-model-serving:aws:AlarmRelay": "alarm-relay",
    "ha-model-serving:aws:FailoverDrills": "drills",
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_region_holds_every_part_of_that_region_and_nothing_else(stack, request):
    run: Run = request.getfixturevalue(stack)
    regions = {r.name: r for r in run.of_type(REGION)}
    assert set(regions) == set(run.outputs["regions"])
    for name, region in regions.items():
        parts = {child.type: child.name for child in run.children(region)}
        assert parts == {token: f"{part}-{name}" for token, part in PARTS.items()}
        # The region's provider reaches every resource inside it through the parent chain.
        assert {r.region for r in run.descendants(region) if r.type.startswith("aws:")} == {name}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_part_moved_into_a_region_names_its_former_top_level_place(stack, request):
    run: Run = request.getfixturevalue(stack)
    for region in run.of_type(REGION):
        assert region.aliases == ()  # new: nothing to be found under
        for part in run.children(region):
            assert part.aliases == ({"noParent": True},), part.name


def test_a_region_without_its_own_provider_is_refused(pulumi_mocks):
    settings = parse()

    def program():
        Region("us-east-1", RegionArgs(settings, settings.region("us-east-1"), ("us-east-1a", "us-east-1b")))

    with pytest.raises(ValueError, match="region us-east-1: pass its AWS provider in opts"):
        pulumi_mocks.run(program)


def test_drills_wait_until_the_region_serves(pulumi_mocks):
    settings = parse()

    def program():
        provider = aws.Provider("aws-us-east-1", region="us-east-1")
        region = Region("us-east-1", RegionArgs(settings, settings.region("us-east-1"), ("us-east-1a", "us-east-1b")), pulumi.ResourceOptions(provider=provider))
        region.drill(peers={})

    with pytest.raises(RuntimeError, match="region us-east-1: drills stop on its alarms, so it must serve first"):
        pulumi_mocks.run(program)
