"""The one declaration of every setting: key, type, default and description.

``SCHEMA`` is the single source of ``Pulumi.yaml``'s config block, the README's settings table
(both generated: ``venv/bin/python -m components.settings`` and ``... markdown``) and what the
readers accept; tests keep the three in step. Pulumi's project config schema only knows strings,
integers, booleans and arrays, so per-region values are arrays of ``"<region>=<value>"`` entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from failover.config import Breaker
from policy.rules import MIN_BACKUP_RETENTION_DAYS, production_min_backup_retention_days

PROJECT = "ha-model-serving"
MAX_EJECTION = int(Breaker.max_ejection)  # seconds: the failover runtime's cap on an upstream's ejection


@dataclass(frozen=True)
class Setting:
    """One setting as Pulumi.yaml declares it."""

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
    Setting("availabilityZones", "array", [], "Pinned availability zones per region, as region=az1,az2,...; regions not listed use the first azCount of the region's zones by name, whatever their state, so an impaired zone never moves a deployed network."),
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
    Setting("amiId", "string", "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id", "AMI of the model servers (an image with Docker): an ami-... id, or resolve:ssm:<parameter name or ARN>[:<version or label>], which EC2 resolves at launch."),
    Setting("rootVolumeSize", "integer", 100, "Encrypted root volume size in GiB (model weights are cached there)."),
    Setting("modelImage", "string", "vllm/vllm-openai:v0.6.4", "Container image of the model server, as Docker names it: [registry/]repository[:tag][@digest], the repository in lower case."),
    Setting("modelArgs", "string", "--model Qwen/Qwen2.5-1.5B-Instruct", "Arguments passed to the model server container, split into words as a POSIX shell splits them (quote a word that holds spaces)."),
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
    Setting("proxyMemorySize", "integer", 512, "Proxy memory in MB (128-10240); also sizes the largest answer the proxy reads whole (an eighth) and one stream event (a thirty-second, at most 16 MiB)."),
    Setting("proxyTimeout", "integer", 120, "Seconds one proxied request may take in total, every attempt included (3-900)."),
    Setting("proxyReservedConcurrency", "integer", 50, "Concurrent executions reserved for the proxy in each region (1-1000), or 0 to share the account's unreserved pool (new accounts, whose limit is too small to reserve from)."),
    Setting("proxyLogRetentionDays", "integer", 30, "Retention of the proxy's log group, in days CloudWatch accepts."),
    Setting("proxyConnectTimeout", "integer", 2, "Seconds to connect to an upstream before failing over (1-30)."),
    Setting("proxyFirstByteTimeout", "integer", 30, "Seconds an upstream has to start answering before the proxy fails over."),
    Setting("proxyBreakerFailureThreshold", "integer", 3, "Consecutive failures that take an upstream out of rotation (1-100)."),
    Setting("proxyBreakerBaseEjection", "integer", 10, f"Seconds an upstream stays out after its first ejection; repeated ejections grow it up to the runtime's cap of {MAX_EJECTION} seconds (1-{MAX_EJECTION})."),
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
    Setting("dbFinalSnapshot", "boolean", True, "Keep a final snapshot of the primary database when it is deleted, with the KMS keys that restore it and the credential's 30-day recovery window; independent of deletionProtection, so lifting protection to destroy a stack keeps them. Always on in prod."),
    Setting("dbBackupRetentionDays", "integer", MIN_BACKUP_RETENTION_DAYS, f"Days of automated backups (1-35): at least {MIN_BACKUP_RETENTION_DAYS}, and {production_min_backup_retention_days()} in prod, the policy pack's minimums."),
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


# Each key once: how a reader finds a setting's type and default.
SCHEMA_BY_KEY = {setting.key: setting for setting in SCHEMA}


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
