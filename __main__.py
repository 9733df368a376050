"""Redundant AI model serving: read top to bottom, it is the architecture.

settings -> providers -> regions (network and model fleet each) -> the replicated database -> global routing
-> the Azure tier -> each region serves (model proxy, alarms) -> failover drills -> exports
"""

from functools import partial

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

import proxy_package
from components import settings as settings_module
from components import topology
from components.azure_tier import AzureTier, AzureTierArgs
from components.database import ReplicatedDatabase, ReplicatedDatabaseArgs
from components.monitoring import HEALTH_CHECK_METRICS_REGION as GLOBAL_REGION  # Route 53 is managed from there too
from components.monitoring import HealthCheckMonitoring, HealthCheckMonitoringArgs
from components.network import discover_availability_zones
from components.region import Region, RegionArgs, RegionServiceArgs
from components.routing import GlobalRouting, GlobalRoutingArgs

# 1. Settings: read and validated once, before any resource is declared; so is the proxy's Lambda package
#    (built by `venv/bin/python -m proxy_package`), refused when missing or older than its sources.
settings = settings_module.load_settings(pulumi.Config(), pulumi.get_stack())
proxy_code = proxy_package.load() if settings.proxy.enabled else None

# 2. Providers: one per AWS region, nothing is ever created in an ambient default region; Route 53 through
#    us-east-1; Azure in its primary location.
default_tags = aws.ProviderDefaultTagsArgs(tags=settings.tags)
providers = {name: aws.Provider(f"aws-{name}", region=name, default_tags=default_tags) for name in settings.region_names}
routing_settings = settings.multi_region.routing
global_provider = (
    (providers.get(GLOBAL_REGION) or aws.Provider("aws-global", region=GLOBAL_REGION, default_tags=default_tags)) if routing_settings.domain_name else None
)
azure_provider = azure_native.Provider("azure", location=settings.azure.primary_location) if settings.azure.enabled else None

# 3. Regions: each its network across its availability zones and its model fleet, sized by the region's role
#    (components/region.py). Every region's zones are settled first: a pinned zone a region lacks stops the
#    program before any region's resources.
zones = {
    region.name: settings_module.region_availability_zones(
        settings, region, partial(discover_availability_zones, providers[region.name]), warn=pulumi.log.warn
    )
    for region in settings.regions
}
regions = {
    region.name: Region(region.name, RegionArgs(settings, region, zones[region.name]), opts=pulumi.ResourceOptions(provider=providers[region.name]))
    for region in settings.regions
}

# 4. The model registry and configuration store: primary in the primary region, a read replica in every other.
database = ReplicatedDatabase(
    "database",
    ReplicatedDatabaseArgs(
        identifier_prefix=settings.slug,
        primary_region=settings.primary_region,
        regions={name: region.database_placement for name, region in regions.items()},
        settings=settings.multi_region.database,
        deletion_protection=settings.deletion_protection,
    ),
)

# 5. Global routing, when the stack has a domain: one DNS name over the regions' load balancers, one name per
#    region, and alarms on the health checks (from us-east-1, where their metrics live).
routing = None
if routing_settings.domain_name:  # settings guarantee a hosted zone with it
    routing = GlobalRouting(
        "routing",
        GlobalRoutingArgs(
            domain_name=routing_settings.domain_name,
            hosted_zone_id=routing_settings.hosted_zone_id,
            topology=settings.topology,
            primary_region=settings.primary_region,
            secondary_region=next(iter(topology.standby_regions(settings)), None),
            endpoints={name: region.routing_endpoint for name, region in regions.items()},
            health_check_path=settings.fleet.health_check.path,
            health_check_interval=routing_settings.health_check_interval,
            failure_threshold=routing_settings.failure_threshold,
        ),
        opts=pulumi.ResourceOptions(provider=global_provider),
    )
    HealthCheckMonitoring(
        "monitoring-dns",
        HealthCheckMonitoringArgs(
            name_prefix=settings.name_prefix,
            settings=settings.monitoring,
            health_checks={name: check.id for name, check in routing.health_checks.items()},
        ),
        opts=pulumi.ResourceOptions(provider=global_provider),
    )

# Each region's public endpoint: its own name under the domain (what its certificate covers), else its load balancer.
endpoints = {
    name: f"https://{routing.regional_names[name]}" if routing is not None and region.routing_endpoint.https else region.endpoint
    for name, region in regions.items()
}

# 6. Azure: Azure OpenAI in each location, one API Management pool over them, Front Door as the only way in.
azure = AzureTier("azure-tier", AzureTierArgs(settings), opts=pulumi.ResourceOptions(provider=azure_provider)) if settings.azure.enabled else None

# 7. Each region serves: its model proxy tries the regions in the topology's order, then Azure through Front Door;
#    its alarms watch what it runs and roll up into one "region degraded" alarm.
for name, region in regions.items():
    region.serve(
        RegionServiceArgs(endpoints=endpoints, database=database.in_region(name), proxy_package=proxy_code, azure=azure.entry if azure else None)
    )

# 8. Failover drills: per region, fault-injection templates for the failures the topology claims to survive,
#    stopped by its own "region degraded" alarm and by the other regions' (mirrored into it by an alarm relay).
for name, region in regions.items():
    region.drill(peers={peer: other for peer, other in regions.items() if peer != name})

# 9. Exports: every regional endpoint, so clients can fail over on their own too; what the failover runbook and
#    the drills read (which refuse outputs of another stack); the alarm that says when to fail over.
pulumi.export("stack", settings.stack)
pulumi.export("environment", settings.environment)
pulumi.export("rtoSeconds", settings.drills.rto_seconds)
pulumi.export(
    "drills",
    {"faultMinutes": settings.drills.fault_minutes, "scenarios": {key: s for region in regions.values() for key, s in region.drill_scenarios().items()}},
)
pulumi.export("topology", settings.topology)
pulumi.export("primaryRegion", settings.primary_region)
pulumi.export("regions", {name: region.stack_output() for name, region in regions.items()})
if routing is not None:
    pulumi.export("globalDnsName", routing.dns_name)
    pulumi.export("hostedZoneId", routing_settings.hosted_zone_id)
if azure is not None:
    pulumi.export("azure", {"frontDoorHostname": azure.front_door_hostname, "gatewayUrl": azure.gateway_url})
    # Stored encrypted in the state; read it with `pulumi stack output azureSubscriptionKey --show-secrets`.
    pulumi.export("azureSubscriptionKey", azure.subscription_key)
