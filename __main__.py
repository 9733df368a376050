"""Redundant AI model serving: read top to bottom, it is the architecture.

settings -> one AWS provider per region -> per region a network and a model fleet, sized by its role
-> the replicated database -> global routing -> azure (Azure OpenAI per location, API Management pool,
Front Door) -> per region a failover model proxy (the topology's order, then Azure)
-> monitoring (alarms, "region degraded", dashboards) -> failover drills (fault-injection templates) -> exports
"""

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native

import proxy_package
from components import settings as settings_module
from components import topology
from components.azure_monitoring import AzureMonitoring, AzureMonitoringArgs, GatewayService
from components.azure_names import global_name_prefix, stack_slug
from components.azure_openai import AzureOpenAI, AzureOpenAIArgs
from components.alarm_relay import AlarmRelay, AlarmRelayArgs
from components.database import PRIMARY, DatabaseRegion, ReplicatedDatabase, ReplicatedDatabaseArgs
from components.drills import FailoverDrills, FailoverDrillsArgs, RegionDrillPlan
from components.fleet import ModelFleet, ModelFleetArgs
from components.front_door import FrontDoor, FrontDoorArgs, GatewayOrigin
from components.gateway_lock import GatewayLock, GatewayLockArgs
from components.model_gateway import API_PATH, ModelGateway, ModelGatewayArgs
from components.model_proxy import AZURE_KEY_ENV, ModelProxy, ModelProxyArgs, ordered_upstreams
from components.monitoring import HEALTH_CHECK_METRICS_REGION as GLOBAL_REGION  # Route 53 is managed from there too
from components.alarms import AutoscalingWatch, DatabaseWatch, FunctionWatch, TargetGroupWatch
from components.monitoring import HealthCheckMonitoring, HealthCheckMonitoringArgs, RegionMonitoring, RegionMonitoringArgs
from components.network import Network, NetworkArgs, discover_availability_zones
from components.routing import GlobalRouting, GlobalRoutingArgs, RegionalEndpoint


# 1. Settings: read and validated once, before any resource is declared; so is the proxy's Lambda package
#    (built by `venv/bin/python -m proxy_package`), refused when missing or older than its sources.
settings = settings_module.load_settings(pulumi.Config(), pulumi.get_stack())
proxy_code = proxy_package.load() if settings.proxy.enabled else None
stack_tags = {"project": settings.project, "stack": settings.stack, "environment": settings.environment}
default_tags = aws.ProviderDefaultTagsArgs(tags=stack_tags)

# 2. One explicit provider per region: nothing is ever created in an ambient default region.
providers = {
    region.name: aws.Provider(f"aws-{region.name}", region=region.name, default_tags=default_tags) for region in settings.regions
}

# 3. Per region: network across its availability zones, then the model fleet in it, sized by the region's role.
#    Every region's zones are settled first: a pinned zone a region lacks stops the program before any region's resources.
zones = {
    region.name: settings_module.region_availability_zones(
        settings, region, lambda available_only, provider=providers[region.name]: discover_availability_zones(provider, available_only)
    )
    for region in settings.regions
}

networks: dict[str, Network] = {}
fleets: dict[str, ModelFleet] = {}
for region in settings.regions:
    in_region = pulumi.ResourceOptions(provider=providers[region.name])
    networks[region.name] = Network(
        f"network-{region.name}",
        NetworkArgs(
            cidr_block=region.vpc_cidr,
            availability_zones=zones[region.name],
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
            instance_tags=stack_tags,
        ),
        opts=in_region,
    )

# 4. The model registry and configuration store: primary in the primary region, a read replica in every other.
#    Only the model servers reach it; the proxy never talks to the database, so it is not admitted.
database = ReplicatedDatabase(
    "database",
    ReplicatedDatabaseArgs(
        identifier_prefix=stack_slug(settings.project, settings.stack),
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

# 5. Global routing: one DNS name over the regions' load balancers, and one name per region, when the stack has a domain.
routing_settings = settings.multi_region.routing
routing = None
if routing_settings.domain_name:  # settings guarantee a hosted zone with it
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

# Each region's public endpoint: its own name under the domain (what its certificate covers), else the load balancer.
endpoints: dict[str, pulumi.Input[str]] = {
    name: (f"https://{routing.regional_names[name]}" if routing is not None and fleet.has_tls else fleet.endpoint)
    for name, fleet in fleets.items()
}

# 6. Azure: Azure OpenAI in each location, one API Management pool over them, Front Door as the global entry.
azure = settings.azure
if azure.enabled:
    azure_provider = azure_native.Provider("azure", location=azure.primary_location)
    on_azure = pulumi.ResourceOptions(provider=azure_provider)
    azure_tags = stack_tags
    # One resource group per stack: the tier lives and dies with the stack.
    azure_group = azure_native.resources.ResourceGroup(
        "azure",
        resource_group_name=f"{settings.project}-{settings.stack}",
        location=azure.primary_location,
        tags=azure_tags,
        # A group's location only says where its metadata lives, and cannot change (pulumi-azure-native
        # replaces the group, whose name stays: refused while it exists). Another azurePrimaryLocation
        # moves what is in the group; the group stays where it was created.
        # Stacks whose group was declared as azure-<location> keep it through the alias.
        opts=pulumi.ResourceOptions(
            provider=azure_provider, ignore_changes=["location"], aliases=[pulumi.Alias(name=f"azure-{azure.primary_location}")]
        ),
    )
    azure_subscription_id = azure_native.authorization.get_client_config_output(
        opts=pulumi.InvokeOutputOptions(provider=azure_provider)
    ).subscription_id
    # Account subdomains and the gateway host are global DNS names that outlive a deletion: each component
    # completes this prefix with a suffix drawn per incarnation (components/azure_names.py).
    azure_names = global_name_prefix(settings.project, settings.stack)
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
            service_name_prefix=azure_names,
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
    # Front Door is the only way in: the gateway refuses requests that did not come through it.
    GatewayLock(
        "gateway-lock",
        GatewayLockArgs(resource_group_name=azure_group.name, service_name=gateway.service.name, front_door_id=front_door.profile.front_door_id),
        opts=on_azure,
    )

# 7. Model proxy per region: the failover router as a Lambda function, trying regions in the topology's order
#    and, when the stack has an Azure tier, Front Door in front of API Management as the last resort.
plain_http_regions = frozenset(name for name, fleet in fleets.items() if not fleet.has_tls)
azure_gateway_url = pulumi.Output.concat("https://", front_door.hostname, "/", API_PATH) if azure.enabled else None
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
                    azure_gateway_url=azure_gateway_url,
                ),
                settings=settings.proxy,
                package=proxy_code,
                vpc_id=networks[region.name].vpc_id,
                subnet_ids=list(networks[region.name].private_subnet_ids.values()),
                parking_security_group_id=networks[region.name].default_security_group_id,
                secret_environment={AZURE_KEY_ENV: gateway.subscription_key} if azure.enabled else {},
            ),
            opts=pulumi.ResourceOptions(provider=providers[region.name]),
        )

# 8. Monitoring: per region, alarms on what it runs, one "region degraded" alarm and a dashboard;
#    Route 53 health checks from us-east-1, where their metrics live; Azure diagnostics and alerts.
monitors: dict[str, RegionMonitoring] = {}
for region_name, fleet in fleets.items():
    capacity = fleet.capacity
    monitors[region_name] = RegionMonitoring(
        f"monitoring-{region_name}",
        RegionMonitoringArgs(
            region=region_name,
            name_prefix=f"{settings.project}-{settings.stack}-{region_name}",
            settings=settings.monitoring,
            target_groups={
                "fleet": TargetGroupWatch(
                    fleet.load_balancer.arn_suffix,
                    fleet.target_group.arn_suffix,
                    # A standby is watched against its own size: pilot light has no servers until promoted.
                    min(settings.monitoring.healthy_host_floor, capacity.min_size),
                )
            },
            autoscaling_groups={"fleet": AutoscalingWatch(fleet.autoscaling_group.name, capacity.min_size)},
            databases={"database": DatabaseWatch(database.instances[region_name].identifier, database.roles[region_name])},
            functions={"proxy": FunctionWatch(proxies[region_name].function.name)} if region_name in proxies else {},
        ),
        opts=pulumi.ResourceOptions(provider=providers[region_name]),
    )

if routing is not None:
    HealthCheckMonitoring(
        "monitoring-dns",
        HealthCheckMonitoringArgs(
            name_prefix=f"{settings.project}-{settings.stack}",
            settings=settings.monitoring,
            health_checks={region: check.id for region, check in routing.health_checks.items()},
        ),
        opts=pulumi.ResourceOptions(provider=global_provider),
    )

if azure.enabled:
    AzureMonitoring(
        "azure-monitoring",
        AzureMonitoringArgs(
            resource_group_name=azure_group.name,
            location=azure.primary_location,
            settings=settings.monitoring,
            api_management=GatewayService(resource_group_name=azure_group.name, name=gateway.service.name, id=gateway.service.id),
            front_door_profile_id=front_door.profile.id,
            openai_account_ids={location: account.id for location, account in openai.accounts.items()},
        ),
        opts=on_azure,
    )


# 9. Failover drills: per region, AWS FIS experiment templates for the failures the topology claims to survive,
#    stopped by the alarms that mean "stop now". An alarm lives in one region, so each region first mirrors the
#    other regions' region-degraded alarms (AlarmRelay) for its templates to stop on.
drills: dict[str, FailoverDrills] = {}
if settings.drills.enabled:
    relays: dict[str, AlarmRelay] = {}
    if len(settings.regions) > 1:
        for region_name in settings.region_names:
            relays[region_name] = AlarmRelay(
                f"alarm-relay-{region_name}",
                AlarmRelayArgs(
                    region=region_name,
                    name_prefix=f"{settings.project}-{settings.stack}-{region_name}",
                    metric_namespace=f"{settings.project}-{settings.stack}/PeerRegions",
                    own_alarm_arn=monitors[region_name].degraded_alarm.arn,
                    peer_alarm_arns={peer: monitors[peer].degraded_alarm.arn for peer in settings.region_names if peer != region_name},
                    log_retention_days=settings.drills.log_retention_days,
                ),
                opts=pulumi.ResourceOptions(provider=providers[region_name]),
            )
    for region_name, fleet in fleets.items():
        runs_servers = fleet.capacity.desired > 0
        # The primary is always Multi-AZ; replicas are when dbReplicaMultiAz says so.
        multi_az_database = database.roles[region_name] == PRIMARY or settings.multi_region.database.replica_multi_az
        drills[region_name] = FailoverDrills(
            f"drills-{region_name}",
            FailoverDrillsArgs(
                plan=RegionDrillPlan(
                    region=region_name,
                    zones=tuple(networks[region_name].private_subnet_ids),
                    stack_tags=stack_tags,
                    fault_minutes=settings.drills.fault_minutes,
                    runs_servers=runs_servers,
                    multi_az_database=multi_az_database,
                    has_peers=region_name in relays,
                ),
                name_prefix=f"{settings.project}-{settings.stack}-{region_name}",
                settings=settings.drills,
                autoscaling_group_name=fleet.autoscaling_group.name if runs_servers else None,
                database_identifier=database.instances[region_name].identifier if multi_az_database else None,
                own_alarm_arn=monitors[region_name].degraded_alarm.arn,
                peer_alarm_arns={peer: alarm.arn for peer, alarm in relays[region_name].mirrors.items()} if region_name in relays else {},
            ),
            opts=pulumi.ResourceOptions(provider=providers[region_name]),
        )

# What `python -m ops.drill` reads: each scenario's template and stop conditions, and what recovery is judged against.
pulumi.export("environment", settings.environment)
pulumi.export("rtoSeconds", settings.drills.rto_seconds)
pulumi.export(
    "drills",
    {
        "faultMinutes": settings.drills.fault_minutes,
        "scenarios": {
            scenario.key: {
                "region": region_name,
                "kind": scenario.kind,
                "summary": scenario.summary,
                "templateId": region_drills.templates[scenario.key].id,
                "stopAlarmArns": region_drills.stop_alarm_arns[scenario.key],
                "logGroup": region_drills.log_group.name,
            }
            for region_name, region_drills in drills.items()
            for scenario in region_drills.scenarios
        },
    },
)


# 10. Exports: every regional endpoint, so clients can fail over on their own too, what the failover runbook
#    reads, and the alarm that says when to run it.
def capacity_output(capacity: settings_module.Capacity) -> dict[str, int]:
    return {"min": capacity.min_size, "max": capacity.max_size, "desired": capacity.desired}


pulumi.export("topology", settings.topology)
pulumi.export("primaryRegion", settings.primary_region)
pulumi.export(
    "regions",
    {
        name: {
            "endpoint": endpoints[name],
            "healthUrl": pulumi.Output.concat(endpoints[name], settings.fleet.health_check.path),
            "loadBalancerDnsName": fleet.load_balancer.dns_name,
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
                # The master credential's secret: same name in every region, so the promoted region reads its own replica.
                "secretName": database.credentials.secret_name,
            },
            **({"proxyUrl": proxies[name].url} if name in proxies else {}),
            "degradedAlarmArn": monitors[name].degraded_alarm.arn,
            "alertTopicArn": monitors[name].topic.arn,
        }
        for name, fleet in fleets.items()
    },
)
if routing is not None:
    pulumi.export("globalDnsName", routing.dns_name)
    pulumi.export("hostedZoneId", routing_settings.hosted_zone_id)
if azure.enabled:
    pulumi.export("azure", {"frontDoorHostname": front_door.hostname, "gatewayUrl": gateway.gateway_url})
    # Stored encrypted in the state; read it with `pulumi stack output azureSubscriptionKey --show-secrets`.
    pulumi.export("azureSubscriptionKey", gateway.subscription_key)
