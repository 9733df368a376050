"""FrontDoor: probes every API Management gateway, shares traffic by topology, and serves HTTPS only."""

from __future__ import annotations

import pytest

from azure_stacks import premium
from azure_stacks import prod as prod_run
from components.front_door import GATEWAY_STATUS_PATH

PROFILE = "azure-native:cdn:Profile"
ORIGIN_GROUP = "azure-native:cdn:AFDOriginGroup"
ORIGIN = "azure-native:cdn:AFDOrigin"
ROUTE = "azure-native:cdn:Route"
SERVICE = "azure-native:apimanagement:ApiManagementService"


def origins_by_host(run) -> dict[str, tuple[int, int]]:
    return {origin["hostName"]: (origin["priority"], origin["weight"]) for origin in run.of_type(ORIGIN)}


def test_profile_tier_and_origin_timeout_come_from_settings():
    prod = prod_run()
    profile = prod.one(PROFILE)
    assert profile["sku"] == {"name": "Standard_AzureFrontDoor"}
    assert profile["originResponseTimeoutSeconds"] == 180
    assert profile["location"] == "global"


def test_origin_group_probes_the_gateway_status_path_over_https():
    group = prod_run().one(ORIGIN_GROUP)
    probe = group["healthProbeSettings"]
    assert probe["probePath"] == GATEWAY_STATUS_PATH == "/status-0123456789abcdef"
    assert probe["probeProtocol"] == "Https"
    assert probe["probeIntervalInSeconds"] == 30
    assert probe["probeRequestType"] in {"GET", "HEAD"}
    balancing = group["loadBalancingSettings"]
    assert 0 < balancing["successfulSamplesRequired"] <= balancing["sampleSize"]
    assert balancing["additionalLatencyInMilliseconds"] >= 0


def test_a_single_region_gateway_is_one_origin_checked_by_its_own_host_name():
    prod = prod_run()
    gateway_host = prod.one(SERVICE).state["gatewayUrl"].removeprefix("https://")
    (origin,) = prod.of_type(ORIGIN)
    assert origin["hostName"] == origin["originHostHeader"] == gateway_host
    assert origin["enforceCertificateNameCheck"] is True
    assert origin["originGroupName"] == prod.one(ORIGIN_GROUP).state["name"]


@pytest.mark.parametrize(
    "topology, expected",
    [
        ("active-active", {"swedencentral": (1, 60), "eastus2": (1, 40), "westus3": (1, 1), "francecentral": (1, 1)}),
        ("active-passive", {"swedencentral": (1, 60), "eastus2": (2, 40), "westus3": (2, 1), "francecentral": (2, 1)}),
    ],
)
def test_each_regional_gateway_is_an_origin_with_the_topology_s_priority_and_weight(topology, expected):
    run = premium(topology)
    service = run.one(SERVICE).state
    regional = {service["location"]: service["gatewayRegionalUrl"]} | {
        location["location"]: location["gatewayRegionalUrl"] for location in service["additionalLocations"]
    }
    assert origins_by_host(run) == {regional[location].removeprefix("https://"): share for location, share in expected.items()}


@pytest.mark.parametrize("run", [prod_run, lambda: premium("active-passive")])
def test_route_is_https_only_and_waits_for_every_origin(run):
    run = run()
    route = run.one(ROUTE)
    assert route["supportedProtocols"] == ["Https", "Http"]
    assert route["httpsRedirect"] == "Enabled"
    assert route["forwardingProtocol"] == "HttpsOnly"
    assert route["linkToDefaultDomain"] == "Enabled"
    assert route["originGroup"] == {"id": run.one(ORIGIN_GROUP).id}
    origins = run.of_type(ORIGIN)
    assert origins and {origin.urn for origin in origins} <= set(route.dependencies)


def test_stack_exports_the_front_door_hostname():
    prod = prod_run()
    endpoint = prod.one("azure-native:cdn:AFDEndpoint")
    assert prod.outputs["azure"]["frontDoorHostname"] == endpoint.state["hostName"]
    assert prod.outputs["azure"]["frontDoorHostname"].endswith(".azurefd.net")


def test_the_gateway_answers_only_requests_that_came_through_this_front_door():
    import xml.etree.ElementTree as ElementTree

    run = prod_run()
    profile = run.one("azure-native:cdn:Profile")
    service = run.one("azure-native:apimanagement:ApiManagementService")
    [policy] = run.of_type("azure-native:apimanagement:Policy")
    assert (policy["serviceName"], policy["policyId"], policy["format"]) == (service["serviceName"], "policy", "rawxml")
    check = ElementTree.fromstring(policy["value"]).find("inbound/check-header")
    assert check.get("name") == "X-Azure-FDID" and check.get("failed-check-httpcode") == "403"
    assert [value.text for value in check.findall("value")] == [profile.state["frontDoorId"]]
