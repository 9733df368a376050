"""The topology a stack program declares, rebuilt from its recorded resources.

Everything here comes from the resources the program declares (`offline.Declared`):
regions from providers, zones from subnets, tiers from what sits in them. Resources
other parts of the program may add (databases, Route 53, Lambda, Azure) are read
when present and simply absent otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from offline import Declared

SUBNET = "aws:ec2/subnet:Subnet"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
ELASTIC_IP = "aws:ec2/eip:Eip"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
VPC = "aws:ec2/vpc:Vpc"
DB_INSTANCE = "aws:rds/instance:Instance"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
DNS_RECORD = "aws:route53/record:Record"
HOSTED_ZONE = "aws:route53/zone:Zone"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
OPENAI_ACCOUNT = "azure-native:cognitiveservices:Account"
OPENAI_DEPLOYMENT = "azure-native:cognitiveservices:Deployment"
API_GATEWAY = "azure-native:apimanagement:ApiManagementService"
FRONT_DOOR = "azure-native:cdn:Profile"
FRONT_DOOR_ORIGIN = "azure-native:cdn:AFDOrigin"

TIERS = ("public", "private", "isolated")
_ELB_HOST = re.compile(r"\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.elb\.amazonaws\.com")


@dataclass(frozen=True)
class LoadBalancer:
    """An application load balancer: its name, whether it is internal, and the zones it spans."""

    name: str
    internal: bool
    zones: tuple[str, ...]


@dataclass(frozen=True)
class Fleet:
    """An autoscaling group of model servers and what its launch template and target group say."""

    name: str
    instance_type: str
    min_size: int
    max_size: int
    desired: int
    zones: tuple[str, ...]
    root_volume_gib: int
    health_check_grace_period: int
    target_interval: int
    target_healthy_threshold: int

    def per_zone(self) -> dict[str, int]:
        """Instances per zone at desired capacity: the group balances them across its zones."""
        base, extra = divmod(self.desired, len(self.zones)) if self.zones else (0, 0)
        return {zone: base + (1 if index < extra else 0) for index, zone in enumerate(self.zones)}


@dataclass(frozen=True)
class Database:
    """An RDS instance: class, Multi-AZ, storage in GiB, and the source it replicates (None for a primary)."""

    name: str
    instance_class: str
    multi_az: bool
    storage_gib: int
    # The source of a replica (an identifier or ARN); None for a primary.
    replicate_source: str | None

    @property
    def is_replica(self) -> bool:
        """Whether the instance replicates another."""
        return self.replicate_source is not None

    @property
    def role(self) -> str:
        """`replica` or `primary`."""
        return "replica" if self.is_replica else "primary"

    @property
    def zones_label(self) -> str:
        """`Multi-AZ` or `Single-AZ`."""
        return "Multi-AZ" if self.multi_az else "Single-AZ"

    @property
    def label(self) -> str:
        """How every part of the report names it: availability path, cost table and diagrams."""
        return f"RDS {self.role} {self.instance_class} {self.zones_label}"


@dataclass(frozen=True)
class Function:
    """A Lambda function: memory in MB, timeout in seconds, architecture."""

    name: str
    memory_mb: int
    timeout_seconds: int
    architecture: str


@dataclass(frozen=True)
class Region:
    """Everything one AWS region declares that the report shows: network, load balancers, fleets, databases, functions."""

    name: str
    cidr: str | None
    zones: tuple[str, ...]
    nat_zones: tuple[str, ...]
    public_ips: int
    load_balancers: tuple[LoadBalancer, ...]
    fleets: tuple[Fleet, ...]
    databases: tuple[Database, ...]
    functions: tuple[Function, ...]

    @property
    def desired_instances(self) -> int:
        """Model servers the region runs at desired capacity, across its fleets."""
        return sum(fleet.desired for fleet in self.fleets)


@dataclass(frozen=True)
class HealthCheck:
    """A Route 53 health check: what it checks, the region it belongs to, interval in seconds and failure threshold (None: the API default)."""

    name: str
    kind: str
    target_region: str | None
    interval_seconds: int | None
    failure_threshold: int | None
    measure_latency: bool


@dataclass(frozen=True)
class DnsRecord:
    """A Route 53 record: its routing policy, the region it points to, TTL in seconds (None for an alias), and whether it is health-checked."""

    name: str
    policy: str  # failover-primary, failover-secondary, latency, weighted or simple
    target_region: str | None
    ttl_seconds: int | None  # None for alias records, which take the target's TTL
    health_checked: bool


@dataclass(frozen=True)
class GlobalRouting:
    """The stack's Route 53 resources: hosted zones, health checks, records."""

    hosted_zones: int
    health_checks: tuple[HealthCheck, ...]
    records: tuple[DnsRecord, ...]

    @property
    def declared(self) -> bool:
        """Whether the stack declares any health check or record."""
        return bool(self.health_checks or self.records)


@dataclass(frozen=True)
class ApiGateway:
    """An API Management service: SKU, scale units, primary location and additional gateway locations."""

    name: str
    sku: str
    capacity: int
    location: str
    additional_locations: tuple[str, ...]


@dataclass(frozen=True)
class OpenAiDeployment:
    """A model deployment on an Azure OpenAI account: its SKU and capacity (thousands of tokens per minute)."""

    name: str
    sku: str
    capacity: int


@dataclass(frozen=True)
class OpenAiAccount:
    """An Azure OpenAI account: its location and deployments."""

    name: str
    location: str
    deployments: tuple[OpenAiDeployment, ...]


@dataclass(frozen=True)
class FrontDoor:
    """A Front Door profile: its SKU and how many origins it routes to."""

    name: str
    sku: str
    origins: int


@dataclass(frozen=True)
class AzureTier:
    """The stack's Azure resources the report shows: Front Door profiles, API Management services, Azure OpenAI accounts."""

    front_doors: tuple[FrontDoor, ...]
    gateways: tuple[ApiGateway, ...]
    accounts: tuple[OpenAiAccount, ...]

    @property
    def declared(self) -> bool:
        """Whether the stack declares any Azure resource the report shows."""
        return bool(self.front_doors or self.gateways or self.accounts)


@dataclass(frozen=True)
class ReplicaLagAlarm:
    """A CloudWatch alarm on a read replica's lag: its name and threshold in seconds."""

    name: str
    threshold_seconds: float


@dataclass(frozen=True)
class Topology:
    """What a stack declares, as the report reads it back from an offline run (model.build)."""

    stack: str
    mode: str  # active-active or active-passive
    primary_region: str
    regions: tuple[Region, ...]
    routing: GlobalRouting
    azure: AzureTier
    replica_lag_alarms: tuple[ReplicaLagAlarm, ...]
    # The stack's stated recovery time objective (its rtoSeconds output), when it states one.
    stated_rto_seconds: int | None = None

    def region(self, name: str) -> Region:
        """The region called `name`; StopIteration when the stack has none."""
        return next(region for region in self.regions if region.name == name)

    def role(self, region: str) -> str:
        """The role of `region`: `active` in active-active, else `primary` or `standby`."""
        if self.mode == "active-active":
            return "active"
        return "primary" if region == self.primary_region else "standby"


def build(stack: str, resources: list[Declared], outputs: dict[str, Any]) -> Topology:
    """The topology of one stack run; `outputs` gives the declared topology mode, primary region and stated RTO."""
    primary = str(outputs.get("primaryRegion") or _first_region(resources))
    return Topology(
        stack=stack,
        mode=str(outputs.get("topology", "active-passive")),
        primary_region=primary,
        regions=tuple(_region(name, resources) for name in _region_names(resources, primary)),
        routing=_routing(resources),
        azure=_azure(resources),
        replica_lag_alarms=tuple(
            ReplicaLagAlarm(r.name, float(r["threshold"]))
            for r in _of(resources, METRIC_ALARM)
            if r.get("metricName") == "ReplicaLag" and r.get("threshold") is not None
        ),
        stated_rto_seconds=int(outputs["rtoSeconds"]) if outputs.get("rtoSeconds") is not None else None,
    )


def _of(resources: Iterable[Declared], token: str, region: str | None = None) -> list[Declared]:
    return [r for r in resources if r.type == token and (region is None or region_of(r) == region)]


def region_of(resource: Declared) -> str | None:
    """A resource's AWS region: its own `region` input (provider v7 allows one) or its provider's."""
    return resource.get("region") or resource.region


def _region_names(resources: list[Declared], primary: str | None = None) -> list[str]:
    """Regions of the AWS providers: the primary first, then by name (registration order varies between runs)."""
    names = sorted({r["region"] for r in resources if r.type == "pulumi:providers:aws" and r.get("region")})
    return sorted(names, key=lambda name: name != primary)


def _first_region(resources: list[Declared]) -> str:
    names = _region_names(resources)
    if not names:
        raise ValueError("the program declares no AWS provider, so there is no region to report on")
    return names[0]


def _int(value: Any, default: int = 0) -> int:
    # Numbers cross the Pulumi wire as floats; strings come from fields typed as strings.
    return default if value is None else int(float(value))


def _region(name: str, resources: list[Declared]) -> Region:
    primary_storage = _primary_storage(resources)
    subnets = _of(resources, SUBNET, name)
    zone_of_subnet = {subnet.id: subnet["availabilityZone"] for subnet in subnets}
    zones = tuple(sorted({subnet["availabilityZone"] for subnet in subnets}))
    vpcs = _of(resources, VPC, name)
    return Region(
        name=name,
        cidr=vpcs[0].get("cidrBlock") if len(vpcs) == 1 else None,
        zones=zones,
        nat_zones=tuple(sorted(zone_of_subnet[nat["subnetId"]] for nat in _of(resources, NAT_GATEWAY, name) if nat.get("subnetId") in zone_of_subnet)),
        public_ips=len(_of(resources, ELASTIC_IP, name)),
        load_balancers=tuple(
            LoadBalancer(
                name=lb.name,
                internal=bool(lb.get("internal", False)),
                zones=tuple(sorted(zone_of_subnet[s] for s in lb.get("subnets", []) if s in zone_of_subnet)),
            )
            for lb in sorted(_of(resources, LOAD_BALANCER, name), key=lambda r: r.name)
        ),
        fleets=tuple(_fleet(group, resources, zone_of_subnet) for group in sorted(_of(resources, AUTOSCALING_GROUP, name), key=lambda r: r.name)),
        databases=tuple(_database(db, primary_storage) for db in sorted(_of(resources, DB_INSTANCE, name), key=lambda r: r.name)),
        functions=tuple(
            Function(
                name=fn.name,
                memory_mb=_int(fn.get("memorySize"), 128),
                timeout_seconds=_int(fn.get("timeout"), 3),
                architecture=(fn.get("architectures") or ["x86_64"])[0],
            )
            for fn in sorted(_of(resources, LAMBDA_FUNCTION, name), key=lambda r: r.name)
        ),
    )


def _fleet(group: Declared, resources: list[Declared], zone_of_subnet: dict[str, str]) -> Fleet:
    template_id = (group.get("launchTemplate") or {}).get("id")
    templates = [r for r in _of(resources, LAUNCH_TEMPLATE) if r.id == template_id]
    if len(templates) != 1:
        raise ValueError(f"autoscaling group {group.name} names launch template {template_id!r}, which the program does not declare")
    template = templates[0]
    root_volume = sum(_int((mapping.get("ebs") or {}).get("volumeSize")) for mapping in template.get("blockDeviceMappings", []))
    target_groups = [r for r in _of(resources, TARGET_GROUP) if r.state.get("arn") in group.get("targetGroupArns", [])]
    check = (target_groups[0].get("healthCheck") or {}) if target_groups else {}
    desired = group.get("desiredCapacity", group.get("minSize"))
    return Fleet(
        name=group.name,
        instance_type=template["instanceType"],
        min_size=_int(group.get("minSize")),
        max_size=_int(group.get("maxSize")),
        desired=_int(desired),
        zones=tuple(sorted(zone_of_subnet[s] for s in group.get("vpcZoneIdentifiers", []) if s in zone_of_subnet)),
        root_volume_gib=root_volume,
        health_check_grace_period=_int(group.get("healthCheckGracePeriod"), 300),
        # Elastic Load Balancing's defaults when the target group leaves them out.
        target_interval=_int(check.get("interval"), 30),
        target_healthy_threshold=_int(check.get("healthyThreshold"), 5),
    )


def _primary_storage(resources: list[Declared]) -> int:
    return max((_int(db.get("allocatedStorage")) for db in _of(resources, DB_INSTANCE) if not db.get("replicateSourceDb")), default=0)


def _database(db: Declared, primary_storage: int) -> Database:
    source = db.get("replicateSourceDb")
    return Database(
        name=db.name,
        instance_class=db["instanceClass"],
        multi_az=bool(db.get("multiAz", False)),
        # A replica that leaves its storage out gets its source's size.
        storage_gib=_int(db.get("allocatedStorage")) or (primary_storage if source else 0),
        replicate_source=str(source) if source else None,
    )


def _routing(resources: list[Declared]) -> GlobalRouting:
    return GlobalRouting(
        hosted_zones=len(_of(resources, HOSTED_ZONE)),
        health_checks=tuple(
            HealthCheck(
                name=check.name,
                kind=str(check.get("type", "HTTP")),
                target_region=_elb_region(check.get("fqdn")) or region_of(check),
                interval_seconds=_int(check["requestInterval"]) if check.get("requestInterval") is not None else None,
                failure_threshold=_int(check["failureThreshold"]) if check.get("failureThreshold") is not None else None,
                measure_latency=bool(check.get("measureLatency", False)),
            )
            for check in sorted(_of(resources, HEALTH_CHECK), key=lambda r: r.name)
        ),
        records=tuple(_record(record) for record in sorted(_of(resources, DNS_RECORD), key=lambda r: r.name)),
    )


def _elb_region(host: Any) -> str | None:
    match = _ELB_HOST.search(str(host or ""))
    return match.group(1) if match else None


def _record(record: Declared) -> DnsRecord:
    failover = record.get("failoverRoutingPolicies") or []
    latency = record.get("latencyRoutingPolicies") or []
    if failover:
        policy = "failover-" + str(failover[0].get("type", "PRIMARY")).lower()
    elif latency:
        policy = "latency"
    elif record.get("weightedRoutingPolicies"):
        policy = "weighted"
    else:
        policy = "simple"
    aliases = record.get("aliases") or []
    target = _elb_region(aliases[0].get("name")) if aliases else None
    if latency and latency[0].get("region"):
        target = latency[0]["region"]
    return DnsRecord(
        name=record.name,
        policy=policy,
        target_region=target or _elb_region(" ".join(map(str, record.get("records") or []))),
        ttl_seconds=None if aliases else _int(record.get("ttl"), 300),
        health_checked=bool(record.get("healthCheckId")) or any(alias.get("evaluateTargetHealth") for alias in aliases),
    )


def _azure(resources: list[Declared]) -> AzureTier:
    profiles = sorted(_of(resources, FRONT_DOOR), key=lambda r: r.name)
    origins = _of(resources, FRONT_DOOR_ORIGIN)
    deployments = _of(resources, OPENAI_DEPLOYMENT)
    accounts = sorted(_of(resources, OPENAI_ACCOUNT), key=lambda r: r.name)
    return AzureTier(
        front_doors=tuple(
            FrontDoor(
                name=profile.name,
                sku=str((profile.get("sku") or {}).get("name", "")),
                origins=sum(1 for origin in origins if _belongs_to(origin, profile, "profileName")),
            )
            for profile in profiles
        ),
        gateways=tuple(
            ApiGateway(
                name=service.name,
                sku=str((service.get("sku") or {}).get("name", "")),
                capacity=_int((service.get("sku") or {}).get("capacity"), 1),
                location=str(service.get("location") or "azure"),
                additional_locations=tuple(str(extra.get("location")) for extra in service.get("additionalLocations") or []),
            )
            for service in sorted(_of(resources, API_GATEWAY), key=lambda r: r.name)
        ),
        accounts=tuple(
            OpenAiAccount(
                name=account.name,
                location=str(account.get("location") or "azure"),
                deployments=tuple(
                    OpenAiDeployment(
                        name=deployment.name,
                        sku=str((deployment.get("sku") or {}).get("name", "Standard")),
                        capacity=_int((deployment.get("sku") or {}).get("capacity"), 1),
                    )
                    for deployment in sorted(deployments, key=lambda r: r.name)
                    if _belongs_to(deployment, account, "accountName")
                ),
            )
            for account in accounts
        ),
    )


def _belongs_to(child: Declared, owner: Declared, key: str) -> bool:
    """A child names its owner by the owner's resource name (an output of it) or is declared under it."""
    return child.get(key) in (owner.state.get("name"), owner.get(key), owner.id) or child.parent_urn == owner.urn
