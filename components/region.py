"""Region: everything the stack runs in one AWS region, as one component.

A region is composed in three steps, because each step needs what exists only once the step
before it has run in every region, and the parts the regions share sit in between:

1. ``Region(name, RegionArgs, opts)``: the network across the region's zones and the model fleet,
   sized by the region's role. What the shared parts need from it is exposed: the database its
   VPC, isolated subnets and the servers' security group (``database_placement``), Route 53 its
   load balancer (``routing_endpoint``), and everyone its load balancer's ``endpoint``.
2. ``serve(RegionServiceArgs)``, once the database, routing and the Azure tier exist: the model
   proxy, which tries every region's public endpoint in the topology's order (a region's name
   under the domain exists once routing does) and then Azure's entry, and the alarms on what the
   region runs, its database and its proxy included.
3. ``drill(peers)``, once every region has served: the relay mirroring the other regions'
   "region degraded" alarms (they exist only now) and the fault-injection templates they stop.

The components a region composes were declared at the top level of the stack before regions
were components; each keeps that identity through an alias (``MOVED_INTO_REGION``), so a stack
deployed then updates in place instead of replacing every resource of the region
(pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases, "Wrapping resources
in a component"). Their children inherit it from them. tests/test_records.py checks both stacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components import topology
from components.alarm_relay import AlarmRelay, AlarmRelayArgs
from components.alarms import AutoscalingWatch, DatabaseWatch, FunctionWatch, TargetGroupWatch
from components.azure_tier import AzureEntry
from components.database import PRIMARY, DatabaseRegion, RegionalDatabase
from components.drills import FailoverDrills, FailoverDrillsArgs, RegionDrillPlan
from components.fleet import ModelFleet, ModelFleetArgs
from components.model_proxy import AZURE_KEY_ENV, ModelProxy, ModelProxyArgs, ordered_upstreams
from components.monitoring import RegionMonitoring, RegionMonitoringArgs
from components.network import Network, NetworkArgs
from components.routing import RegionalEndpoint
from components.settings import RegionSettings, Settings
from proxy_package import ProxyPackage

TYPE = "ha-model-serving:aws:Region"
# Where the components of a region were before: directly under the stack.
MOVED_INTO_REGION = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


@dataclass(frozen=True)
class RegionArgs:
    """What a region needs to declare its network and fleet: the stack's settings, its own, and its zones."""

    settings: Settings  # the stack's settings: what every region shares
    region: RegionSettings  # this region's own: its VPC block and certificate
    # Settled for every region before any region is declared: a pinned zone one region lacks stops the program first.
    availability_zones: tuple[str, ...]


@dataclass(frozen=True)
class RegionServiceArgs:
    """What a region needs to serve once every region exists: endpoints, its database, the proxy package, Azure."""

    # Every region's public endpoint (its name under the domain, else its load balancer), in the stack's region order.
    endpoints: Mapping[str, pulumi.Input[str]]
    database: RegionalDatabase  # this region's instance of the replicated database
    proxy_package: ProxyPackage | None  # the built Lambda package; None when the stack runs no proxy
    azure: AzureEntry | None = None  # the last resort after every region, when the stack has an Azure tier


class Region(pulumi.ComponentResource):
    """One AWS region's network, model fleet, model proxy, alarms, alarm relay and failover drills.

    `name` is the region's name (us-east-1); its components are named `<part>-<region>`. The region's
    provider comes in `opts` and reaches every child through its parent. Raises ValueError without one.

    After `__init__`: `network`, `fleet`, `endpoint` (the load balancer's URL), `routing_endpoint`,
    `database_placement`. After `serve`: `proxy` (None without one), `monitoring`, `degraded_alarm`,
    `stack_output()`. After `drill`: `relay` and `drills` (None when not declared), `drill_scenarios()`.
    """

    def __init__(self, name: str, args: RegionArgs, opts: pulumi.ResourceOptions | None = None):
        if opts is None or not isinstance(opts.provider, aws.Provider):
            raise ValueError(f"region {name}: pass its AWS provider in opts, so nothing is created in an ambient default region")
        super().__init__(TYPE, name, None, opts)
        settings = self.settings = args.settings
        self.region_name = name
        self.name_prefix = f"{settings.name_prefix}-{name}"
        moved = pulumi.ResourceOptions(parent=self, aliases=[MOVED_INTO_REGION])

        self.network = Network(
            f"network-{name}",
            NetworkArgs(
                cidr_block=args.region.vpc_cidr,
                availability_zones=args.availability_zones,
                layout=settings.subnet_layout,
                nat_strategy=settings.nat_strategy,
            ),
            opts=moved,
        )
        internal = settings.fleet.load_balancer_scheme == "internal"
        self.fleet = ModelFleet(
            f"fleet-{name}",
            ModelFleetArgs(
                vpc_id=self.network.vpc_id,
                load_balancer_subnet_ids=list((self.network.private_subnet_ids if internal else self.network.public_subnet_ids).values()),
                instance_subnet_ids=list(self.network.private_subnet_ids.values()),
                settings=settings.fleet,
                capacity=topology.region_capacity(settings, name),
                certificate_arn=args.region.certificate_arn,
                deletion_protection=settings.deletion_protection,
                instance_tags=settings.tags,
            ),
            opts=moved,
        )
        self.endpoint = self.fleet.endpoint
        self.routing_endpoint = RegionalEndpoint(
            load_balancer_dns_name=self.fleet.load_balancer.dns_name, load_balancer_zone_id=self.fleet.load_balancer.zone_id, https=self.fleet.has_tls
        )
        # Only the model servers reach the database; the proxy never talks to it, so it is not admitted.
        self.database_placement = DatabaseRegion(
            provider=opts.provider,
            vpc_id=self.network.vpc_id,
            isolated_subnet_ids=list(self.network.isolated_subnet_ids.values()),
            client_security_group_ids={"fleet": self.fleet.instance_security_group.id},
        )
        self.proxy: ModelProxy | None = None
        self.monitoring: RegionMonitoring | None = None
        self.relay: AlarmRelay | None = None
        self.drills: FailoverDrills | None = None

    def serve(self, args: RegionServiceArgs) -> None:
        """Step 2: the model proxy (when the stack runs one) and the region's alarms. Raises RuntimeError the second time."""
        if self.monitoring is not None:
            raise RuntimeError(f"region {self.region_name} already serves")
        settings, name = self.settings, self.region_name
        self.database = args.database
        self.public_endpoint = args.endpoints[name]
        moved = pulumi.ResourceOptions(parent=self, aliases=[MOVED_INTO_REGION])
        if args.proxy_package is not None:
            plain_http = frozenset(region.name for region in settings.regions if region.certificate_arn is None)
            self.proxy = ModelProxy(
                f"proxy-{name}",
                ModelProxyArgs(
                    region=name,
                    topology=settings.topology,
                    upstreams=ordered_upstreams(
                        name, settings.topology, settings.primary_region, args.endpoints, plain_http, azure_gateway_url=args.azure.url if args.azure else None
                    ),
                    settings=settings.proxy,
                    package=args.proxy_package,
                    vpc_id=self.network.vpc_id,
                    subnet_ids=list(self.network.private_subnet_ids.values()),
                    parking_security_group_id=self.network.default_security_group_id,
                    secret_environment={AZURE_KEY_ENV: args.azure.subscription_key} if args.azure else {},
                ),
                opts=moved,
            )
        capacity = self.fleet.capacity
        self.monitoring = RegionMonitoring(
            f"monitoring-{name}",
            RegionMonitoringArgs(
                region=name,
                name_prefix=self.name_prefix,
                settings=settings.monitoring,
                target_groups={
                    "fleet": TargetGroupWatch(
                        self.fleet.load_balancer.arn_suffix,
                        self.fleet.target_group.arn_suffix,
                        # A standby is watched against its own size: pilot light has no servers until promoted.
                        min(settings.monitoring.healthy_host_floor, capacity.min_size),
                    )
                },
                autoscaling_groups={"fleet": AutoscalingWatch(self.fleet.autoscaling_group.name, capacity.min_size)},
                databases={"database": DatabaseWatch(args.database.instance.identifier, args.database.role)},
                functions={"proxy": FunctionWatch(self.proxy.function.name)} if self.proxy else {},
            ),
            opts=moved,
        )
        self.degraded_alarm = self.monitoring.degraded_alarm

    def drill(self, peers: Mapping[str, Region]) -> None:
        """Step 3, once every region serves: the alarm relay (with peers) and the drill templates, when drills are on.

        peers: every other region of the stack, by name, each already serving. Ends the region's composition
        (register_outputs). Raises RuntimeError when this region does not serve yet.
        """
        if self.monitoring is None:
            raise RuntimeError(f"region {self.region_name}: drills stop on its alarms, so it must serve first")
        settings, name = self.settings, self.region_name
        moved = pulumi.ResourceOptions(parent=self, aliases=[MOVED_INTO_REGION])
        if settings.drills.enabled:
            if peers:
                self.relay = AlarmRelay(
                    f"alarm-relay-{name}",
                    AlarmRelayArgs(
                        region=name,
                        name_prefix=self.name_prefix,
                        metric_namespace=f"{settings.name_prefix}/PeerRegions",
                        own_alarm_arn=self.degraded_alarm.arn,
                        peer_alarm_arns={peer: region.degraded_alarm.arn for peer, region in peers.items()},
                        log_retention_days=settings.drills.log_retention_days,
                    ),
                    opts=moved,
                )
            runs_servers = self.fleet.capacity.desired > 0
            # The primary is always Multi-AZ; replicas are when dbReplicaMultiAz says so.
            multi_az_database = self.database.role == PRIMARY or settings.multi_region.database.replica_multi_az
            self.drills = FailoverDrills(
                f"drills-{name}",
                FailoverDrillsArgs(
                    plan=RegionDrillPlan(
                        region=name,
                        zones=tuple(self.network.private_subnet_ids),
                        stack_tags=settings.tags,
                        fault_minutes=settings.drills.fault_minutes,
                        runs_servers=runs_servers,
                        multi_az_database=multi_az_database,
                        has_peers=self.relay is not None,
                    ),
                    name_prefix=self.name_prefix,
                    settings=settings.drills,
                    autoscaling_group_name=self.fleet.autoscaling_group.name if runs_servers else None,
                    database_identifier=self.database.instance.identifier if multi_az_database else None,
                    own_alarm_arn=self.degraded_alarm.arn,
                    peer_alarm_arns={peer: alarm.arn for peer, alarm in self.relay.mirrors.items()} if self.relay else {},
                ),
                opts=moved,
            )
        self.register_outputs({"endpoint": self.public_endpoint, "degraded_alarm_arn": self.degraded_alarm.arn})

    def stack_output(self) -> dict[str, Any]:
        """What the stack exports for this region, once it serves: what clients, ops.failover and ops.drill read."""
        settings, fleet, instance = self.settings, self.fleet, self.database.instance
        full = settings.fleet.capacity
        return {
            "endpoint": self.public_endpoint,
            "healthUrl": pulumi.Output.concat(self.public_endpoint, settings.fleet.health_check.path),
            "loadBalancerDnsName": fleet.load_balancer.dns_name,
            "vpcId": self.network.vpc_id,
            "role": topology.region_role(settings, self.region_name),
            "autoscalingGroupName": fleet.autoscaling_group.name,
            "targetGroupArn": fleet.target_group.arn,
            "fullCapacity": {"min": full.min_size, "max": full.max_size, "desired": full.desired},
            "database": {
                "endpoint": instance.endpoint,
                "role": self.database.role,
                "identifier": instance.identifier,
                "arn": instance.arn,
                # The master credential's secret: same name in every region, so the promoted region reads its own replica.
                "secretName": self.database.secret_name,
            },
            **({"proxyUrl": self.proxy.url} if self.proxy else {}),
            "degradedAlarmArn": self.degraded_alarm.arn,
            "alertTopicArn": self.monitoring.topic.arn,
        }

    def drill_scenarios(self) -> dict[str, dict[str, Any]]:
        """Each drill scenario of the region, by key: its template, stop conditions and log group (what ops.drill reads)."""
        if self.drills is None:
            return {}
        drills = self.drills
        return {
            scenario.key: {
                "region": self.region_name,
                "kind": scenario.kind,
                "summary": scenario.summary,
                "templateId": drills.templates[scenario.key].id,
                "stopAlarmArns": drills.stop_alarm_arns[scenario.key],
                "logGroup": drills.log_group.name,
            }
            for scenario in drills.scenarios
        }
