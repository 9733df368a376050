"""AzureOpenAI: keyless accounts per location, each with exactly the configured deployments, created one by one."""

from __future__ import annotations

import re

import pulumi
import pulumi_azure_native as azure_native

from azure_stacks import dev as dev_run
from components.azure_openai import AzureOpenAI, AzureOpenAIArgs
from components.settings import OpenAiDeployment

ACCOUNT = "azure-native:cognitiveservices:Account"
DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
DEPLOYMENTS = (
    OpenAiDeployment(name="chat", model="gpt-4o", version="2024-11-20", sku="GlobalStandard", capacity=50),
    OpenAiDeployment(name="mini", model="gpt-4o-mini", version="2024-07-18", sku="Standard", capacity=20),
    OpenAiDeployment(name="embed", model="text-embedding-3-large", version="1", sku="Standard", capacity=10),
)


def openai_program(locations: tuple[str, ...], public_network_access: str = "Enabled"):
    def program():
        provider = azure_native.Provider("azure", location=locations[0])
        AzureOpenAI(
            "openai",
            AzureOpenAIArgs(
                resource_group_name="rg-test",
                locations=locations,
                name_prefix="models-test-abc123",
                deployments=DEPLOYMENTS,
                public_network_access=public_network_access,
                tags={"stack": "test"},
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return program


def test_every_account_is_openai_with_local_auth_disabled_and_its_own_subdomain(prod):
    accounts = prod.of_type(ACCOUNT)
    assert {account["location"] for account in accounts} == {"swedencentral", "eastus2"}
    for account in accounts:
        assert account["kind"] == "OpenAI"
        properties = account["properties"]
        assert properties["disableLocalAuth"] is True, account.name
        assert properties["customSubDomainName"] == account["accountName"]
        assert re.fullmatch(rf"ha-model-serving-prod-{account['location']}-[a-z0-9]{{6}}", account["accountName"]), account["accountName"]
        assert properties["publicNetworkAccess"] == "Enabled"


def test_public_network_access_comes_from_settings(pulumi_mocks):
    run = pulumi_mocks.run(openai_program(("swedencentral",), public_network_access="Disabled"))
    assert run.one(ACCOUNT)["properties"]["publicNetworkAccess"] == "Disabled"


def test_each_account_has_exactly_the_configured_deployments(pulumi_mocks):
    run = pulumi_mocks.run(openai_program(("swedencentral", "eastus2", "westus3")))
    assert sorted(a["location"] for a in run.of_type(ACCOUNT)) == ["eastus2", "swedencentral", "westus3"]
    assert len(run.of_type(DEPLOYMENT)) == 3 * len(DEPLOYMENTS)
    for account in run.of_type(ACCOUNT):
        deployments = [d for d in run.of_type(DEPLOYMENT) if d["accountName"] == account["accountName"]]
        declared = {
            (d["deploymentName"], d["properties"]["model"]["name"], d["properties"]["model"]["version"], d["sku"]["name"], d["sku"]["capacity"])
            for d in deployments
        }
        assert declared == {(d.name, d.model, d.version, d.sku, d.capacity) for d in DEPLOYMENTS}, account.name
        assert all(d.parent_urn == account.parent_urn for d in deployments)


def test_deployments_on_one_account_are_created_one_after_another(pulumi_mocks):
    run = pulumi_mocks.run(openai_program(("swedencentral", "eastus2")))
    for location in ("swedencentral", "eastus2"):
        chain = [run.one(DEPLOYMENT, f"openai-{location}-{d.name}") for d in DEPLOYMENTS]
        deployment_urns = {d.urn for d in run.of_type(DEPLOYMENT)}
        first, *rest = chain
        assert not deployment_urns & set(first.dependencies), "the first deployment waits for no other"
        for previous, deployment in zip(chain, rest):
            # Exactly its predecessor: waiting on another account's deployments would serialise every location.
            assert deployment_urns & set(deployment.dependencies) == {previous.urn}, deployment.name


def test_dev_declares_no_azure_resource():
    dev = dev_run()
    assert not [r.type for r in dev.resources if r.type.startswith(("azure-native:", "ha-model-serving:azure:", "pulumi:providers:azure"))]
    assert "azure" not in dev.outputs and "azureSubscriptionKey" not in dev.outputs


def test_every_azure_resource_but_the_group_belongs_to_an_azure_component_and_the_explicit_provider(prod):
    components = {r.urn for r in prod.resources if r.type.startswith("ha-model-serving:azure:")}
    (provider,) = prod.of_type("pulumi:providers:azure-native")
    for resource in prod.resources:
        if resource.type.startswith("azure-native:"):
            assert resource.provider_urn == provider.urn, f"{resource.name} uses the default provider"
            if resource.type != "azure-native:resources:ResourceGroup":
                assert resource.parent_urn in components, resource.name
