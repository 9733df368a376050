"""Stack runs the Azure tests share; PulumiMocks.run_stack makes each once per test process."""

from __future__ import annotations

from offline import PulumiMocks, Run

# One small AWS region keeps the variants fast; the Azure tier does not depend on the AWS side.
ONE_AWS_REGION = {
    "regions": ["us-east-1"],
    "primaryRegion": "us-east-1",
    "vpcCidrs": ["us-east-1=10.10.0.0/16"],
    "availabilityZones": ["us-east-1=us-east-1a,us-east-1b,us-east-1c"],
    "certificateArns": [],
    "natStrategy": "single",
}
# Premium API Management runs a gateway per location, so Front Door gets one origin per location.
PREMIUM_FOUR_LOCATIONS = {
    "azureApimSku": "Premium",
    "azureLocations": ["swedencentral", "eastus2", "westus3", "francecentral"],
    "azureBackendWeights": ["swedencentral=60", "eastus2=40"],
    "azureBreakerFailureCount": 7,
    "azureBreakerInterval": 60,
    "azureBreakerTripDuration": 45,
}


def prod() -> Run:
    """Pulumi.prod.yaml as it is (the same run as the `prod` fixture): active-active, StandardV2 API Management, two Azure locations."""
    return PulumiMocks().run_stack("prod")


def dev() -> Run:
    """Pulumi.dev.yaml as it is: no Azure tier."""
    return PulumiMocks().run_stack("dev")


def premium(topology: str) -> Run:
    """prod's Azure tier on Premium API Management in four locations, under the given topology."""
    return PulumiMocks().run_stack("prod", topology=topology, **ONE_AWS_REGION, **PREMIUM_FOUR_LOCATIONS)
