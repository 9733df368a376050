"""ModelGateway: least-privilege identity, breaker-guarded backends in one pool, a well-formed policy, a secret key."""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ElementTree

import pulumi
import pulumi_azure_native as azure_native
import pytest

from components.model_gateway import OPENAI_USER_ROLE, ModelGateway, ModelGatewayArgs, gateway_policy
from azure_stacks import premium
from azure_stacks import prod as prod_run
from components.settings import AZURE_WEIGHT
from tests.settings_helpers import parse
from offline.runner import AZURE_SUBSCRIPTION

SERVICE = "azure-native:apimanagement:ApiManagementService"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
BACKEND = "azure-native:apimanagement:Backend"
ACCOUNT = "azure-native:cognitiveservices:Account"
POLICY = "azure-native:apimanagement:ApiPolicy"
PROD_LOCATIONS = {"swedencentral", "eastus2"}
PREMIUM_LOCATIONS = {"swedencentral", "eastus2", "westus3", "francecentral"}


def single_backends(run):
    return {b["backendId"]: b for b in run.of_type(BACKEND) if b["type"] == "Single"}


def pool_members(run) -> dict[str, tuple[int, int]]:
    """Pool members by location, as (priority, weight)."""
    pool = next(b for b in run.of_type(BACKEND) if b["type"] == "Pool")
    by_id = {b.id: b for b in run.of_type(BACKEND)}
    return {
        by_id[member["id"]]["backendId"].removeprefix("openai-"): (member["priority"], member["weight"]) for member in pool["pool"]["services"]
    }


def parsed_policy(run) -> ElementTree.Element:
    policy = run.one(POLICY)
    assert policy["format"] == "rawxml"
    return ElementTree.fromstring(policy["value"])


def test_installed_sdk_calls_api_management_2024_05_01_or_later():
    for resource in (azure_native.apimanagement.Backend, azure_native.apimanagement.ApiManagementService, azure_native.apimanagement.ApiPolicy):
        # The version is stated in the docstrings of the constructor overloads, which only the source keeps.
        source = inspect.getsource(inspect.getmodule(resource))
        version = re.search(r"Uses Azure REST API version (\d{4}-\d{2}-\d{2}(?:-preview)?)", source)
        assert version, f"{resource.__name__} documents no API version"
        assert version.group(1) >= "2024-05-01", f"{resource.__name__} calls {version.group(1)}: no backend pools or v2 tiers"


def test_service_has_a_system_assigned_identity_and_the_configured_tier(prod):
    service = prod.one(SERVICE)
    assert service["identity"] == {"type": "SystemAssigned"}
    assert service["sku"] == {"name": "StandardV2", "capacity": 2}
    assert service["location"] == "swedencentral"
    assert (service["publisherName"], service["publisherEmail"]) == ("Platform Engineering", "platform@example.com")
    assert "additionalLocations" not in service, "StandardV2 runs one gateway"


def test_gateway_identity_is_openai_user_on_each_account_and_nothing_broader(prod):
    service = prod.one(SERVICE)
    accounts = {account.id for account in prod.of_type(ACCOUNT)}
    assignments = prod.of_type(ROLE_ASSIGNMENT)
    assert {assignment["scope"] for assignment in assignments} == accounts
    assert len(assignments) == len(accounts), "one assignment per account, no extra scopes"
    for assignment in assignments:
        assert assignment["roleDefinitionId"] == f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{OPENAI_USER_ROLE}"
        assert assignment["principalId"] == service.state["identity"]["principalId"]
        assert assignment["principalType"] == "ServicePrincipal"


def test_each_account_is_one_backend_with_a_breaker_on_429_and_5xx_that_accepts_retry_after(prod):
    endpoints = {a["location"]: a.state["properties"]["endpoint"] for a in prod.of_type(ACCOUNT)}
    backends = single_backends(prod)
    assert set(backends) == {f"openai-{location}" for location in PROD_LOCATIONS}
    for location, endpoint in endpoints.items():
        backend = backends[f"openai-{location}"]
        assert backend["url"] == f"{endpoint}openai"
        (rule,) = backend["circuitBreaker"]["rules"]
        ranges = {(r["min"], r["max"]) for r in rule["failureCondition"]["statusCodeRanges"]}
        assert ranges == {(429, 429), (500, 599)}
        assert rule["acceptRetryAfter"] is True
        # Pulumi.prod.yaml leaves the breaker at its defaults: 3 failures in 10 s trip it for 10 s.
        assert (rule["failureCondition"]["count"], rule["failureCondition"]["interval"], rule["tripDuration"]) == (3, "PT10S", "PT10S")


def test_breaker_follows_its_settings():
    run = premium("active-active")
    assert set(single_backends(run)) == {f"openai-{location}" for location in PREMIUM_LOCATIONS}
    for backend in single_backends(run).values():
        (rule,) = backend["circuitBreaker"]["rules"]
        assert (rule["failureCondition"]["count"], rule["failureCondition"]["interval"], rule["tripDuration"]) == (7, "PT60S", "PT45S")
    on_error = parsed_policy(run).find("on-error/choose/when/return-response")
    assert on_error.find("set-header[@name='Retry-After']/value").text == "45"


def test_active_active_pool_holds_every_backend_at_one_priority_with_configured_weights(prod):
    assert pool_members(prod) == {"swedencentral": (1, 60), "eastus2": (1, 40)}


@pytest.mark.parametrize(
    "topology, expected",
    [
        ("active-active", {"swedencentral": (1, 60), "eastus2": (1, 40), "westus3": (1, 1), "francecentral": (1, 1)}),
        ("active-passive", {"swedencentral": (1, 60), "eastus2": (2, 40), "westus3": (2, 1), "francecentral": (2, 1)}),
    ],
)
def test_pool_priorities_and_weights_follow_the_topology(topology, expected):
    assert pool_members(premium(topology)) == expected


def test_policy_authenticates_with_the_managed_identity_and_routes_to_the_pool(prod):
    policy = parsed_policy(prod)
    identity = policy.find("inbound/authentication-managed-identity")
    assert identity.get("resource") == "https://cognitiveservices.azure.com"
    token_variable = identity.get("output-token-variable-name")
    authorization = policy.find("inbound/set-header[@name='Authorization']/value").text
    assert f'context.Variables["{token_variable}"]' in authorization and authorization.startswith('@("Bearer "')
    pool = next(b for b in prod.of_type(BACKEND) if b["type"] == "Pool")
    assert policy.find("inbound/set-backend-service").get("backend-id") == pool["backendId"]
    assert prod.by_urn(pool.urn).urn in prod.one(POLICY).dependencies


@pytest.mark.parametrize("run, others", [(prod_run, 1), (lambda: premium("active-active"), 3)])
def test_policy_retries_429_and_503_once_per_other_pool_member_without_waiting(run, others):
    retry = parsed_policy(run()).find("backend/retry")
    assert retry.get("count") == str(others)
    assert (retry.get("interval"), retry.get("first-fast-retry")) == ("0", "true")
    condition = retry.get("condition")
    assert "StatusCode == 429" in condition and "StatusCode == 503" in condition
    assert 'Contains("Backend pool")' in condition, "an exhausted pool is not retried"
    assert retry.find("forward-request") is not None


def test_a_single_member_pool_forwards_without_retrying():
    policy = ElementTree.fromstring(gateway_policy("openai-pool", pool_size=1, tokens_per_minute=1000, retry_after_seconds=10))
    assert policy.find("backend/retry") is None
    assert policy.find("backend/forward-request") is not None


def test_policy_limits_tokens_per_subscription_and_emits_token_metrics(prod):
    policy = parsed_policy(prod)
    limit = policy.find("inbound/azure-openai-token-limit")
    assert limit.get("tokens-per-minute") == "100000"
    assert limit.get("counter-key") == "@(context.Subscription.Id)"
    dimensions = [d.get("name") for d in policy.findall("inbound/azure-openai-emit-token-metric/dimension")]
    assert dimensions == ["Subscription ID", "API ID", "Location"]


def test_which_backend_answered_is_counted_in_outbound_where_the_service_knows_it(prod):
    # "Backend ID (use only in outbound policy section)": the policy reference's default dimensions. The
    # token metric is inbound-only, before the pool picks a member, so it cannot carry it.
    policy = parsed_policy(prod)
    assert not [d for d in policy.iter("dimension") if d.get("name") == "Backend ID" and d not in policy.findall("outbound/emit-metric/dimension")]
    (metric,) = policy.findall("outbound/emit-metric")
    assert metric.get("name") == "Backend responses" and metric.get("namespace") == "ha-model-serving"
    assert [(d.get("name"), d.get("value")) for d in metric.findall("dimension")] == [
        ("Backend ID", None),
        ("Status code", "@(context.Response.StatusCode.ToString())"),
    ]


def test_weight_settings_fit_what_the_installed_sdk_documents_for_pool_members():
    # The same weight goes to a pool member and to a Front Door origin (1-1000): the pool's range is the narrower.
    source = inspect.getsource(azure_native.apimanagement.BackendPoolItemArgs)
    documented = re.search(r"The weight of the backend entity in the backend pool\. Must be between (\d+) and (\d+)", source)
    assert documented, "the installed SDK no longer documents the pool weight range"
    low, high = AZURE_WEIGHT
    assert int(documented.group(1)) <= low and high <= int(documented.group(2))


def test_policy_turns_an_exhausted_pool_into_429_with_retry_after(prod):
    policy = parsed_policy(prod)
    for section in ("outbound", "on-error"):
        when = policy.find(f"{section}/choose/when")
        assert "StatusCode == 503" in when.get("condition") and 'Contains("Backend pool")' in when.get("condition")
        response = when.find("return-response")
        assert response.find("set-status").get("code") == "429"
        assert response.find("set-header[@name='Retry-After']/value").text == "10"


def test_api_requires_subscription_keys_over_https_and_the_subscription_is_scoped_to_it(prod):
    api = prod.one("azure-native:apimanagement:Api")
    assert api["subscriptionRequired"] is True and api["protocols"] == ["https"] and api["path"] == "openai"
    assert api["subscriptionKeyParameterNames"] == {"header": "api-key"}
    subscription = prod.one("azure-native:apimanagement:Subscription")
    assert subscription["scope"] == api.id
    assert subscription.get("primaryKey") is None, "the key is generated by Azure, never set in code"


def test_subscription_key_is_exported_only_as_a_secret(prod):
    assert prod.secret_outputs == {"azureSubscriptionKey"}
    key = prod.outputs["azureSubscriptionKey"]
    assert key == "primary-key-of-model-clients"
    plain = {name: value for name, value in prod.outputs.items() if name not in prod.secret_outputs}
    assert key not in repr(plain)
    assert prod.outputs["azure"]["gatewayUrl"] == prod.one(SERVICE).state["gatewayUrl"]


def test_component_key_is_secret_before_it_is_exported(pulumi_mocks):
    found = {}

    def program():
        settings = parse(azureLocations=["swedencentral"]).azure
        gateway = ModelGateway(
            "gateway",
            ModelGatewayArgs(
                resource_group_name="rg-test",
                service_name_prefix="models-test",
                subscription_id=AZURE_SUBSCRIPTION,
                openai_account_ids={"swedencentral": "/subscriptions/s/resourceGroups/rg-test/providers/Microsoft.CognitiveServices/accounts/a"},
                openai_endpoints={"swedencentral": "https://a.openai.azure.com/"},
                shares=settings.traffic_shares("active-passive"),
                settings=settings,
                tags={},
            ),
        )
        found["secret"] = gateway.subscription_key.is_secret()

    pulumi_mocks.run(program)
    assert pulumi.runtime.sync_await._sync_await(found["secret"]) is True


def test_premium_runs_a_gateway_in_every_other_location():
    service = premium("active-passive").one(SERVICE)
    assert service["location"] == "swedencentral"
    additional = {location["location"]: location["sku"] for location in service["additionalLocations"]}
    assert set(additional) == PREMIUM_LOCATIONS - {"swedencentral"}
    assert all(sku == service["sku"] for sku in additional.values())


def test_the_api_routes_every_post_and_the_model_list_and_nothing_else(prod):
    # Azure OpenAI's v1 API serves chat, embeddings, responses with POST and the model list with GET
    # (learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle, "v1 API support").
    operations = {(op["method"], op["urlTemplate"]) for op in prod.of_type("azure-native:apimanagement:ApiOperation")}
    assert operations == {("POST", "/*"), ("GET", "/v1/models")}
