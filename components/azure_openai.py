"""AzureOpenAI: one Azure OpenAI account per location, each with the same model deployments.

An account's name is also its custom subdomain (<name>.openai.azure.com), which Entra ID tokens
need. Both outlive a deleted account for 48 hours (soft delete), so each account's name ends in a
suffix new per incarnation (components/azure_names.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_azure_native as azure_native
import pulumi_random as random

from components.azure_names import incarnation_name, name_suffix
from components.settings import OpenAiDeployment

TYPE = "ha-model-serving:azure:AzureOpenAI"


@dataclass(frozen=True)
class AzureOpenAIArgs:
    """The Azure OpenAI accounts to declare: one per location, each with every deployment.

    public_network_access: Enabled or Disabled (settings check it); tags: on every account.
    """

    resource_group_name: pulumi.Input[str]
    locations: tuple[str, ...]
    # Start of each account's name and subdomain (global_name_prefix); the location and a suffix drawn
    # per incarnation complete it: <prefix>-<location>-<suffix>.
    name_prefix: str
    deployments: tuple[OpenAiDeployment, ...]
    public_network_access: str
    tags: Mapping[str, str]


class AzureOpenAI(pulumi.ComponentResource):
    """Keyless Azure OpenAI accounts (Entra ID only) with their deployments, one account per location."""

    def __init__(self, name: str, args: AzureOpenAIArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.accounts: dict[str, azure_native.cognitiveservices.Account] = {}
        self.deployments: dict[str, list[azure_native.cognitiveservices.Deployment]] = {}
        self.name_suffixes: dict[str, random.RandomString] = {}
        for location in args.locations:
            # An account cannot move: a new location is a new account, with a name of its own.
            suffix = name_suffix(f"{name}-{location}", {"location": location}, pulumi.ResourceOptions(parent=self))
            self.name_suffixes[location] = suffix
            account_name = incarnation_name(args.name_prefix, suffix, location)
            account = azure_native.cognitiveservices.Account(
                f"{name}-{location}",
                account_name=account_name,
                resource_group_name=args.resource_group_name,
                location=location,
                kind="OpenAI",
                sku=azure_native.cognitiveservices.SkuArgs(name="S0"),
                properties=azure_native.cognitiveservices.AccountPropertiesArgs(
                    # Entra ID tokens need the account's own subdomain; with local auth off, no key works.
                    custom_sub_domain_name=account_name,
                    disable_local_auth=True,
                    public_network_access=args.public_network_access,
                ),
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.accounts[location] = account
            self.deployments[location] = self._deployments(f"{name}-{location}", account, args)

        self.endpoints: dict[str, pulumi.Output[str]] = {
            location: account.properties.apply(lambda properties: properties.endpoint) for location, account in self.accounts.items()
        }
        self.register_outputs({"endpoints": self.endpoints})

    def _deployments(
        self, name: str, account: azure_native.cognitiveservices.Account, args: AzureOpenAIArgs
    ) -> list[azure_native.cognitiveservices.Deployment]:
        # Azure rejects concurrent deployment changes on one account: each waits for the previous one.
        created: list[azure_native.cognitiveservices.Deployment] = []
        for deployment in args.deployments:
            created.append(
                azure_native.cognitiveservices.Deployment(
                    f"{name}-{deployment.name}",
                    account_name=account.name,
                    resource_group_name=args.resource_group_name,
                    deployment_name=deployment.name,
                    sku=azure_native.cognitiveservices.SkuArgs(name=deployment.sku, capacity=deployment.capacity),
                    properties=azure_native.cognitiveservices.DeploymentPropertiesArgs(
                        model=azure_native.cognitiveservices.DeploymentModelArgs(
                            format="OpenAI", name=deployment.model, version=deployment.version
                        ),
                        # The pinned version serves until Azure retires it; then upgraded rather than switched off.
                        version_upgrade_option="OnceCurrentVersionExpired",
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=created[-1:]),
                )
            )
        return created
