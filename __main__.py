"""Redundant AI model serving: read top to bottom, it is the architecture.

settings -> one AWS provider per region -> per region a network and a model fleet
-> per region a failover model proxy -> monitoring (alarms, "region degraded", dashboards) -> exports
"""

import pulumi
import pulumi_aws as aws

from components import settings as settings_module
from components.fleet import ModelFleet, ModelFleetArgs
from components.model_proxy import ModelProxy, ModelProxyArgs, ordered_upstreams
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

# 4. Model proxy per region: the failover router as a Lambda function, trying regions in the topology's order.
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
                upstreams=ordered_upstreams(region.name, settings.topology, settings.primary_region, endpoints, plain_http_regions),
                settings=settings.proxy,
                vpc_id=networks[region.name].vpc_id,
                subnet_ids=list(networks[region.name].private_subnet_ids.values()),
            ),
            opts=pulumi.ResourceOptions(provider=providers[region.name]),
        )

# 5. Monitoring: per region, alarms on what it runs, one "region degraded" alarm and a dashboard.
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

# 6. Exports: every regional endpoint, so clients can fail over on their own too, and the alarm that says when to.
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
