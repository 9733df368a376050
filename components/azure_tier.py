"""AzureTier: the stack's Azure side, as one component: Azure OpenAI behind API Management and Front Door.

The stack's resource group; an Azure OpenAI account per location; one API Management pool over
them; Front Door as the global entry and the only way in (GatewayLock); and their logs and alerts.
Every part goes through the Azure provider passed once in this component's options.

These parts were declared at the top level of the stack before the tier was a component; each
keeps that identity through an alias to it (``MOVED_INTO_TIER``), and their children inherit it
(pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases). tests/test_records.py
checks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native

from components.azure_monitoring import AzureMonitoring, AzureMonitoringArgs, GatewayService
from components.azure_names import global_name_prefix
from components.azure_openai import AzureOpenAI, AzureOpenAIArgs
from components.front_door import FrontDoor, FrontDoorArgs, GatewayOrigin
from components.gateway_lock import GatewayLock, GatewayLockArgs
from components.model_gateway import API_PATH, ModelGateway, ModelGatewayArgs
from components.settings import Settings

TYPE = "ha-model-serving:azure:AzureTier"
# Where the tier's parts were before: directly under the stack.
MOVED_INTO_TIER = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


@dataclass(frozen=True)
class AzureEntry:
    """How a model proxy reaches the Azure tier: Front Door's URL for the API and the subscription key to send."""

    url: pulumi.Output[str]
    subscription_key: pulumi.Output[str]


@dataclass(frozen=True)
class AzureTierArgs:
    """The stack's settings; the tier reads `settings.azure` and the stack-wide names, topology and recipients."""

    settings: Settings  # the stack's settings: its Azure settings, topology, names, tags and alert recipients


class AzureTier(pulumi.ComponentResource):
    """Resource group, Azure OpenAI accounts, API Management pool, Front Door, gateway lock, monitoring.

    Exposes `entry` (what the model proxies use as their last resort), `front_door_hostname`,
    `gateway_url` and `subscription_key` (a secret).
    """

    def __init__(self, name: str, args: AzureTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        settings = args.settings
        azure = settings.azure
        moved = pulumi.ResourceOptions(parent=self, aliases=[MOVED_INTO_TIER])

        # One resource group per stack: the tier lives and dies with the stack.
        self.group = azure_native.resources.ResourceGroup(
            "azure",
            resource_group_name=settings.name_prefix,
            location=azure.primary_location,
            tags=settings.tags,
            # A group's location only says where its metadata lives, and cannot change (pulumi-azure-native
            # replaces the group, whose name stays: refused while it exists). Another azurePrimaryLocation
            # moves what is in the group; the group stays where it was created.
            # Stacks whose group was declared as azure-<location> keep it through the second alias.
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=["location"],
                aliases=[MOVED_INTO_TIER, pulumi.Alias(name=f"azure-{azure.primary_location}", parent=pulumi.ROOT_STACK_RESOURCE)],
            ),
        )
        subscription_id = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self)).subscription_id
        # Account subdomains and the gateway host are global DNS names that outlive a deletion: each component
        # completes this prefix with a suffix drawn per incarnation (components/azure_names.py).
        names = global_name_prefix(settings.project, settings.stack)
        self.openai = AzureOpenAI(
            "openai",
            AzureOpenAIArgs(
                resource_group_name=self.group.name,
                locations=azure.locations,
                name_prefix=names,
                deployments=azure.deployments,
                public_network_access=azure.public_network_access,
                tags=settings.tags,
            ),
            opts=moved,
        )
        account_ids = {location: account.id for location, account in self.openai.accounts.items()}
        shares = azure.traffic_shares(settings.topology)
        self.gateway = ModelGateway(
            "gateway",
            ModelGatewayArgs(
                resource_group_name=self.group.name,
                service_name_prefix=names,
                subscription_id=subscription_id,
                openai_account_ids=account_ids,
                openai_endpoints=self.openai.endpoints,
                shares=shares,
                settings=azure,
                tags=settings.tags,
            ),
            opts=moved,
        )
        self.front_door = FrontDoor(
            "frontdoor",
            FrontDoorArgs(
                resource_group_name=self.group.name,
                sku=azure.front_door_sku,
                origins={location: GatewayOrigin(host_name=host, share=shares[location]) for location, host in self.gateway.gateway_hosts.items()},
                origin_response_timeout_seconds=azure.origin_response_timeout_seconds,
                probe_interval_seconds=azure.probe_interval_seconds,
                tags=settings.tags,
            ),
            opts=moved,
        )
        # Front Door is the only way in: the gateway refuses requests that did not come through it.
        GatewayLock(
            "gateway-lock",
            GatewayLockArgs(resource_group_name=self.group.name, service_name=self.gateway.service.name, front_door_id=self.front_door.profile.front_door_id),
            opts=moved,
        )
        self.monitoring = AzureMonitoring(
            "azure-monitoring",
            AzureMonitoringArgs(
                resource_group_name=self.group.name,
                location=azure.primary_location,
                settings=settings.monitoring,
                api_management=GatewayService(resource_group_name=self.group.name, name=self.gateway.service.name, id=self.gateway.service.id),
                front_door_profile_id=self.front_door.profile.id,
                openai_account_ids=account_ids,
            ),
            opts=moved,
        )
        self.front_door_hostname = self.front_door.hostname
        self.gateway_url = self.gateway.gateway_url
        self.subscription_key = self.gateway.subscription_key
        self.entry = AzureEntry(url=pulumi.Output.concat("https://", self.front_door_hostname, "/", API_PATH), subscription_key=self.subscription_key)
        self.register_outputs({"front_door_hostname": self.front_door_hostname, "gateway_url": self.gateway_url})
