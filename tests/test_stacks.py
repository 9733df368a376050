"""Each stack file runs the whole program under mocks, every resource through its own region's provider."""

from __future__ import annotations

import asyncio

import pytest

from components.settings import SettingsError
from offline.runner import RecordingMonitor

CUSTOM_TOKEN_PREFIXES = ("aws:", "azure-native:")
GLOBAL_TOKEN_PREFIXES = ("aws:route53/",)  # Route 53 is global: managed through one us-east-1 provider
GLOBAL_COMPONENTS = ("ha-model-serving:aws:HealthCheckMonitoring",)  # Route 53 metrics exist only in us-east-1


@pytest.mark.parametrize("stack, regions", [("dev", {"us-east-1", "us-west-2"}), ("prod", {"us-east-1", "us-west-2", "eu-west-1"})])
def test_stack_runs_end_to_end_and_exports_every_regional_endpoint(pulumi_mocks, stack, regions):
    run = pulumi_mocks.run_stack(stack)
    assert set(run.outputs["regions"]) == regions
    for name, region in run.outputs["regions"].items():
        assert f".{name}.elb.amazonaws.com" in region["loadBalancerDnsName"]
        # With a domain, a region is reached by its own name under it, which its certificate covers.
        expected = f"https://{name}.models.example.com" if stack == "prod" else f"http://{region['loadBalancerDnsName']}"
        assert region["endpoint"] == expected
        assert region["healthUrl"] == region["endpoint"] + "/health"
    assert run.regions == regions


@pytest.mark.parametrize(
    "stack, overrides",
    [
        ("dev", {}),
        ("prod", {}),
        # Without us-east-1 among the regions, Route 53 gets a provider of its own.
        ("dev", {"regions": ["eu-west-1", "us-west-2"], "primaryRegion": "eu-west-1", "vpcCidrs": ["eu-west-1=10.30.0.0/16", "us-west-2=10.20.0.0/16"],
                 "domainName": "models.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}),
    ],
)
def test_every_resource_goes_through_the_provider_of_its_own_region(pulumi_mocks, stack, overrides):
    run = pulumi_mocks.run_stack(stack, **overrides)
    providers = {p.urn: p["region"] for p in run.resources if p.type == "pulumi:providers:aws"}
    global_providers = set()
    global_children = {r.urn for c in run.resources if c.type in GLOBAL_COMPONENTS for r in run.descendants(c)}
    for resource in run.resources:
        if not resource.type.startswith("aws:"):
            continue
        assert resource.provider_urn in providers, f"{resource.name} uses the default provider"
        if resource.type.startswith(GLOBAL_TOKEN_PREFIXES) or resource.urn in global_children:
            global_providers.add(resource.provider_urn)
            continue
        # A name may mention two regions (a drill's mirror of a peer's alarm); the first one is where it lives.
        region_in_name = min(((resource.name.index(r), r) for r in set(providers.values()) if r in resource.name), default=(0, None))[1]
        assert region_in_name == providers[resource.provider_urn], resource.name
    assert len(global_providers) <= 1, "every global resource goes through the same provider"
    assert all(providers[urn] == "us-east-1" for urn in global_providers)
    assert bool(global_providers) == bool(run.outputs.get("globalDnsName"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_child_has_a_component_parent(pulumi_mocks, stack):
    run = pulumi_mocks.run_stack(stack)
    components = {r.urn for r in run.resources if r.type.startswith("ha-model-serving:")}
    orphans = [r.name for r in run.resources if r.type.startswith("aws:") and r.parent_urn not in components]
    assert orphans == []


def test_bad_setting_stops_the_program_before_any_resource(pulumi_mocks):
    with pytest.raises(SettingsError, match="ha-model-serving:topology"):
        pulumi_mocks.run_stack("dev", topology="multi-master")


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"topolgy": "active-active"}, "topolgy"),  # a misspelt key in the stack file
        ({"alertEmails": ["oncall@example.com", "OnCall@example.com"]}, "alertEmails"),  # two subscriptions of one name
        ({"instanceType": "g5.xlage"}, "instanceType"),
        ({"azureLocations": ["swedencentral", "eastsu2"]}, "azureLocations"),
        ({"availabilityZones": ["us-west-2=us-west-2a,us-west-2g"]}, "availabilityZones"),  # the region (mocked: zones a-f) lacks it
        ({"modelArgs": '--model "Qwen/Qwen2.5-0.5B'}, "modelArgs"),  # the fleet splits it into words for the boot script
        ({"proxyBreakerBaseEjection": 120}, "proxyBreakerBaseEjection"),  # the proxy's runtime would refuse it in Lambda
    ],
)
def test_what_the_clouds_would_refuse_stops_the_program_before_any_resource(pulumi_mocks, monkeypatch, overrides, key):
    registered = []
    register = RecordingMonitor.RegisterResource
    monkeypatch.setattr(RecordingMonitor, "RegisterResource", lambda monitor, request: registered.append(request.type) or register(monitor, request))
    with pytest.raises(SettingsError, match=f"invalid setting ha-model-serving:{key}"):
        pulumi_mocks.run_stack("dev", **overrides)
    assert {token for token in registered if not token.startswith("pulumi:")} == set()


def test_dev_is_a_cheap_pair_and_prod_is_redundant(pulumi_mocks):
    dev, prod = pulumi_mocks.run_stack("dev"), pulumi_mocks.run_stack("prod")
    assert len(dev.of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 1
    assert len(prod.of_type("aws:ec2/natGateway:NatGateway", "us-east-1")) == 3
    assert dev.outputs["topology"] == "active-passive" and prod.outputs["topology"] == "active-active"


def test_stack_runs_after_asyncio_run_closed_the_event_loop(pulumi_mocks):
    # Runtime tests use asyncio.run(), which leaves no current loop; the mocks must not depend on test order.
    asyncio.run(asyncio.sleep(0))
    assert pulumi_mocks.run_stack("dev").outputs["regions"]


def test_a_stack_run_is_reused_unless_asked_fresh(pulumi_mocks):
    # One region without drills: the smallest stack there is, since the caching is the same for any.
    small = {"regions": ["us-east-1"], "vpcCidrs": ["us-east-1=10.110.0.0/16"], "drillsEnabled": False}
    first = pulumi_mocks.run_stack("dev", **small)
    assert pulumi_mocks.run_stack("dev", **small) is first
    assert pulumi_mocks.run_stack("dev", cached=False, **small) is not first
    assert pulumi_mocks.run_stack("dev", minSize=1, **small) is not first
