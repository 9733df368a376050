"""Azure settings: Azure OpenAI per location behind an API Management pool, Front Door as the global entry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from components import catalogs
from components.settings.monitoring import EMAIL
from components.settings.reading import Reader, SettingsError, choice, did_you_mean, in_range, require_distinct

# Azure OpenAI deployment SKUs that serve requests as they come (batch SKUs do not).
OPENAI_DEPLOYMENT_SKUS = (
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
)
PUBLIC_NETWORK_ACCESS = ("Enabled", "Disabled")
# API Management tiers with backend pools and circuit breakers, and the scale units each allows
# (Premium: per location, without a support request).
APIM_CAPACITY = {"Developer": (1, 1), "Basic": (1, 2), "Standard": (1, 4), "Premium": (1, 12), "BasicV2": (1, 10), "StandardV2": (1, 10)}
FRONT_DOOR_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")
# API Management accepts at most 30 backends in one pool; each Azure location is one of them.
MAX_POOL_MEMBERS = 30
# Weights both accept: API Management pool members 0-100 (BackendPoolItem.weight in the 2024-05-01 API),
# Front Door origins 1-1000; each location's weight feeds both.
AZURE_WEIGHT = (1, 100)
DEFAULT_AZURE_WEIGHT = 1
ORIGIN_RESPONSE_TIMEOUT = (16, 240)
PROBE_INTERVAL = (1, 255)


@dataclass(frozen=True)
class OpenAiDeployment:
    """One model deployment on every Azure OpenAI account."""

    name: str
    model: str
    version: str
    sku: str
    # Thousands of tokens per minute for standard SKUs, provisioned throughput units otherwise.
    capacity: int


@dataclass(frozen=True)
class TrafficShare:
    """How much of the traffic a location gets: lower priority first, then by weight among equals."""

    priority: int
    weight: int


@dataclass(frozen=True)
class AzureSettings:
    """The Azure tier: locations, deployments, API Management (tier, breakers, token limit) and Front Door (seconds)."""

    enabled: bool
    locations: tuple[str, ...]
    primary_location: str
    deployments: tuple[OpenAiDeployment, ...]
    public_network_access: str
    apim_sku: str
    apim_capacity: int
    publisher_name: str
    publisher_email: str
    breaker_failure_count: int
    breaker_interval_seconds: int
    breaker_trip_seconds: int
    weights: Mapping[str, int]
    tokens_per_minute: int
    front_door_sku: str
    origin_response_timeout_seconds: int
    probe_interval_seconds: int

    @property
    def multi_region_gateway(self) -> bool:
        """Only Premium API Management runs gateways in additional locations."""
        return self.apim_sku == "Premium" and len(self.locations) > 1

    def traffic_shares(self, topology: str) -> dict[str, TrafficShare]:
        """active-passive: the primary first, the others only when it fails; active-active: all at once, by weight."""
        return {
            location: TrafficShare(
                priority=1 if topology == "active-active" or location == self.primary_location else 2,
                weight=self.weights.get(location, DEFAULT_AZURE_WEIGHT),
            )
            for location in self.locations
        }


def parse_azure(read: Reader) -> AzureSettings:
    """Every Azure setting; the publisher e-mail is required when the tier is enabled."""
    enabled = read.boolean("azureEnabled")
    locations = _parse_azure_locations(read)
    primary = read.string("azurePrimaryLocation")
    if primary not in locations:
        raise read.default_elsewhere("azurePrimaryLocation", locations, "azureLocations", noun="location") or SettingsError(
            "azurePrimaryLocation", primary, f"must be one of azureLocations {list(locations)}"
        )
    weights = _parse_azure_weights(read, locations)

    apim_sku = read.string("azureApimSku")
    if apim_sku == "Consumption":
        raise SettingsError("azureApimSku", apim_sku, "the Consumption tier has no backend pools or circuit breakers; use StandardV2 or another tier")
    choice("azureApimSku", apim_sku, tuple(APIM_CAPACITY))
    publisher_email = read.string("azureApimPublisherEmail")
    if publisher_email or enabled:
        if not EMAIL.fullmatch(publisher_email):
            raise SettingsError("azureApimPublisherEmail", publisher_email, "expected an e-mail address such as platform@example.com (required when azureEnabled)")
    publisher_name = read.string("azureApimPublisherName")
    if not publisher_name or len(publisher_name) > 100:
        raise SettingsError("azureApimPublisherName", publisher_name, "must be 1-100 characters")

    return AzureSettings(
        enabled=enabled,
        locations=locations,
        primary_location=primary,
        deployments=_parse_openai_deployments(read),
        public_network_access=choice("azureOpenAiPublicNetworkAccess", read.string("azureOpenAiPublicNetworkAccess"), PUBLIC_NETWORK_ACCESS),
        apim_sku=apim_sku,
        apim_capacity=in_range("azureApimCapacity", read.integer("azureApimCapacity"), APIM_CAPACITY[apim_sku], f" scale units for {apim_sku}"),
        publisher_name=publisher_name,
        publisher_email=publisher_email,
        breaker_failure_count=in_range("azureBreakerFailureCount", read.integer("azureBreakerFailureCount"), (1, 1000)),
        breaker_interval_seconds=in_range("azureBreakerInterval", read.integer("azureBreakerInterval"), (1, 3600), " seconds"),
        breaker_trip_seconds=in_range("azureBreakerTripDuration", read.integer("azureBreakerTripDuration"), (1, 3600), " seconds"),
        weights=weights,
        tokens_per_minute=in_range("azureTokensPerMinute", read.integer("azureTokensPerMinute"), (1, 100_000_000)),
        front_door_sku=choice("azureFrontDoorSku", read.string("azureFrontDoorSku"), FRONT_DOOR_SKUS),
        origin_response_timeout_seconds=in_range(
            "azureOriginResponseTimeout", read.integer("azureOriginResponseTimeout"), ORIGIN_RESPONSE_TIMEOUT, " seconds"
        ),
        probe_interval_seconds=in_range("azureProbeInterval", read.integer("azureProbeInterval"), PROBE_INTERVAL, " seconds"),
    )


def _parse_azure_locations(read: Reader) -> tuple[str, ...]:
    locations = read.strings("azureLocations")
    if not locations:
        raise SettingsError("azureLocations", list(locations), "list at least one Azure location")
    for location in locations:
        if not re.fullmatch(r"[a-z]+[a-z0-9]*", location):
            raise SettingsError(
                "azureLocations",
                location,
                "expected an Azure location's programmatic name, lowercase without spaces, such as swedencentral or eastus2"
                + did_you_mean(location.replace(" ", ""), catalogs.azure_locations().names),
            )
    require_distinct("azureLocations", locations, "locations")
    if len(locations) > MAX_POOL_MEMBERS:
        raise SettingsError(
            "azureLocations", f"{len(locations)} locations", f"at most {MAX_POOL_MEMBERS}: each is a member of one API Management backend pool"
        )
    for location in locations:
        read.listed("azureLocations", location, catalogs.azure_locations())
    return locations


def _parse_openai_deployments(read: Reader) -> tuple[OpenAiDeployment, ...]:
    key = "azureOpenAiDeployments"
    entries = read.strings(key)
    if not entries:
        raise SettingsError(key, [], "list at least one deployment as name=model:version:sku:capacity")
    # Azure compares resource names without case (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
    require_distinct(
        key, entries, "deployment names", identity=lambda entry: entry.partition("=")[0].strip().lower(), why=" (Azure compares names without case)"
    )
    deployments: dict[str, OpenAiDeployment] = {}
    for entry in entries:
        name, sep, spec = entry.partition("=")
        fields = spec.split(":")
        if not sep or len(fields) != 4:
            raise SettingsError(key, entry, "each entry must look like name=model:version:sku:capacity")
        model, version, sku, capacity = (field.strip() for field in fields)
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}", name):
            raise SettingsError(key, entry, "deployment names are 2-64 letters, digits, '.', '_' or '-'")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", model):
            raise SettingsError(key, entry, "expected a model name such as gpt-4o")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", version):
            raise SettingsError(key, entry, "expected a model version such as 2024-11-20")
        if sku not in OPENAI_DEPLOYMENT_SKUS:
            raise SettingsError(key, entry, "the SKU must be one of " + ", ".join(OPENAI_DEPLOYMENT_SKUS))
        if not re.fullmatch(r"-?\d+", capacity) or int(capacity) <= 0:
            raise SettingsError(key, entry, "capacity must be a whole number greater than 0")
        deployments[name] = OpenAiDeployment(name=name, model=model, version=version, sku=sku, capacity=int(capacity))
    return tuple(deployments.values())


def _parse_azure_weights(read: Reader, locations: tuple[str, ...]) -> dict[str, int]:
    key = "azureBackendWeights"
    weights: dict[str, int] = {}
    for location, value in read.region_map(key, locations, noun="location", listed_in="azureLocations").items():
        low, high = AZURE_WEIGHT
        if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
            raise SettingsError(key, f"{location}={value}", f"weights are whole numbers between {low} and {high}")
        weights[location] = int(value)
    return weights
