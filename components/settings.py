"""Typed, frozen, validated stack settings: the only reader of pulumi.Config.

Every setting is declared once in ``SCHEMA`` (key, type, default, description).
``Pulumi.yaml`` declares the same keys for the Pulumi CLI and the README lists
them; tests keep all three in step.

Pulumi's project config schema only knows strings, integers, booleans and
arrays, so per-region values are arrays of ``"<region>=<value>"`` entries
(``vpcCidrs: ["us-east-1=10.10.0.0/16"]``): keyed by region, never by position.

A bad value raises ``SettingsError`` naming the key, the value (for a list, the
entry) and what is allowed, before any resource is declared. So does a key of
this project's namespace that ``SCHEMA`` does not declare (a misspelling), a
list entry that repeats another, and a name that the catalog of its kind
(``components/catalogs.py``) does not list, unless ``unlistedNames`` vouches for it.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Mapping

from components import addressing, catalogs
from components.lambda_web_adapter import ARCHITECTURES as PROXY_ARCHITECTURES
from components.lambda_web_adapter import LAYER_REGIONS as PROXY_REGIONS

PROJECT = "ha-model-serving"

TOPOLOGIES = ("active-active", "active-passive")
NAT_STRATEGIES = ("none", "single", "one-per-az")
LOAD_BALANCER_SCHEMES = ("internet-facing", "internal")
ENVIRONMENTS = ("dev", "staging", "prod")
STANDBY_MODES = ("warm-standby", "pilot-light")

# What AWS accepts for an ALB target group (elbv2 CreateTargetGroup limits).
HEALTH_CHECK_INTERVAL = (5, 300)
HEALTH_CHECK_TIMEOUT = (2, 120)
HEALTH_CHECK_THRESHOLD = (2, 10)
SLOW_START = (30, 900)  # or 0 to disable
DEREGISTRATION_DELAY = (0, 3600)
# Retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# A VPC's primary CIDR block must be between /16 and /28.
VPC_PREFIX = (16, 28)
# Azure OpenAI deployment SKUs that serve requests as they come (batch SKUs do not).
OPENAI_DEPLOYMENT_SKUS = (
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
)
PUBLIC_NETWORK_ACCESS = ("Enabled", "Disabled")
# API Management tiers with backend pools and circuit breakers, and the scale units each allows
# (Premium: per location, without a support request).
APIM_CAPACITY = {"Developer": (1, 1), "Basic": (1, 2), "Standard": (1, 4), "Premium": (1, 12), "BasicV2": (1, 10), "StandardV2": (1, 10)}
FRONT_DOOR_SKUS = ("Standard_AzureFrontDoor", "Premium_AzureFrontDoor")
# API Management accepts at most 30 backends in one pool; each Azure location is one of them.
MAX_POOL_MEMBERS = 30
# Weights both accept: API Management pool members 0-100 (BackendPoolItem.weight in the 2024-05-01 API),
# Front Door origins 1-1000; each location's weight feeds both.
AZURE_WEIGHT = (1, 100)
DEFAULT_AZURE_WEIGHT = 1
ORIGIN_RESPONSE_TIMEOUT = (16, 240)
PROBE_INTERVAL = (1, 255)
# What RDS accepts: PostgreSQL storage in GiB, backup retention in days, instance port.
DB_ALLOCATED_STORAGE = (20, 65536)
DB_BACKUP_RETENTION = (1, 35)  # at least 1: RDS creates read replicas only from a source with automated backups
PROD_MIN_BACKUP_RETENTION = 7
DB_PORT = (1150, 65535)
# What Route 53 accepts for a health check.
DNS_HEALTH_CHECK_INTERVALS = (10, 30)
DNS_FAILURE_THRESHOLD = (1, 10)
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# Settings whose names are checked against a catalog (components/catalogs.py); unlistedNames may vouch for newer ones.
CATALOGUED_SETTINGS = ("regions", "instanceType", "dbInstanceClass", "dbReplicaInstanceClass", "sslPolicy", "azureLocations")


# A value a message must not repeat: the value of a key the schema does not declare may be a secret.
UNSHOWN = object()


class SettingsError(ValueError):
    """A stack setting is missing, malformed or inconsistent.

    key: the setting without namespace; value: the bad value, or for a list the bad entry (UNSHOWN: left
    out of the message); allowed: what the setting accepts instead.
    """

    def __init__(self, key: str, value: Any, allowed: str):
        self.key = f"{PROJECT}:{key}"
        self.value = value
        shown = "" if value is UNSHOWN else f" = {value!r}"
        super().__init__(f"invalid setting {self.key}{shown}: {allowed}")


@dataclass(frozen=True)
class Setting:
    key: str
    type: str  # one of Pulumi's project config types: string, integer, boolean, array
    default: Any
    description: str


SCHEMA: tuple[Setting, ...] = (
    Setting("environment", "string", "dev", "Environment name used in tags and production guardrails: dev, staging or prod."),
    Setting("topology", "string", "active-passive", "How regions share traffic: active-active or active-passive."),
    Setting("regions", "array", ["us-east-1", "us-west-2"], "AWS regions of the stack, each gets a network and a model fleet."),
    Setting("primaryRegion", "string", "us-east-1", "Region that holds the primary database and, in active-passive, takes the traffic."),
    Setting("unlistedNames", "array", [], "Real names newer than the catalog their setting is checked against (regions, instanceType, dbInstanceClass, dbReplicaInstanceClass, sslPolicy, azureLocations), as setting=name, e.g. instanceType=p7.48xlarge for a type newer than botocore."),
    Setting("vpcCidrs", "array", ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.0/16"], "One private, non-overlapping VPC CIDR per region, as region=cidr."),
    Setting("availabilityZones", "array", [], "Pinned availability zones per region, as region=az1,az2,...; regions not listed use the first azCount zones the region offers."),
    Setting("azCount", "integer", 3, "Availability zones per region when they are not pinned (at least 2)."),
    Setting("azCidrMask", "integer", 20, "Prefix length of the block reserved for each availability zone; an AZ's block is chosen by its letter, so adding a zone never moves another."),
    Setting("privateSubnetMask", "integer", 21, "Prefix length of each AZ's private (application) subnet."),
    Setting("publicSubnetMask", "integer", 24, "Prefix length of each AZ's public (load balancer, NAT) subnet."),
    Setting("isolatedSubnetMask", "integer", 24, "Prefix length of each AZ's isolated (database) subnet, which has no route to the internet."),
    Setting("natStrategy", "string", "one-per-az", "Outbound internet for private subnets: none, single (one NAT gateway) or one-per-az."),
    Setting("loadBalancerScheme", "string", "internet-facing", "internet-facing (public subnets) or internal (private subnets)."),
    Setting("ingressCidrs", "array", ["0.0.0.0/0"], "IPv4 CIDRs allowed to reach the load balancer on ports 80 and 443."),
    Setting("certificateArns", "array", [], "ACM certificate per region, as region=arn; regions without one serve plain HTTP (dev only)."),
    Setting("sslPolicy", "string", "ELBSecurityPolicy-TLS13-1-2-2021-06", "TLS policy of the HTTPS listener."),
    Setting("instanceType", "string", "g5.xlarge", "EC2 instance type of the model servers."),
    Setting("amiId", "string", "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id", "AMI of the model servers: an ami-... id or resolve:ssm:<public parameter> (an image with Docker)."),
    Setting("rootVolumeSize", "integer", 100, "Encrypted root volume size in GiB (model weights are cached there)."),
    Setting("modelImage", "string", "vllm/vllm-openai:v0.6.4", "Container image of the model server."),
    Setting("modelArgs", "string", "--model Qwen/Qwen2.5-1.5B-Instruct", "Arguments passed to the model server container."),
    Setting("modelPort", "integer", 8000, "Port the model server listens on."),
    Setting("healthCheckPath", "string", "/health", "Path the load balancer probes on each model server."),
    Setting("healthCheckPort", "string", "traffic-port", "Port of the health check: traffic-port or a number."),
    Setting("healthCheckMatcher", "string", "200", "HTTP codes that count as healthy, e.g. 200 or 200-299."),
    Setting("healthCheckInterval", "integer", 15, "Seconds between health checks (5-300)."),
    Setting("healthCheckTimeout", "integer", 5, "Seconds before a health check times out (2-120, less than the interval)."),
    Setting("healthyThreshold", "integer", 2, "Consecutive successes before a target is healthy (2-10)."),
    Setting("unhealthyThreshold", "integer", 3, "Consecutive failures before a target is unhealthy (2-10)."),
    Setting("deregistrationDelay", "integer", 30, "Seconds the load balancer drains a target before removing it (0-3600)."),
    Setting("slowStart", "integer", 60, "Seconds a new target ramps up its share of traffic (0 to disable, or 30-900)."),
    Setting("minSize", "integer", 2, "Minimum model servers per region."),
    Setting("maxSize", "integer", 6, "Maximum model servers per region."),
    Setting("desiredCapacity", "integer", 2, "Model servers per region at deployment (between minSize and maxSize)."),
    Setting("healthCheckGracePeriod", "integer", 600, "Seconds a new instance has to load its model before failed health checks replace it."),
    Setting("instanceRefreshMinHealthyPercentage", "integer", 90, "Share of capacity kept in service during a rolling instance refresh (0-100); groups that could drop to no healthy server (one server, or 0 %) launch replacements first instead (100-110 %)."),
    Setting("requestsPerTarget", "integer", 100, "Target-tracking goal: ALB requests per instance per minute."),
    Setting("deletionProtection", "boolean", True, "Protect load balancers and databases from deletion."),
    # Model proxy: the failover runtime as a Lambda function per region.
    Setting("proxyEnabled", "boolean", True, "Deploy the failover model proxy (Lambda, function URL with IAM auth) in every region."),
    Setting("proxyArchitecture", "string", "arm64", "Instruction set of the proxy's Lambda function: arm64 (Graviton, cheaper per GB-second) or x86_64."),
    Setting("proxyMemorySize", "integer", 512, "Proxy memory in MB (128-10240)."),
    Setting("proxyTimeout", "integer", 120, "Seconds one proxied request may take in total, every attempt included (3-900)."),
    Setting("proxyReservedConcurrency", "integer", 50, "Concurrent executions reserved for the proxy in each region (1-1000), or 0 to share the account's unreserved pool (new accounts, whose limit is too small to reserve from)."),
    Setting("proxyLogRetentionDays", "integer", 30, "Retention of the proxy's log group, in days CloudWatch accepts."),
    Setting("proxyConnectTimeout", "integer", 2, "Seconds to connect to an upstream before failing over (1-30)."),
    Setting("proxyFirstByteTimeout", "integer", 30, "Seconds an upstream has to start answering before the proxy fails over."),
    Setting("proxyBreakerFailureThreshold", "integer", 3, "Consecutive failures that take an upstream out of rotation (1-100)."),
    Setting("proxyBreakerBaseEjection", "integer", 10, "Seconds an upstream stays out after its first ejection; repeated ejections grow it (1-3600)."),
    # Monitoring: who is alerted, and when a metric means a region is in trouble.
    Setting("alertingEnabled", "boolean", False, "Notify alertEmails and alertWebhooks when an alarm changes state; off keeps every alarm but subscribes no one (required in prod)."),
    Setting("alertEmails", "array", [], "E-mail addresses alerted by every alarm (SNS e-mail subscriptions and the Azure action group)."),
    Setting("alertWebhooks", "array", [], "HTTPS URLs alerted by every alarm (SNS https subscriptions and Azure webhook receivers)."),
    Setting("alarmPeriodSeconds", "integer", 60, "Seconds per alarm period: a multiple of 60, the resolution of the watched AWS metrics."),
    Setting("alarmEvaluationPeriods", "integer", 3, "Periods an alarm looks back over (at least 1; all periods together at most one day)."),
    Setting("alarmDatapointsToAlarm", "integer", 2, "Breaching periods, out of alarmEvaluationPeriods, that raise an alarm."),
    Setting("alarmHealthyHostFloor", "integer", 1, "Fewest healthy model servers per target group before the region counts as degraded (1 to minSize)."),
    Setting("alarmTarget5xxPercent", "integer", 5, "Share of requests, in percent, answered 5xx by model servers that raises an alarm (0-100)."),
    Setting("alarmLb5xxPercent", "integer", 5, "Share of requests, in percent, answered 5xx by the load balancer itself that raises an alarm (0-100)."),
    Setting("alarmLatencyP99Seconds", "integer", 30, "p99 model server response time, in seconds, that raises an alarm (1-3600)."),
    Setting("alarmDbCpuPercent", "integer", 80, "Database CPU, in percent, that raises an alarm (0-100)."),
    Setting("alarmDbFreeStorageGiB", "integer", 10, "Free database storage, in GiB, below which an alarm is raised (1-65536)."),
    Setting("alarmReplicaLagSeconds", "integer", 60, "Read replica lag, in seconds, that raises an alarm: the data a failover to that replica would lose (1-86400)."),
    Setting("alarmLambdaErrors", "integer", 5, "Model proxy function errors per period above which an alarm is raised."),
    Setting("alarmLambdaThrottles", "integer", 0, "Model proxy function throttles per period above which an alarm is raised."),
    Setting("alarmLambdaDurationP99Seconds", "integer", 60, "p99 model proxy function duration, in seconds, that raises an alarm (1-900)."),
    Setting("alarmGatewayBackend5xx", "integer", 10, "Azure gateway backend 5xx responses per period above which an alert fires."),
    Setting("alarmGatewayBackend429", "integer", 20, "Azure gateway backend 429 (throttled) responses per period above which an alert fires."),
    Setting("alarmOriginHealthPercent", "integer", 80, "Front Door origin health, in percent, below which an alert fires (0-100)."),
    # Azure tier: Azure OpenAI per location behind an API Management pool, Front Door as the global entry.
    Setting("azureEnabled", "boolean", False, "Deploy the Azure tier: Azure OpenAI per location, API Management in front, Front Door as the global entry."),
    Setting("azureLocations", "array", ["swedencentral", "eastus2"], "Azure locations that each get an Azure OpenAI account (at most 30, one pool member each)."),
    Setting("azurePrimaryLocation", "string", "swedencentral", "Azure location of the resource group and API Management; in active-passive, the one that takes the traffic."),
    Setting("azureOpenAiDeployments", "array", ["gpt-4o=gpt-4o:2024-11-20:GlobalStandard:50"], "Model deployments on every Azure OpenAI account, as name=model:version:sku:capacity (capacity in thousands of tokens per minute)."),
    Setting("azureOpenAiPublicNetworkAccess", "string", "Enabled", "Public network access of the Azure OpenAI accounts: Enabled or Disabled (Disabled needs private endpoints reachable from API Management)."),
    Setting("azureApimSku", "string", "StandardV2", "API Management tier: Developer, Basic, Standard, Premium, BasicV2 or StandardV2 (Consumption has no backend pools or circuit breakers)."),
    Setting("azureApimCapacity", "integer", 1, "API Management scale units (per location for Premium)."),
    Setting("azureApimPublisherName", "string", "ha-model-serving", "Publisher name shown by API Management."),
    Setting("azureApimPublisherEmail", "string", "", "Publisher e-mail that receives API Management notifications (required when azureEnabled)."),
    Setting("azureBreakerFailureCount", "integer", 3, "Failures (429 or 5xx) within azureBreakerInterval that trip an Azure OpenAI backend's circuit breaker (1-1000)."),
    Setting("azureBreakerInterval", "integer", 10, "Seconds over which a backend's failures are counted (1-3600)."),
    Setting("azureBreakerTripDuration", "integer", 10, "Seconds a tripped backend stays out of the pool, unless the backend's Retry-After says otherwise (1-3600)."),
    Setting("azureBackendWeights", "array", [], "Share of traffic per Azure location in active-active, as location=weight (1-100); locations not listed weigh 1."),
    Setting("azureTokensPerMinute", "integer", 10000, "Tokens per minute each API Management subscription may use, across every model."),
    Setting("azureFrontDoorSku", "string", "Standard_AzureFrontDoor", "Front Door tier: Standard_AzureFrontDoor or Premium_AzureFrontDoor."),
    Setting("azureOriginResponseTimeout", "integer", 120, "Seconds Front Door waits for API Management's response (16-240); long generations need more."),
    Setting("azureProbeInterval", "integer", 30, "Seconds between Front Door health probes of each API Management gateway (1-255)."),
    # Multi-region topology: standby sizing, the replicated database and global routing.
    Setting("standby", "string", "", "How active-passive standby regions wait: warm-standby (reduced capacity) or pilot-light (no servers, database replica running); empty means warm-standby. Must stay empty under active-active."),
    Setting("standbyMinSize", "integer", 1, "Minimum model servers in a warm-standby region."),
    Setting("standbyMaxSize", "integer", 2, "Maximum model servers in a warm-standby region."),
    Setting("standbyDesiredCapacity", "integer", 1, "Model servers in a warm-standby region at deployment (between standbyMinSize and standbyMaxSize)."),
    Setting("dbInstanceClass", "string", "db.r6g.large", "RDS instance class of the primary database."),
    Setting("dbReplicaInstanceClass", "string", "", "RDS instance class of the cross-region read replicas; empty means the same as dbInstanceClass."),
    Setting("dbReplicaMultiAz", "boolean", True, "Run each read replica Multi-AZ, so a promoted replica is as redundant as the primary."),
    Setting("dbEngineVersion", "string", "16", "PostgreSQL major version, such as 16; RDS applies minor versions itself, so a minor version is refused. It picks the parameter group family."),
    Setting("dbAllocatedStorage", "integer", 50, "Initial database storage in GiB (20-65536)."),
    Setting("dbMaxAllocatedStorage", "integer", 500, "Storage autoscaling ceiling in GiB, above dbAllocatedStorage; 0 disables autoscaling."),
    Setting("dbBackupRetentionDays", "integer", 7, "Days of automated backups (1-35; at least 7 in prod)."),
    Setting("dbName", "string", "models", "Name of the database holding the model registry and configuration."),
    Setting("dbUsername", "string", "model_admin", "Master user name; its password is generated by the stack and kept in a Secrets Manager secret replicated to every region."),
    Setting("dbPort", "integer", 5432, "Port the database listens on (1150-65535)."),
    Setting("domainName", "string", "", "Global DNS name of the service, such as models.example.com; empty means no Route 53 records."),
    Setting("hostedZoneId", "string", "", "Route 53 hosted zone that holds domainName (required with domainName)."),
    Setting("dnsHealthCheckInterval", "integer", 30, "Seconds between Route 53 health checks of each regional endpoint: 10 or 30."),
    Setting("dnsFailureThreshold", "integer", 3, "Consecutive failed Route 53 health checks before a region is unhealthy (1-10)."),
    # Failover drills: fault-injection experiment templates per region, and the recovery time they are judged against.
    Setting("drillsEnabled", "boolean", True, "Declare the failover drills (AWS FIS experiment templates in every region); they cost nothing until python -m ops.drill runs one."),
    Setting("drillFaultMinutes", "integer", 10, "Minutes each drill's fault lasts before FIS undoes it (1-60)."),
    Setting("drillLogRetentionDays", "integer", 90, "Retention of each region's drill experiment log group, in days CloudWatch accepts."),
    Setting("rtoSeconds", "integer", 900, "Recovery time objective: the most seconds a failure may keep clients from an answer; drills and the report are judged against it (60-86400)."),
)

_SCHEMA_BY_KEY = {setting.key: setting for setting in SCHEMA}


@dataclass(frozen=True)
class HealthCheck:
    path: str
    port: str
    matcher: str
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class Capacity:
    min_size: int
    max_size: int
    desired: int


@dataclass(frozen=True)
class RegionSettings:
    name: str
    vpc_cidr: str
    # None means "ask the region", through its provider, for its first az_count zones.
    availability_zones: tuple[str, ...] | None
    certificate_arn: str | None


@dataclass(frozen=True)
class FleetSettings:
    instance_type: str
    ami_id: str
    root_volume_size: int
    model_image: str
    model_args: str
    model_port: int
    health_check: HealthCheck
    capacity: Capacity
    deregistration_delay: int
    slow_start: int
    health_check_grace_period: int
    instance_refresh_min_healthy_percentage: int
    requests_per_target: int
    load_balancer_scheme: str
    ingress_cidrs: tuple[str, ...]
    ssl_policy: str


@dataclass(frozen=True)
class ProxySettings:
    enabled: bool
    architecture: str  # arm64 or x86_64
    memory_size: int
    timeout: int
    reserved_concurrency: int  # 0: no reservation
    log_retention_days: int
    connect_timeout: int
    first_byte_timeout: int
    breaker_failure_threshold: int
    breaker_base_ejection: int


@dataclass(frozen=True)
class MonitoringSettings:
    alerting_enabled: bool
    alert_emails: tuple[str, ...]
    alert_webhooks: tuple[str, ...]
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    healthy_host_floor: int
    target_5xx_percent: int
    lb_5xx_percent: int
    latency_p99_seconds: int
    db_cpu_percent: int
    db_free_storage_gib: int
    replica_lag_seconds: int
    lambda_errors: int
    lambda_throttles: int
    lambda_duration_p99_seconds: int
    gateway_backend_5xx: int
    gateway_backend_429: int
    origin_health_percent: int

    @property
    def subscribers(self) -> tuple[tuple[str, str], ...]:
        """(protocol, endpoint) of everyone alerted: none while alerting is off."""
        if not self.alerting_enabled:
            return ()
        return tuple(("email", e) for e in self.alert_emails) + tuple(("https", u) for u in self.alert_webhooks)


@dataclass(frozen=True)
class OpenAiDeployment:
    name: str
    model: str
    version: str
    sku: str
    # Thousands of tokens per minute for standard SKUs, provisioned throughput units otherwise.
    capacity: int


@dataclass(frozen=True)
class TrafficShare:
    """How much of the traffic a location gets: lower priority first, then by weight among equals."""

    priority: int
    weight: int


@dataclass(frozen=True)
class AzureSettings:
    enabled: bool
    locations: tuple[str, ...]
    primary_location: str
    deployments: tuple[OpenAiDeployment, ...]
    public_network_access: str
    apim_sku: str
    apim_capacity: int
    publisher_name: str
    publisher_email: str
    breaker_failure_count: int
    breaker_interval_seconds: int
    breaker_trip_seconds: int
    weights: Mapping[str, int]
    tokens_per_minute: int
    front_door_sku: str
    origin_response_timeout_seconds: int
    probe_interval_seconds: int

    @property
    def multi_region_gateway(self) -> bool:
        """Only Premium API Management runs gateways in additional locations."""
        return self.apim_sku == "Premium" and len(self.locations) > 1

    def traffic_shares(self, topology: str) -> dict[str, TrafficShare]:
        """active-passive: the primary first, the others only when it fails; active-active: all at once, by weight."""
        return {
            location: TrafficShare(
                priority=1 if topology == "active-active" or location == self.primary_location else 2,
                weight=self.weights.get(location, DEFAULT_AZURE_WEIGHT),
            )
            for location in self.locations
        }


@dataclass(frozen=True)
class DatabaseSettings:
    instance_class: str
    replica_instance_class: str
    replica_multi_az: bool
    engine_version: str
    allocated_storage: int
    max_allocated_storage: int  # 0: no storage autoscaling
    backup_retention_days: int
    name: str
    username: str
    port: int

    @property
    def parameter_group_family(self) -> str:
        return f"postgres{self.engine_version.split('.')[0]}"


@dataclass(frozen=True)
class RoutingSettings:
    domain_name: str | None  # None: no Route 53 resources, clients use the regional endpoints
    hosted_zone_id: str | None
    health_check_interval: int
    failure_threshold: int


@dataclass(frozen=True)
class MultiRegionSettings:
    standby: str | None  # warm-standby | pilot-light under active-passive, None under active-active
    standby_capacity: Capacity
    database: DatabaseSettings
    routing: RoutingSettings


@dataclass(frozen=True)
class DrillSettings:
    enabled: bool
    fault_minutes: int  # how long each fault lasts; FIS takes ISO 8601 durations such as PT10M
    log_retention_days: int
    rto_seconds: int  # the stack's stated recovery time objective


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    environment: str
    topology: str
    primary_region: str
    regions: tuple[RegionSettings, ...]
    az_count: int
    subnet_layout: addressing.SubnetLayout
    nat_strategy: str
    fleet: FleetSettings
    deletion_protection: bool
    proxy: ProxySettings
    monitoring: MonitoringSettings
    azure: AzureSettings
    multi_region: MultiRegionSettings
    drills: DrillSettings

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(region.name for region in self.regions)

    def region(self, name: str) -> RegionSettings:
        return next(region for region in self.regions if region.name == name)


_EXPECTED = {"integer": "expected a whole number", "boolean": "expected true or false", "array": "expected a list of strings"}


class _Reader:
    """Typed access to raw config strings, with the schema's default when unset."""

    def __init__(self, get: Callable[[str], str | None]):
        self._get = get
        self._unlisted: frozenset[tuple[str, str]] | None = None

    def _raw(self, key: str) -> Any:
        setting = _SCHEMA_BY_KEY[key]
        raw = self._get(key)
        if raw is None:
            return setting.default
        if setting.type == "string":
            return raw
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            raise SettingsError(key, raw, _EXPECTED[setting.type]) from None
        return value

    def string(self, key: str) -> str:
        value = self._raw(key)
        if not isinstance(value, str):
            raise SettingsError(key, value, "expected a string")
        return value.strip()

    def integer(self, key: str) -> int:
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, value, _EXPECTED["integer"])
        return value

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if not isinstance(value, bool):
            raise SettingsError(key, value, _EXPECTED["boolean"])
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._raw(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SettingsError(key, value, _EXPECTED["array"])
        return tuple(item.strip() for item in value)

    def region_map(self, key: str, regions: tuple[str, ...], noun: str = "region", listed_in: str = "regions") -> dict[str, str]:
        """An array of "<region>=<value>" entries, as a dict {region: value}.

        Every region must be one of `regions` (the setting `listed_in`, whose entries are each a `noun`), once.
        """
        entries: dict[str, str] = {}
        for entry in self.strings(key):
            region, sep, value = entry.partition("=")
            region, value = region.strip(), value.strip()
            if not sep or not region or not value:
                raise SettingsError(key, entry, f"each entry must look like <{noun}>=<value>")
            if region not in regions:
                raise SettingsError(key, entry, f"{noun} {region!r} is not in {listed_in} {list(regions)}{did_you_mean(region, regions)}")
            if region in entries:
                raise SettingsError(key, entry, f"{noun} {region!r} is listed more than once")
            entries[region] = value
        return entries

    def listed(self, key: str, name: str, catalog: catalogs.Catalog) -> str:
        """`name` if `catalog` lists it or unlistedNames vouches for it as "<key>=<name>".

        Raises SettingsError naming `key` and the name, with the closest listed names and how to vouch for it.
        """
        if name in catalog or (key, name) in self.unlisted_names():
            return name
        raise SettingsError(
            key,
            name,
            f"{catalog.what} {name!r} is not in {catalog.source}{did_you_mean(name, catalog.names)} "
            f"If it is real but newer than that catalog, add \"{key}={name}\" to {PROJECT}:unlistedNames.",
        )

    def unlisted_names(self) -> frozenset[tuple[str, str]]:
        """The (setting, name) pairs of unlistedNames, read and checked once."""
        if self._unlisted is None:
            self._unlisted = _parse_unlisted_names(self)
        return self._unlisted


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the candidates closest to `value` (difflib, without case), or ""."""
    by_folded = {candidate.lower(): candidate for candidate in candidates}
    close = [by_folded[match] for match in difflib.get_close_matches(value.lower(), by_folded, n=2, cutoff=0.6)]
    return "; did you mean " + " or ".join(repr(match) for match in close) + "?" if close else ""


def choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SettingsError(key, value, "allowed values are " + ", ".join(repr(a) for a in allowed) + did_you_mean(value, allowed))
    return value


def in_range(key: str, value: int, bounds: tuple[int, int], unit: str = "") -> int:
    low, high = bounds
    if not low <= value <= high:
        raise SettingsError(key, value, f"must be between {low} and {high}{unit}")
    return value


def require_distinct(
    key: str, values: Iterable[str], noun: str, identity: Callable[[str], Hashable] = lambda value: value, why: str = ""
) -> None:
    """Refuses the first entry of a list setting that repeats an earlier one, naming the key and that entry.

    identity: what makes two entries the same to the service (an e-mail address without case, a parsed
    network); why: a short reason shown when the two are written differently.
    """
    first_seen: dict[Hashable, str] = {}
    for value in values:
        same = identity(value)
        if same in first_seen:
            earlier = first_seen[same]
            repeats = "this one is listed more than once" if earlier == value else f"this one repeats {earlier!r}{why}"
            raise SettingsError(key, value, f"{noun} must be distinct; {repeats}")
        first_seen[same] = value


def recipient_identity(endpoint: str) -> str:
    """What makes two alert recipients the same: their address or URL without case.

    Mail systems match addresses without case, and each recipient's alert subscriptions are named after
    this identity (components/monitoring.py), so two entries differing only in case would collide.
    """
    return endpoint.lower()


def load_settings(config: Any, stack: str) -> Settings:
    """Reads and validates every setting from a pulumi.Config, refusing keys SCHEMA does not declare."""
    return parse_settings(config.get, stack, keys=stack_config_keys())


def stack_config_keys() -> frozenset[str]:
    """Every config key of the running stack, any namespace ("aws:region", "ha-model-serving:topology").

    Under `pulumi preview`/`up` the Python language host loads the engine's PULUMI_CONFIG into
    pulumi.runtime.config (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec), as
    pulumi.runtime.set_all_config does under mocks and the Automation API; PULUMI_CONFIG itself is read
    too, for a program started some other way.
    """
    from pulumi.runtime import config as runtime_config

    return frozenset(runtime_config.CONFIG.get()) | frozenset(runtime_config.get_config_env())


def parse_settings(get: Callable[[str], str | None], stack: str, keys: Iterable[str] | None = None) -> Settings:
    """Validates raw settings (as the Pulumi CLI hands them over: strings, arrays as JSON).

    keys: every config key the stack sets, when known; one in this project's namespace that SCHEMA does
    not declare is refused, naming the closest declared key. (The Pulumi CLI checks only the keys
    Pulumi.yaml declares: pulumi/pulumi sdk/go/common/workspace/config.go, mergeConfig.)
    """
    if keys is not None:
        _refuse_undeclared_keys(keys)
    read = _Reader(get)
    read.unlisted_names()  # checked first, so a bad entry is reported even when no name needs vouching for
    environment = choice("environment", read.string("environment"), ENVIRONMENTS)
    topology = choice("topology", read.string("topology"), TOPOLOGIES)
    region_names = _parse_region_names(read)
    primary_region = read.string("primaryRegion")
    if primary_region not in region_names:
        raise SettingsError("primaryRegion", primary_region, f"must be one of regions {list(region_names)}")

    layout = _parse_subnet_layout(read)
    regions = _parse_regions(read, region_names, layout)
    nat_strategy = choice("natStrategy", read.string("natStrategy"), NAT_STRATEGIES)
    proxy = _parse_proxy(read, region_names)
    if proxy.enabled and nat_strategy == "none":
        raise SettingsError(
            "natStrategy",
            nat_strategy,
            "the model proxy runs in private subnets and needs NAT to reach every region; use single or one-per-az, or set proxyEnabled to false",
        )
    az_count = read.integer("azCount")
    if az_count < 2:
        raise SettingsError("azCount", az_count, "at least 2 availability zones per region are needed for redundancy")

    multi_region = _parse_multi_region(read, topology, environment, region_names)
    secured = sorted(region.name for region in regions if region.certificate_arn)
    if proxy.enabled and secured and not multi_region.routing.domain_name:
        # The proxy verifies TLS; a load balancer's own DNS name is not what a regional certificate covers.
        raise SettingsError(
            "domainName",
            "",
            f"regions {secured} serve HTTPS, so the model proxy needs <region>.<domainName> names their certificates cover; "
            "set domainName and hostedZoneId, or proxyEnabled to false",
        )

    fleet = _parse_fleet(read)
    return Settings(
        project=PROJECT,
        stack=stack,
        environment=environment,
        topology=topology,
        primary_region=primary_region,
        regions=regions,
        az_count=az_count,
        subnet_layout=layout,
        nat_strategy=nat_strategy,
        fleet=fleet,
        deletion_protection=read.boolean("deletionProtection"),
        proxy=proxy,
        monitoring=_parse_monitoring(read, environment, min_size=fleet.capacity.min_size),
        azure=_parse_azure(read),
        multi_region=multi_region,
        drills=_parse_drills(read, regions, az_count, fleet.capacity, multi_region.standby_capacity),
    )


def _refuse_undeclared_keys(keys: Iterable[str]) -> None:
    namespace = f"{PROJECT}:"
    undeclared = sorted(key.removeprefix(namespace) for key in keys if key.startswith(namespace) and key.removeprefix(namespace) not in _SCHEMA_BY_KEY)
    if not undeclared:
        return
    first, *others = undeclared
    also = "".join(f" Also undeclared: {PROJECT}:{key}{did_you_mean(key, _SCHEMA_BY_KEY)}." for key in others)
    raise SettingsError(
        first,
        UNSHOWN,
        f"this project declares no such setting, so its value would be ignored{did_you_mean(first, _SCHEMA_BY_KEY)}{also} "
        "Every setting is listed in Pulumi.yaml and the README.",
    )


def _parse_unlisted_names(read: _Reader) -> frozenset[tuple[str, str]]:
    key = "unlistedNames"
    entries = read.strings(key)
    require_distinct(key, entries, "entries")
    pairs = set()
    for entry in entries:
        setting, sep, name = (part.strip() for part in entry.partition("="))
        if not sep or not setting or not name:
            raise SettingsError(key, entry, "each entry must look like <setting>=<name>, such as instanceType=p7.48xlarge")
        if setting not in CATALOGUED_SETTINGS:
            raise SettingsError(
                key, entry, f"{setting!r} is not checked against a catalog; those that are: {', '.join(CATALOGUED_SETTINGS)}{did_you_mean(setting, CATALOGUED_SETTINGS)}"
            )
        pairs.add((setting, name))
    return frozenset(pairs)


def _parse_region_names(read: _Reader) -> tuple[str, ...]:
    names = read.strings("regions")
    if not names:
        raise SettingsError("regions", list(names), "list at least one AWS region")
    require_distinct("regions", names, "regions")
    for name in names:
        # Each partition's region name pattern comes with its regions in botocore's partitions.json.
        if catalogs.partition_of(name) is None:
            raise SettingsError("regions", name, f"expected an AWS region name such as us-east-1{did_you_mean(name, catalogs.aws_regions().names)}")
        read.listed("regions", name, catalogs.aws_regions())
    partitions = {name: catalogs.partition_of(name) for name in names}
    if len(set(partitions.values())) > 1:
        # Partitions are separate clouds: IAM credentials and cross-region features such as read replicas
        # stay inside one (docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html).
        spread = ", ".join(f"{name} ({partition})" for name, partition in partitions.items())
        raise SettingsError("regions", list(names), f"all regions must be in one AWS partition, but these span several: {spread}")
    return names


def _parse_subnet_layout(read: _Reader) -> addressing.SubnetLayout:
    layout = addressing.SubnetLayout(
        az_prefix=read.integer("azCidrMask"),
        private_prefix=read.integer("privateSubnetMask"),
        public_prefix=read.integer("publicSubnetMask"),
        isolated_prefix=read.integer("isolatedSubnetMask"),
    )
    for key, prefix in (
        ("privateSubnetMask", layout.private_prefix),
        ("publicSubnetMask", layout.public_prefix),
        ("isolatedSubnetMask", layout.isolated_prefix),
    ):
        # AWS subnets are /16 to /28, and a tier cannot be larger than the AZ block holding it.
        if not max(16, layout.az_prefix) <= prefix <= 28:
            raise SettingsError(key, prefix, f"must be between /{max(16, layout.az_prefix)} (azCidrMask) and /28")
    if not layout.fits_in_az_block():
        raise SettingsError(
            "azCidrMask",
            layout.az_prefix,
            f"the private /{layout.private_prefix}, public /{layout.public_prefix} and isolated "
            f"/{layout.isolated_prefix} subnets do not fit in one /{layout.az_prefix} block per AZ",
        )
    return layout


def _parse_regions(read: _Reader, names: tuple[str, ...], layout: addressing.SubnetLayout) -> tuple[RegionSettings, ...]:
    cidrs = read.region_map("vpcCidrs", names)
    pinned_zones = read.region_map("availabilityZones", names)
    certificates = read.region_map("certificateArns", names)

    networks: dict[str, ipaddress.IPv4Network] = {}
    for name in names:
        if name not in cidrs:
            raise SettingsError("vpcCidrs", list(read.strings("vpcCidrs")), f"region {name} has no VPC CIDR; add {name}=<cidr>")
        network = _private_vpc_network(name, cidrs[name])
        if layout.az_prefix < network.prefixlen:
            raise SettingsError(
                "azCidrMask", layout.az_prefix, f"an AZ block cannot be larger than its VPC, and vpcCidrs gives {name}={network}"
            )
        for other, other_network in networks.items():
            if network.overlaps(other_network):
                raise SettingsError(
                    "vpcCidrs", f"{name}={network}", f"overlaps {other}={other_network}; regional VPCs must not overlap so they can be peered"
                )
        networks[name] = network

    for region, arn in certificates.items():
        # ARNs carry the partition of their region: arn:aws-cn:acm:cn-north-1:... (IAM User Guide, "Amazon Resource Names").
        partition = catalogs.partition_of(region)
        if not re.fullmatch(rf"arn:{partition}:acm:{region}:\d{{12}}:certificate/[\w-]+", arn):
            raise SettingsError(
                "certificateArns", f"{region}={arn}", f"expected an ACM certificate ARN in {region}: arn:{partition}:acm:{region}:<account>:certificate/<id>"
            )

    return tuple(
        RegionSettings(
            name=name,
            vpc_cidr=str(networks[name]),
            availability_zones=_parse_pinned_zones(name, pinned_zones.get(name), networks[name], layout),
            certificate_arn=certificates.get(name),
        )
        for name in names
    )


def _private_vpc_network(region: str, value: str) -> ipaddress.IPv4Network:
    entry = f"{region}={value}"
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise SettingsError("vpcCidrs", entry, "expected an IPv4 network such as 10.10.0.0/16 (host bits zero)") from None
    if not any(network.subnet_of(block) for block in RFC1918):
        raise SettingsError("vpcCidrs", entry, "must be a private block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    low, high = VPC_PREFIX
    if not low <= network.prefixlen <= high:
        raise SettingsError("vpcCidrs", entry, f"the prefix length must be between {low} and {high} (what AWS accepts for a VPC), not {network.prefixlen}")
    return network


def _parse_pinned_zones(
    region: str, value: str | None, network: ipaddress.IPv4Network, layout: addressing.SubnetLayout
) -> tuple[str, ...] | None:
    if value is None:
        return None
    zones = tuple(zone.strip() for zone in value.split(",") if zone.strip())
    return validate_zones(region, zones, network, layout, key="availabilityZones")


def validate_zones(
    region: str, zones: tuple[str, ...], network: ipaddress.IPv4Network, layout: addressing.SubnetLayout, key: str
) -> tuple[str, ...]:
    """Checks a region's zones, pinned (key availabilityZones) or discovered (key azCount): distinct, in the region, with room in the VPC.

    Raises SettingsError naming `key` and the zone's region=zone entry; a discovered zone without room names azCidrMask.
    """
    if len(zones) < 2:
        raise SettingsError(key, f"{region}={','.join(zones)}", "at least 2 availability zones per region are needed for redundancy")
    require_distinct(key, (f"{region}={zone}" for zone in zones), "availability zones")
    slots = layout.az_slots(network)
    for zone in zones:
        if not re.fullmatch(rf"{re.escape(region)}[a-z]", zone):
            raise SettingsError(key, f"{region}={zone}", f"expected a zone of {region} such as {region}a")
        room = f"{region}'s VPC {network} has room for {slots} AZ blocks of /{layout.az_prefix} (azCidrMask)"
        if addressing.az_slot(zone) < slots:
            continue
        if key == "availabilityZones":
            # A zone's block is chosen by its letter, so a letter past the room is a misspelt zone or too large a mask.
            raise SettingsError(
                key,
                f"{region}={zone}",
                f"zone letter {zone[-1]!r} needs AZ block {addressing.az_slot(zone) + 1}, but {room}; "
                "check the zone name, or give azCidrMask a longer prefix (smaller AZ blocks)",
            )
        raise SettingsError("azCidrMask", layout.az_prefix, f"{room}, too few for zone {zone}")
    return zones


def _parse_fleet(read: _Reader) -> FleetSettings:
    health_check = _parse_health_check(read)
    capacity = _parse_capacity(read)

    model_port = in_range("modelPort", read.integer("modelPort"), (1, 65535))
    ami_id = read.string("amiId")
    if not re.fullmatch(r"ami-[0-9a-f]{8,17}|resolve:ssm:/\S+", ami_id):
        raise SettingsError("amiId", ami_id, "expected ami-<hex> or resolve:ssm:<parameter path>")
    model_image = read.string("modelImage")
    if not model_image or re.search(r"\s", model_image):
        raise SettingsError("modelImage", model_image, "expected a container image reference without spaces")
    slow_start = read.integer("slowStart")
    if slow_start != 0:
        in_range("slowStart", slow_start, SLOW_START, " seconds, or 0 to disable")
    ingress_cidrs = read.strings("ingressCidrs")
    for cidr in ingress_cidrs:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise SettingsError("ingressCidrs", cidr, "expected IPv4 CIDRs such as 203.0.113.0/24") from None
    # Each block becomes one security group rule per listener port; EC2 refuses a rule it already has.
    require_distinct("ingressCidrs", ingress_cidrs, "CIDR blocks", identity=ipaddress.IPv4Network)

    return FleetSettings(
        instance_type=_instance_type(read, read.string("instanceType")),
        ami_id=ami_id,
        root_volume_size=in_range("rootVolumeSize", read.integer("rootVolumeSize"), (8, 16384), " GiB"),
        model_image=model_image,
        model_args=read.string("modelArgs"),
        model_port=model_port,
        health_check=health_check,
        capacity=capacity,
        deregistration_delay=in_range("deregistrationDelay", read.integer("deregistrationDelay"), DEREGISTRATION_DELAY, " seconds"),
        slow_start=slow_start,
        health_check_grace_period=in_range("healthCheckGracePeriod", read.integer("healthCheckGracePeriod"), (0, 7200), " seconds"),
        instance_refresh_min_healthy_percentage=in_range(
            "instanceRefreshMinHealthyPercentage", read.integer("instanceRefreshMinHealthyPercentage"), (0, 100), " percent"
        ),
        requests_per_target=in_range("requestsPerTarget", read.integer("requestsPerTarget"), (1, 1_000_000)),
        load_balancer_scheme=choice("loadBalancerScheme", read.string("loadBalancerScheme"), LOAD_BALANCER_SCHEMES),
        ingress_cidrs=ingress_cidrs,
        ssl_policy=_ssl_policy(read, read.string("sslPolicy")),
    )


def _instance_type(read: _Reader, value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
        raise SettingsError("instanceType", value, "expected an EC2 instance type such as g5.xlarge")
    return read.listed("instanceType", value, catalogs.ec2_instance_types())


def _ssl_policy(read: _Reader, value: str) -> str:
    if not value.startswith("ELBSecurityPolicy-"):
        raise SettingsError("sslPolicy", value, "expected an ELB security policy name such as ELBSecurityPolicy-TLS13-1-2-2021-06")
    return read.listed("sslPolicy", value, catalogs.alb_tls_policies())


def _parse_health_check(read: _Reader) -> HealthCheck:
    path = read.string("healthCheckPath")
    if not path.startswith("/") or len(path) > 1024:
        raise SettingsError("healthCheckPath", path, "must start with / (at most 1024 characters)")
    port = read.string("healthCheckPort")
    if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise SettingsError("healthCheckPort", port, "expected traffic-port or a port number 1-65535")
    matcher = read.string("healthCheckMatcher")
    if not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", matcher) or not all(
        200 <= int(code) <= 499 for code in re.findall(r"\d{3}", matcher)
    ):
        raise SettingsError("healthCheckMatcher", matcher, "expected HTTP codes 200-499 such as 200, 200,202 or 200-299")
    interval = in_range("healthCheckInterval", read.integer("healthCheckInterval"), HEALTH_CHECK_INTERVAL, " seconds")
    timeout = in_range("healthCheckTimeout", read.integer("healthCheckTimeout"), HEALTH_CHECK_TIMEOUT, " seconds")
    if timeout >= interval:
        raise SettingsError("healthCheckTimeout", timeout, f"must be less than healthCheckInterval ({interval} seconds)")
    return HealthCheck(
        path=path,
        port=port,
        matcher=matcher,
        interval_seconds=interval,
        timeout_seconds=timeout,
        healthy_threshold=in_range("healthyThreshold", read.integer("healthyThreshold"), HEALTH_CHECK_THRESHOLD),
        unhealthy_threshold=in_range("unhealthyThreshold", read.integer("unhealthyThreshold"), HEALTH_CHECK_THRESHOLD),
    )


def _parse_capacity(read: _Reader, keys: tuple[str, str, str] = ("minSize", "maxSize", "desiredCapacity")) -> Capacity:
    min_key, max_key, desired_key = keys
    min_size, max_size, desired = read.integer(min_key), read.integer(max_key), read.integer(desired_key)
    if min_size < 0:
        raise SettingsError(min_key, min_size, "must be 0 or more")
    if max_size < 1:
        raise SettingsError(max_key, max_size, "must be at least 1")
    if min_size > max_size:
        raise SettingsError(min_key, min_size, f"must not exceed {max_key} ({max_size})")
    if not min_size <= desired <= max_size:
        raise SettingsError(desired_key, desired, f"must be between {min_key} ({min_size}) and {max_key} ({max_size})")
    return Capacity(min_size=min_size, max_size=max_size, desired=desired)


# AWS FIS service quotas: one stop-instances target holds at most 5 instances (L-3F98B425), and an action lasts
# at most 12 hours (L-A7622DAA); this program keeps drill faults to an hour.
FIS_MAX_INSTANCES_PER_TARGET = 5
DRILL_FAULT_MINUTES = (1, 60)
RTO_SECONDS = (60, 86_400)


def _parse_drills(
    read: _Reader, regions: tuple[RegionSettings, ...], az_count: int, full: Capacity, standby: Capacity
) -> DrillSettings:
    enabled = read.boolean("drillsEnabled")
    if enabled:
        # Drills stop servers one zone per target, so a zone may never hold more than one target's worth.
        largest = max(full.max_size, standby.max_size)
        fewest_zones = min(len(region.availability_zones or ()) or az_count for region in regions)
        per_zone = -(-largest // fewest_zones)
        if per_zone > FIS_MAX_INSTANCES_PER_TARGET:
            raise SettingsError(
                "maxSize",
                largest,
                f"with drillsEnabled a zone may hold at most {FIS_MAX_INSTANCES_PER_TARGET} model servers (AWS FIS stops at most "
                f"{FIS_MAX_INSTANCES_PER_TARGET} instances per target, quota L-3F98B425); {largest} over {fewest_zones} zones puts "
                f"up to {per_zone} in one; lower it, add zones, or set drillsEnabled to false",
            )
    log_retention = read.integer("drillLogRetentionDays")
    if log_retention not in LOG_RETENTION_DAYS:
        raise SettingsError("drillLogRetentionDays", log_retention, "allowed values are " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return DrillSettings(
        enabled=enabled,
        fault_minutes=in_range("drillFaultMinutes", read.integer("drillFaultMinutes"), DRILL_FAULT_MINUTES, " minutes"),
        log_retention_days=log_retention,
        rto_seconds=in_range("rtoSeconds", read.integer("rtoSeconds"), RTO_SECONDS, " seconds"),
    )


def _parse_proxy(read: _Reader, region_names: tuple[str, ...]) -> ProxySettings:
    enabled = read.boolean("proxyEnabled")
    unpublished = [region for region in region_names if region not in PROXY_REGIONS]
    if enabled and unpublished:
        # The proxy streams through the Lambda Web Adapter's published layer (components/lambda_web_adapter.py).
        raise SettingsError(
            "regions", list(region_names), f"the model proxy's Lambda Web Adapter layer is not published in {unpublished}; drop them or set proxyEnabled to false"
        )
    timeout = in_range("proxyTimeout", read.integer("proxyTimeout"), (3, 900), " seconds (the Lambda limit is 900)")
    connect = in_range("proxyConnectTimeout", read.integer("proxyConnectTimeout"), (1, 30), " seconds")
    first_byte = read.integer("proxyFirstByteTimeout")
    # The request budget is the Lambda timeout less a second to answer; an upstream must be able to start within it.
    if not connect <= first_byte <= timeout - 1:
        raise SettingsError(
            "proxyFirstByteTimeout", first_byte, f"must be between proxyConnectTimeout ({connect}) and proxyTimeout - 1 ({timeout - 1}) seconds"
        )
    retention = read.integer("proxyLogRetentionDays")
    if retention not in LOG_RETENTION_DAYS:
        raise SettingsError("proxyLogRetentionDays", retention, "allowed values are " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return ProxySettings(
        enabled=enabled,
        architecture=choice("proxyArchitecture", read.string("proxyArchitecture"), PROXY_ARCHITECTURES),
        memory_size=in_range("proxyMemorySize", read.integer("proxyMemorySize"), (128, 10240), " MB"),
        timeout=timeout,
        reserved_concurrency=in_range("proxyReservedConcurrency", read.integer("proxyReservedConcurrency"), (0, 1000)),
        log_retention_days=retention,
        connect_timeout=connect,
        first_byte_timeout=first_byte,
        breaker_failure_threshold=in_range("proxyBreakerFailureThreshold", read.integer("proxyBreakerFailureThreshold"), (1, 100)),
        breaker_base_ejection=in_range("proxyBreakerBaseEjection", read.integer("proxyBreakerBaseEjection"), (1, 3600), " seconds"),
    )


# CloudWatch evaluates at most one day of periods per alarm.
MAX_ALARM_WINDOW_SECONDS = 86_400
EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
HTTPS_URL = re.compile(r"https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d{1,5})?(/\S*)?")


def _parse_monitoring(read: _Reader, environment: str, min_size: int) -> MonitoringSettings:
    emails, webhooks = read.strings("alertEmails"), read.strings("alertWebhooks")
    for email in emails:
        if not EMAIL.fullmatch(email):
            raise SettingsError("alertEmails", email, "expected e-mail addresses such as oncall@example.com")
    for url in webhooks:
        if not HTTPS_URL.fullmatch(url):
            raise SettingsError("alertWebhooks", url, "expected https:// URLs such as https://alerts.example.com/hook")
    # Each recipient becomes one subscription per alert topic and one Azure action group receiver.
    without_case = " (recipients are compared without case)"
    require_distinct("alertEmails", emails, "e-mail addresses", identity=recipient_identity, why=without_case)
    require_distinct("alertWebhooks", webhooks, "webhook URLs", identity=recipient_identity, why=without_case)
    alerting = read.boolean("alertingEnabled")
    if alerting and not emails and not webhooks:
        raise SettingsError("alertingEnabled", alerting, "alerting is on but nobody is alerted: set alertEmails or alertWebhooks")
    if environment == "prod" and not alerting:
        raise SettingsError("alertingEnabled", alerting, "prod must alert a person when a region degrades")

    period = read.integer("alarmPeriodSeconds")
    if period < 60 or period % 60:
        raise SettingsError("alarmPeriodSeconds", period, "must be a multiple of 60 seconds (the watched metrics have one-minute resolution)")
    evaluation_periods = read.integer("alarmEvaluationPeriods")
    if evaluation_periods < 1:
        raise SettingsError("alarmEvaluationPeriods", evaluation_periods, "must be at least 1")
    if period * evaluation_periods > MAX_ALARM_WINDOW_SECONDS:
        raise SettingsError(
            "alarmEvaluationPeriods", evaluation_periods, f"{evaluation_periods} periods of {period} s exceed the one day an alarm can look back"
        )
    datapoints = read.integer("alarmDatapointsToAlarm")
    if not 1 <= datapoints <= evaluation_periods:
        raise SettingsError("alarmDatapointsToAlarm", datapoints, f"must be between 1 and alarmEvaluationPeriods ({evaluation_periods})")
    floor = read.integer("alarmHealthyHostFloor")
    if not 1 <= floor <= max(min_size, 1):
        raise SettingsError("alarmHealthyHostFloor", floor, f"must be between 1 and minSize ({min_size}), or the region alarms at its normal size")

    def percent(key: str) -> int:
        return in_range(key, read.integer(key), (0, 100), " percent")

    def count(key: str) -> int:
        return in_range(key, read.integer(key), (0, 1_000_000), " per period")

    return MonitoringSettings(
        alerting_enabled=alerting,
        alert_emails=emails,
        alert_webhooks=webhooks,
        period_seconds=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints,
        healthy_host_floor=floor,
        target_5xx_percent=percent("alarmTarget5xxPercent"),
        lb_5xx_percent=percent("alarmLb5xxPercent"),
        latency_p99_seconds=in_range("alarmLatencyP99Seconds", read.integer("alarmLatencyP99Seconds"), (1, 3600), " seconds"),
        db_cpu_percent=percent("alarmDbCpuPercent"),
        db_free_storage_gib=in_range("alarmDbFreeStorageGiB", read.integer("alarmDbFreeStorageGiB"), (1, 65536), " GiB"),
        replica_lag_seconds=in_range("alarmReplicaLagSeconds", read.integer("alarmReplicaLagSeconds"), (1, 86400), " seconds"),
        lambda_errors=count("alarmLambdaErrors"),
        lambda_throttles=count("alarmLambdaThrottles"),
        # Lambda stops a function after 900 s, so a higher p99 could never be observed.
        lambda_duration_p99_seconds=in_range(
            "alarmLambdaDurationP99Seconds", read.integer("alarmLambdaDurationP99Seconds"), (1, 900), " seconds"
        ),
        gateway_backend_5xx=count("alarmGatewayBackend5xx"),
        gateway_backend_429=count("alarmGatewayBackend429"),
        origin_health_percent=percent("alarmOriginHealthPercent"),
    )


def _parse_azure(read: _Reader) -> AzureSettings:
    enabled = read.boolean("azureEnabled")
    locations = _parse_azure_locations(read)
    primary = read.string("azurePrimaryLocation")
    if primary not in locations:
        raise SettingsError("azurePrimaryLocation", primary, f"must be one of azureLocations {list(locations)}")
    weights = _parse_azure_weights(read, locations)

    apim_sku = read.string("azureApimSku")
    if apim_sku == "Consumption":
        raise SettingsError("azureApimSku", apim_sku, "the Consumption tier has no backend pools or circuit breakers; use StandardV2 or another tier")
    choice("azureApimSku", apim_sku, tuple(APIM_CAPACITY))
    publisher_email = read.string("azureApimPublisherEmail")
    if publisher_email or enabled:
        if not EMAIL.fullmatch(publisher_email):
            raise SettingsError("azureApimPublisherEmail", publisher_email, "expected an e-mail address such as platform@example.com (required when azureEnabled)")
    publisher_name = read.string("azureApimPublisherName")
    if not publisher_name or len(publisher_name) > 100:
        raise SettingsError("azureApimPublisherName", publisher_name, "must be 1-100 characters")

    return AzureSettings(
        enabled=enabled,
        locations=locations,
        primary_location=primary,
        deployments=_parse_openai_deployments(read),
        public_network_access=choice("azureOpenAiPublicNetworkAccess", read.string("azureOpenAiPublicNetworkAccess"), PUBLIC_NETWORK_ACCESS),
        apim_sku=apim_sku,
        apim_capacity=in_range("azureApimCapacity", read.integer("azureApimCapacity"), APIM_CAPACITY[apim_sku], f" scale units for {apim_sku}"),
        publisher_name=publisher_name,
        publisher_email=publisher_email,
        breaker_failure_count=in_range("azureBreakerFailureCount", read.integer("azureBreakerFailureCount"), (1, 1000)),
        breaker_interval_seconds=in_range("azureBreakerInterval", read.integer("azureBreakerInterval"), (1, 3600), " seconds"),
        breaker_trip_seconds=in_range("azureBreakerTripDuration", read.integer("azureBreakerTripDuration"), (1, 3600), " seconds"),
        weights=weights,
        tokens_per_minute=in_range("azureTokensPerMinute", read.integer("azureTokensPerMinute"), (1, 100_000_000)),
        front_door_sku=choice("azureFrontDoorSku", read.string("azureFrontDoorSku"), FRONT_DOOR_SKUS),
        origin_response_timeout_seconds=in_range(
            "azureOriginResponseTimeout", read.integer("azureOriginResponseTimeout"), ORIGIN_RESPONSE_TIMEOUT, " seconds"
        ),
        probe_interval_seconds=in_range("azureProbeInterval", read.integer("azureProbeInterval"), PROBE_INTERVAL, " seconds"),
    )


def _parse_azure_locations(read: _Reader) -> tuple[str, ...]:
    locations = read.strings("azureLocations")
    if not locations:
        raise SettingsError("azureLocations", list(locations), "list at least one Azure location")
    for location in locations:
        if not re.fullmatch(r"[a-z]+[a-z0-9]*", location):
            raise SettingsError(
                "azureLocations",
                location,
                "expected an Azure location's programmatic name, lowercase without spaces, such as swedencentral or eastus2"
                + did_you_mean(location.replace(" ", ""), catalogs.azure_locations().names),
            )
    require_distinct("azureLocations", locations, "locations")
    if len(locations) > MAX_POOL_MEMBERS:
        raise SettingsError(
            "azureLocations", f"{len(locations)} locations", f"at most {MAX_POOL_MEMBERS}: each is a member of one API Management backend pool"
        )
    for location in locations:
        read.listed("azureLocations", location, catalogs.azure_locations())
    return locations


def _parse_openai_deployments(read: _Reader) -> tuple[OpenAiDeployment, ...]:
    key = "azureOpenAiDeployments"
    entries = read.strings(key)
    if not entries:
        raise SettingsError(key, [], "list at least one deployment as name=model:version:sku:capacity")
    # Azure compares resource names without case (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
    require_distinct(
        key, entries, "deployment names", identity=lambda entry: entry.partition("=")[0].strip().lower(), why=" (Azure compares names without case)"
    )
    deployments: dict[str, OpenAiDeployment] = {}
    for entry in entries:
        name, sep, spec = entry.partition("=")
        fields = spec.split(":")
        if not sep or len(fields) != 4:
            raise SettingsError(key, entry, "each entry must look like name=model:version:sku:capacity")
        model, version, sku, capacity = (field.strip() for field in fields)
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,63}", name):
            raise SettingsError(key, entry, "deployment names are 2-64 letters, digits, '.', '_' or '-'")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", model):
            raise SettingsError(key, entry, "expected a model name such as gpt-4o")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", version):
            raise SettingsError(key, entry, "expected a model version such as 2024-11-20")
        if sku not in OPENAI_DEPLOYMENT_SKUS:
            raise SettingsError(key, entry, "the SKU must be one of " + ", ".join(OPENAI_DEPLOYMENT_SKUS))
        if not re.fullmatch(r"-?\d+", capacity) or int(capacity) <= 0:
            raise SettingsError(key, entry, "capacity must be a whole number greater than 0")
        deployments[name] = OpenAiDeployment(name=name, model=model, version=version, sku=sku, capacity=int(capacity))
    return tuple(deployments.values())


def _parse_azure_weights(read: _Reader, locations: tuple[str, ...]) -> dict[str, int]:
    key = "azureBackendWeights"
    weights: dict[str, int] = {}
    for location, value in read.region_map(key, locations, noun="location", listed_in="azureLocations").items():
        low, high = AZURE_WEIGHT
        if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
            raise SettingsError(key, f"{location}={value}", f"weights are whole numbers between {low} and {high}")
        weights[location] = int(value)
    return weights


def _parse_multi_region(read: _Reader, topology: str, environment: str, regions: tuple[str, ...]) -> MultiRegionSettings:
    standby = read.string("standby")
    if topology == "active-active":
        if standby:
            raise SettingsError("standby", standby, "must be empty under active-active: every region serves at full capacity")
        standby_mode = None
    else:
        standby_mode = choice("standby", standby or "warm-standby", STANDBY_MODES)
    routing = _parse_routing(read)
    if topology == "active-passive" and routing.domain_name and len(regions) > 2:
        # Route 53 failover records come in pairs: one PRIMARY and one SECONDARY per name.
        raise SettingsError(
            "regions", list(regions), "active-passive with domainName supports one standby region (Route 53 failover records are a pair)"
        )
    return MultiRegionSettings(
        standby=standby_mode,
        standby_capacity=_parse_capacity(read, ("standbyMinSize", "standbyMaxSize", "standbyDesiredCapacity")),
        database=_parse_database(read, environment),
        routing=routing,
    )


def _parse_database(read: _Reader, environment: str) -> DatabaseSettings:
    instance_class = _db_instance_class(read, "dbInstanceClass", read.string("dbInstanceClass"))
    replica_class = read.string("dbReplicaInstanceClass")
    engine_version = read.string("dbEngineVersion")
    if re.fullmatch(r"\d{2}\.\d+(\.\d+)?", engine_version):
        # Automatic minor version upgrades are on: RDS moves a pinned 16.4 to 16.8 on its own, and the next
        # `pulumi up` would ask for 16.4 again, a downgrade RDS refuses (InvalidParameterCombination). A major
        # version is a prefix the provider matches against the running version (engine_version docs).
        raise SettingsError(
            "dbEngineVersion", engine_version, f"pin only the major version ({engine_version.split('.')[0]}): RDS upgrades minor versions on its own"
        )
    if not re.fullmatch(r"\d{2}", engine_version) or int(engine_version) < 12:
        raise SettingsError("dbEngineVersion", engine_version, "expected a PostgreSQL major version 12 or newer such as 16")
    allocated = in_range("dbAllocatedStorage", read.integer("dbAllocatedStorage"), DB_ALLOCATED_STORAGE, " GiB")
    max_allocated = read.integer("dbMaxAllocatedStorage")
    if max_allocated != 0 and not allocated < max_allocated <= DB_ALLOCATED_STORAGE[1]:
        raise SettingsError(
            "dbMaxAllocatedStorage", max_allocated, f"must be above dbAllocatedStorage ({allocated}) and at most {DB_ALLOCATED_STORAGE[1]} GiB, or 0"
        )
    retention = in_range("dbBackupRetentionDays", read.integer("dbBackupRetentionDays"), DB_BACKUP_RETENTION, " days")
    if environment == "prod" and retention < PROD_MIN_BACKUP_RETENTION:
        raise SettingsError("dbBackupRetentionDays", retention, f"prod keeps at least {PROD_MIN_BACKUP_RETENTION} days of backups")
    return DatabaseSettings(
        instance_class=instance_class,
        replica_instance_class=_db_instance_class(read, "dbReplicaInstanceClass", replica_class) if replica_class else instance_class,
        replica_multi_az=read.boolean("dbReplicaMultiAz"),
        engine_version=engine_version,
        allocated_storage=allocated,
        max_allocated_storage=max_allocated,
        backup_retention_days=retention,
        name=_identifier("dbName", read.string("dbName")),
        username=_identifier("dbUsername", read.string("dbUsername")),
        port=in_range("dbPort", read.integer("dbPort"), DB_PORT),
    )


def _db_instance_class(read: _Reader, key: str, value: str) -> str:
    # botocore's RDS model gives the shape of a class name (DBInstanceClass), not the classes themselves.
    if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", value) or not catalogs.rds_instance_class_shape().fits(value):
        raise SettingsError(key, value, "expected an RDS instance class such as db.r6g.large")
    return read.listed(key, value, catalogs.rds_instance_classes())


def _identifier(key: str, value: str) -> str:
    # PostgreSQL names on RDS: a letter, then letters, digits or underscores; rds* names are reserved.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", value) or value.lower().startswith("rds"):
        raise SettingsError(key, value, "expected a letter then up to 62 letters, digits or underscores, not starting with rds")
    return value


def _parse_routing(read: _Reader) -> RoutingSettings:
    domain = read.string("domainName").rstrip(".").lower()
    zone = read.string("hostedZoneId")
    if domain and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        raise SettingsError("domainName", domain, "expected a DNS name such as models.example.com")
    if domain and not zone:
        raise SettingsError("hostedZoneId", zone, f"required with domainName ({domain}): the Route 53 hosted zone that holds it")
    if zone and not domain:
        raise SettingsError("domainName", domain, f"required with hostedZoneId ({zone}): the name to route")
    if zone and not re.fullmatch(r"Z[A-Z0-9]{1,31}", zone):
        raise SettingsError("hostedZoneId", zone, "expected a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    interval = read.integer("dnsHealthCheckInterval")
    if interval not in DNS_HEALTH_CHECK_INTERVALS:
        raise SettingsError("dnsHealthCheckInterval", interval, "Route 53 checks every 10 or 30 seconds")
    return RoutingSettings(
        domain_name=domain or None,
        hosted_zone_id=zone or None,
        health_check_interval=interval,
        failure_threshold=in_range("dnsFailureThreshold", read.integer("dnsFailureThreshold"), DNS_FAILURE_THRESHOLD),
    )


def region_availability_zones(settings: Settings, region: RegionSettings, discover: Callable[[bool], list[str]]) -> tuple[str, ...]:
    """The region's zones: pinned ones once the region confirms it has them, else the first azCount it offers.

    discover(available_only): names of the region's zones (no opt-in Local or Wavelength Zones), asked
    through the region's provider; a pinned zone only has to exist, so an impaired one still deploys.
    Raises SettingsError naming availabilityZones for a pinned zone the region lacks, azCount when it has too few.
    """
    if region.availability_zones is not None:
        existing = sorted(discover(False))
        for zone in region.availability_zones:
            if zone not in existing:
                raise SettingsError("availabilityZones", f"{region.name}={zone}", f"{region.name} has no zone {zone}; its zones are {existing}")
        return region.availability_zones
    offered = sorted(discover(True))
    zones = tuple(offered[: settings.az_count])
    if len(zones) < settings.az_count:
        raise SettingsError("azCount", settings.az_count, f"{region.name} offers only {len(offered)} zones: {offered}")
    return validate_zones(region.name, zones, ipaddress.IPv4Network(region.vpc_cidr), settings.subnet_layout, key="azCount")


def pulumi_yaml_config() -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml, derived from SCHEMA."""
    block: dict[str, dict[str, Any]] = {}
    for setting in SCHEMA:
        declaration: dict[str, Any] = {"type": setting.type, "description": setting.description, "default": setting.default}
        if setting.type == "array":
            declaration["items"] = {"type": "string"}
        block[setting.key] = declaration
    return block


def markdown_table() -> str:
    """The README's settings table, derived from SCHEMA."""
    rows = ["| Setting | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for setting in SCHEMA:
        default = json.dumps(setting.default) if setting.type != "string" else setting.default
        rows.append(f"| `{setting.key}` | {setting.type} | `{default}` | {setting.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import sys

    import yaml

    if sys.argv[1:] == ["markdown"]:
        print(markdown_table())
    else:
        print(yaml.safe_dump({"config": pulumi_yaml_config()}, sort_keys=False, width=1000), end="")
