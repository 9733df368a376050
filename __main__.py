"""Redundant AI model serving: read top to bottom, it is the architecture.

settings -> one AWS provider per region -> per region a network and a model fleet, sized by its role
-> the replicated database -> global routing -> exports
"""

import re

import pulumi
import pulumi_aws as aws

from components import settings as settings_module
from components import topology
from components.database import DatabaseRegion, ReplicatedDatabase, ReplicatedDatabaseArgs
from components.fleet import ModelFleet, ModelFleetArgs
from components.network import Network, NetworkArgs, discover_availability_zones
from components.routing import GlobalRouting, GlobalRoutingArgs, RegionalEndpoint

GLOBAL_REGION = "us-east-1"  # where Route 53 is managed and publishes its health check metrics

# 1. Settings: read and validated once, before any resource is declared.
settings = settings_module.load_settings(pulumi.Config(), pulumi.get_stack())
default_tags = aws.ProviderDefaultTagsArgs(tags={"project": settings.project, "stack": settings.stack, "environment": settings.environment})

# 2. One explicit provider per region: nothing is ever created in an ambient default region.
providers = {
    region.name: aws.Provider(f"aws-{region.name}", region=region.name, default_tags=default_tags) for region in settings.regions
}

# 3. Per region: network across its availability zones, then the model fleet in it, sized by the region's role.
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
            capacity=topology.region_capacity(settings, region.name),
            certificate_arn=region.certificate_arn,
            deletion_protection=settings.deletion_protection,
        ),
        opts=in_region,
    )

# 4. The model registry and configuration store: primary in the primary region, a read replica in every other.
database = ReplicatedDatabase(
    "database",
    ReplicatedDatabaseArgs(
        identifier_prefix=re.sub(r"[^a-z0-9]+", "-", f"{settings.project}-{settings.stack}".lower()).strip("-"),
        primary_region=settings.primary_region,
        regions={
            name: DatabaseRegion(
                provider=providers[name],
                vpc_id=networks[name].vpc_id,
                isolated_subnet_ids=list(networks[name].isolated_subnet_ids.values()),
                client_security_group_ids={"fleet": fleets[name].instance_security_group.id},
            )
            for name in settings.region_names
        },
        settings=settings.multi_region.database,
        deletion_protection=settings.deletion_protection,
    ),
)

# 5. Global routing: one DNS name over the regions' load balancers, when the stack has a domain.
routing_settings = settings.multi_region.routing
routing = None
if routing_settings.domain_name and routing_settings.hosted_zone_id:
    global_provider = providers.get(GLOBAL_REGION) or aws.Provider("aws-global", region=GLOBAL_REGION, default_tags=default_tags)
    routing = GlobalRouting(
        "routing",
        GlobalRoutingArgs(
            domain_name=routing_settings.domain_name,
            hosted_zone_id=routing_settings.hosted_zone_id,
            topology=settings.topology,
            primary_region=settings.primary_region,
            secondary_region=next(iter(topology.standby_regions(settings)), None),
            endpoints={
                name: RegionalEndpoint(
                    load_balancer_dns_name=fleet.load_balancer.dns_name,
                    load_balancer_zone_id=fleet.load_balancer.zone_id,
                    https=fleet.has_tls,
                )
                for name, fleet in fleets.items()
            },
            health_check_path=settings.fleet.health_check.path,
            health_check_interval=routing_settings.health_check_interval,
            failure_threshold=routing_settings.failure_threshold,
        ),
        opts=pulumi.ResourceOptions(provider=global_provider),
    )


# 6. Exports: every regional endpoint, so clients can fail over on their own too, and what the failover runbook reads.
def capacity_output(capacity: settings_module.Capacity) -> dict[str, int]:
    return {"min": capacity.min_size, "max": capacity.max_size, "desired": capacity.desired}


pulumi.export("topology", settings.topology)
pulumi.export("primaryRegion", settings.primary_region)
pulumi.export(
    "regions",
    {
        name: {
            "endpoint": fleet.endpoint,
            "healthUrl": fleet.health_url,
            "vpcId": networks[name].vpc_id,
            "role": topology.region_role(settings, name),
            "autoscalingGroupName": fleet.autoscaling_group.name,
            "targetGroupArn": fleet.target_group.arn,
            "fullCapacity": capacity_output(settings.fleet.capacity),
            "database": {
                "endpoint": database.instances[name].endpoint,
                "role": database.roles[name],
                "identifier": database.instances[name].identifier,
                "arn": database.instances[name].arn,
            },
        }
        for name, fleet in fleets.items()
    },
)
if routing is not None:
    pulumi.export("globalDnsName", routing.dns_name)
    pulumi.export("hostedZoneId", routing_settings.hosted_zone_id)
    pulumi.export("dnsRecordName", routing.dns_name)
