"""AzureTier: the stack's resource group and every Azure component under one component, each keeping its former identity."""

from __future__ import annotations

from components import azure_tier

GROUP = "azure-native:resources:ResourceGroup"


def test_the_tier_holds_the_group_and_every_azure_component(prod):
    [tier] = prod.of_type(azure_tier.TYPE)
    parts = {child.type: child.name for child in prod.children(tier)}
    assert parts == {
        GROUP: "azure",
        "ha-model-serving:azure:AzureOpenAI": "openai",
        "ha-model-serving:azure:ModelGateway": "gateway",
        "ha-model-serving:azure:FrontDoor": "frontdoor",
        "ha-model-serving:azure:GatewayLock": "gateway-lock",
        "ha-model-serving:azure:AzureMonitoring": "azure-monitoring",
    }
    azure_resources = [r for r in prod.resources if r.type.startswith("azure-native:")]
    assert {r.urn for r in azure_resources} <= {r.urn for r in prod.descendants(tier)}


def test_the_group_is_found_where_it_was_at_the_top_level_under_either_of_its_names(prod):
    group = prod.one(GROUP)
    location = group["location"]
    own = [alias for alias in group.aliases if "type" not in alias]
    assert own == [{"noParent": True}, {"name": f"azure-{location}", "noParent": True}]


def test_a_stack_without_azure_has_no_tier(dev):
    assert dev.of_type(azure_tier.TYPE) == [] and not [r for r in dev.resources if r.type.startswith("azure-native:")]
