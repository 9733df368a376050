"""Redundant AI model serving: read top to bottom, it is the architecture.

settings -> one AWS provider per region -> per region a network and a model fleet
-> azure (Azure OpenAI per location, API Management pool, Front Door)
-> per region a failover model proxy (its region first, then the others, then Azure)
-> monitoring (alarms, "region degraded", dashboards) -> exports
"""

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

from components import settings as settings_module
from components.azure_monitoring import AzureMonitoring, AzureMonitoringArgs
from components.azure_names import global_name_prefix
from components.azure_openai import AzureOpenAI, AzureOpenAIArgs
from components.fleet import ModelFleet, ModelFleetArgs
from components.front_door import FrontDoor, FrontDoorArgs, GatewayOrigin
from components.model_gateway import ModelGateway, ModelGatewayArgs
from components.model_proxy import AZURE_KEY_ENV, ModelProxy, ModelProxyArgs, ordered_upstreams
from components.monitoring import AutoscalingWatch, FunctionWatch, RegionMonitoring, RegionMonitoringArgs, TargetGroupWatch
from components.network import Network, NetworkArgs, discover_availability_zones

# 1. Settings: read and validated once, before any resource is declared.
settings = settings_module.load_settings(pulumi.Config(), pulumi.get_stack())

# 2. One explicit provider per region: nothing is ever created in an ambient default region.
providers = {
    region.name: aws.Provider(
        f"aws-{region.name}",
        region=region.name,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={"project": settings.project, "stack": settings.stack, "environment": settings.environment}
        ),
    )
    for region in settings.regions
}

# 3. Per region: network across its availability zones, then the model fleet in it.
networks: dict[str, Network] = {}
fleets: dict[str, ModelFleet] = {}
for region in settings.regions:
    in_region = pulumi.ResourceOptions(provider=providers[region.name])
    zones = settings_module.region_availability_zones(
        settings, region, lambda provider=providers[region.name]: discover_availability_zones(provider)
    )
    networks[region.name] = Network(
        f"network-{region.name}",
        NetworkArgs(
            cidr_block=region.vpc_cidr,
            availability_zones=zones,
            layout=settings.subnet_layout,
            nat_strategy=settings.nat_strategy,
        ),
        opts=in_region,
    )
    network = networks[region.name]
    internal = settings.fleet.load_balancer_scheme == "internal"
    fleets[region.name] = ModelFleet(
        f"fleet-{region.name}",
        ModelFleetArgs(
            vpc_id=network.vpc_id,
            load_balancer_subnet_ids=list((network.private_subnet_ids if internal else network.public_subnet_ids).values()),
            instance_subnet_ids=list(network.private_subnet_ids.values()),
            settings=settings.fleet,
            capacity=settings.fleet.capacity,
            certificate_arn=region.certificate_arn,
            deletion_protection=settings.deletion_protection,
        ),
        opts=in_region,
    )

# 4. Azure: Azure OpenAI in each location, one API Management pool over them, Front Door as the global entry.
azure = settings.azure
if azure.enabled:
    azure_provider = azure_native.Provider("azure", location=azure.primary_location)
    on_azure = pulumi.ResourceOptions(provider=azure_provider)
    azure_tags = {"project": settings.project, "stack": settings.stack, "environment": settings.environment}
    # One resource group per stack: the tier lives and dies with the stack.
    azure_group = azure_native.resources.ResourceGroup(
        f"azure-{azure.primary_location}",
        resource_group_name=f"{settings.project}-{settings.stack}",
        location=azure.primary_location,
        tags=azure_tags,
        opts=on_azure,
    )
    azure_subscription_id = azure_native.authorization.get_client_config_output(
        opts=pulumi.InvokeOutputOptions(provider=azure_provider)
    ).subscription_id
    # Account subdomains and the gateway host are global DNS names: unique per subscription and stack.
    azure_names = azure_subscription_id.apply(lambda subscription: global_name_prefix(settings.project, settings.stack, subscription))
    openai = AzureOpenAI(
        "openai",
        AzureOpenAIArgs(
            resource_group_name=azure_group.name,
            locations=azure.locations,
            name_prefix=azure_names,
            deployments=azure.deployments,
            public_network_access=azure.public_network_access,
            tags=azure_tags,
        ),
        opts=on_azure,
    )
    shares = azure.traffic_shares(settings.topology)
    gateway = ModelGateway(
        "gateway",
        ModelGatewayArgs(
            resource_group_name=azure_group.name,
            service_name=azure_names,
            subscription_id=azure_subscription_id,
            openai_account_ids={location: account.id for location, account in openai.accounts.items()},
            openai_endpoints=openai.endpoints,
            shares=shares,
            settings=azure,
            tags=azure_tags,
        ),
        opts=on_azure,
    )
    front_door = FrontDoor(
        "frontdoor",
        FrontDoorArgs(
            resource_group_name=azure_group.name,
            sku=azure.front_door_sku,
            origins={location: GatewayOrigin(host_name=host, share=shares[location]) for location, host in gateway.gateway_hosts.items()},
            origin_response_timeout_seconds=azure.origin_response_timeout_seconds,
            probe_interval_seconds=azure.probe_interval_seconds,
            tags=azure_tags,
        ),
        opts=on_azure,
    )

# 5. Model proxy per region: the failover router as a Lambda function, trying regions in the topology's order
#    and, when the stack has an Azure tier, Front Door in front of API Management as the last resort.
endpoints = {name: fleet.endpoint for name, fleet in fleets.items()}
plain_http_regions = frozenset(region.name for region in settings.regions if region.certificate_arn is None)
proxies: dict[str, ModelProxy] = {}
if settings.proxy.enabled:
    for region in settings.regions:
        proxies[region.name] = ModelProxy(
            f"proxy-{region.name}",
            ModelProxyArgs(
                region=region.name,
                topology=settings.topology,
                upstreams=ordered_upstreams(
                    region.name,
                    settings.topology,
                    settings.primary_region,
                    endpoints,
                    plain_http_regions,
                    azure_gateway_url=pulumi.Output.concat("https://", front_door.hostname, "/openai") if azure.enabled else None,
                ),
                settings=settings.proxy,
                vpc_id=networks[region.name].vpc_id,
                subnet_ids=list(networks[region.name].private_subnet_ids.values()),
                secret_environment={AZURE_KEY_ENV: gateway.subscription_key} if azure.enabled else {},
            ),
            opts=pulumi.ResourceOptions(provider=providers[region.name]),
        )

# 6. Monitoring: per region, alarms on what it runs, one "region degraded" alarm and a dashboard.
monitors: dict[str, RegionMonitoring] = {}
for region_name, fleet in fleets.items():
    monitors[region_name] = RegionMonitoring(
        f"monitoring-{region_name}",
        RegionMonitoringArgs(
            region=region_name,
            name_prefix=f"{settings.project}-{settings.stack}-{region_name}",
            settings=settings.monitoring,
            target_groups={
                "fleet": TargetGroupWatch(fleet.load_balancer.arn_suffix, fleet.target_group.arn_suffix, settings.monitoring.healthy_host_floor)
            },
            autoscaling_groups={"fleet": AutoscalingWatch(fleet.autoscaling_group.name, settings.fleet.capacity.min_size)},
            functions={"proxy": FunctionWatch(proxies[region_name].function.name)} if region_name in proxies else {},
        ),
        opts=pulumi.ResourceOptions(provider=providers[region_name]),
    )

if azure.enabled:
    azure_monitoring = AzureMonitoring(
        "azure-monitoring",
        AzureMonitoringArgs(
            resource_group_name=azure_group.name,
            location=azure.primary_location,
            settings=settings.monitoring,
            api_management_id=gateway.service.id,
            front_door_profile_id=front_door.profile.id,
            openai_account_ids={location: account.id for location, account in openai.accounts.items()},
        ),
        opts=on_azure,
    )

# 7. Exports: every regional endpoint, so clients can fail over on their own too, and the alarm that says when to.
pulumi.export("topology", settings.topology)
pulumi.export("primaryRegion", settings.primary_region)
pulumi.export(
    "regions",
    {
        name: {
            "endpoint": fleet.endpoint,
            "healthUrl": fleet.health_url,
            "vpcId": networks[name].vpc_id,
            **({"proxyUrl": proxies[name].url} if name in proxies else {}),
            "degradedAlarmArn": monitors[name].degraded_alarm.arn,
            "alertTopicArn": monitors[name].topic.arn,
        }
        for name, fleet in fleets.items()
    },
)
if azure.enabled:
    pulumi.export("azure", {"frontDoorHostname": front_door.hostname, "gatewayUrl": gateway.gateway_url})
    # Stored encrypted in the state; read it with `pulumi stack output azureSubscriptionKey --show-secrets`.
    pulumi.export("azureSubscriptionKey", gateway.subscription_key)
