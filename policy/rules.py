"""Guardrail rules: pure functions over a resource's type and camelCase input properties.

Each rule returns the violations it finds, each saying what to change. The
pack (`__main__.py`) registers every rule as a mandatory policy; tests run the
same functions over the mocked stacks. Only standard-library imports: the
pack runs in its own virtual environment, without the project.

Properties arrive as Pulumi's policy SDK passes them: mappings and sequences
(not necessarily dict and list), where reading a value unknown at preview
raises, so a rule reads only what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

# The tag the fleet sets on its load balancer's security group and client rules (components/fleet.py).
LOAD_BALANCER_ROLE_TAG = ("role", "load-balancer")
PUBLIC_LISTENER_PORTS = frozenset({80, 443})
ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LAMBDA_FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
COGNITIVE_ACCOUNT = "azure-native:cognitiveservices:Account"
FRONT_DOOR_ROUTE = "azure-native:cdn:Route"
APIM_API = "azure-native:apimanagement:Api"
FIS_EXPERIMENT_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"

Props = Mapping[str, Any]
Config = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """One guardrail: which resource types it reads, what it checks, and the policy config it accepts."""

    name: str
    description: str
    resource_types: frozenset[str]
    check: Callable[[str, Props, Config], list[str]]
    # JSON-schema properties of the policy's config, each with its default.
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def config(self, given: Config | None) -> dict[str, Any]:
        return {key: (given or {}).get(key, schema["default"]) for key, schema in self.config_schema.items()}

    def violations(self, resource_type: str, props: Props, config: Config | None = None) -> list[str]:
        if resource_type not in self.resource_types:
            return []
        return self.check(resource_type, props, self.config(config))


def _is_replica_instance(resource_type: str, props: Props) -> bool:
    # A read replica inherits encryption, Multi-AZ choice and backups from the engine's replication, not from itself.
    return resource_type == RDS_INSTANCE and bool(props.get("replicateSourceDb"))


def _open_cidrs(rule: Props) -> set:
    """The everywhere-blocks among an inline or SecurityGroupRule's IPv4 and IPv6 CIDRs."""
    return ANYWHERE & {*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])}


def database_not_public(resource_type: str, props: Props, config: Config) -> list[str]:
    if props.get("publiclyAccessible") is True:
        return ["database is publicly accessible: set publicly_accessible=False and reach it from the private subnets"]
    return []


def database_storage_encrypted(resource_type: str, props: Props, config: Config) -> list[str]:
    if _is_replica_instance(resource_type, props):
        return []
    if props.get("storageEncrypted") is not True:
        return ["database storage is not encrypted: set storage_encrypted=True (and kms_key_id for a customer-managed key)"]
    return []


def database_multi_az(resource_type: str, props: Props, config: Config) -> list[str]:
    if _is_replica_instance(resource_type, props) or props.get("multiAz") is True:
        return []
    return ["primary database runs in one availability zone: set multi_az=True so a zone failure fails over to a standby"]


def database_backups_retained(resource_type: str, props: Props, config: Config) -> list[str]:
    if _is_replica_instance(resource_type, props):
        return []
    days, minimum = props.get("backupRetentionPeriod", 0), config["minBackupRetentionDays"]
    if days < minimum:
        return [f"automated backups are kept {days:g} day(s): set backup_retention_period to at least {minimum}"]
    return []


def _open_ingress_allowed(protocol: Any, from_port: Any, to_port: Any, tags: Any) -> bool:
    tagged = isinstance(tags, Mapping) and tags.get(LOAD_BALANCER_ROLE_TAG[0]) == LOAD_BALANCER_ROLE_TAG[1]
    return tagged and str(protocol).lower() in ("tcp", "6") and from_port == to_port and from_port in PUBLIC_LISTENER_PORTS


def _open_ingress_message(cidrs: set[str], from_port: Any, to_port: Any) -> str:
    ports = f"{from_port}" if from_port == to_port else f"{from_port}-{to_port}"
    return (
        f"ingress on port {ports} is open to {', '.join(sorted(cidrs))}: restrict it to known CIDRs or a source security group; "
        f"only the load balancer's listener ports 80 and 443 may be open, on rules tagged {'='.join(LOAD_BALANCER_ROLE_TAG)}"
    )


def no_open_ingress(resource_type: str, props: Props, config: Config) -> list[str]:
    if resource_type == SECURITY_GROUP:
        found = []
        for rule in props.get("ingress") or []:
            cidrs = _open_cidrs(rule)
            if cidrs and not _open_ingress_allowed(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"), props.get("tags")):
                found.append(_open_ingress_message(cidrs, rule.get("fromPort"), rule.get("toPort")))
        return found
    if resource_type == INGRESS_RULE:
        cidrs = ANYWHERE & {props.get("cidrIpv4"), props.get("cidrIpv6")}
        if cidrs and not _open_ingress_allowed(props.get("ipProtocol"), props.get("fromPort"), props.get("toPort"), props.get("tags")):
            return [_open_ingress_message(cidrs, props.get("fromPort"), props.get("toPort"))]
        return []
    # aws.ec2.SecurityGroupRule has no tags, so it can never be the load balancer's declared listener rule.
    if props.get("type") == "ingress":
        cidrs = _open_cidrs(props)
        if cidrs:
            return [
                _open_ingress_message(cidrs, props.get("fromPort"), props.get("toPort"))
                + " (an aws.vpc.SecurityGroupIngressRule, since aws.ec2.SecurityGroupRule has no tags)"
            ]
    return []


def launch_template_imdsv2(resource_type: str, props: Props, config: Config) -> list[str]:
    metadata = props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required":
        return ["instances may use IMDSv1: set metadata_options.http_tokens='required' (IMDSv2 only)"]
    return []


def launch_template_encrypted_volumes(resource_type: str, props: Props, config: Config) -> list[str]:
    mappings = [m for m in props.get("blockDeviceMappings") or [] if m.get("ebs") is not None]
    if not mappings:
        return ["no EBS volume is declared, so the root volume is only as encrypted as the image: declare it with ebs.encrypted='true'"]
    return [
        f"EBS volume {m.get('deviceName')} is not encrypted: set ebs.encrypted='true'"
        for m in mappings
        if str(m["ebs"].get("encrypted")).lower() != "true"
    ]


def autoscaling_elb_health_checks(resource_type: str, props: Props, config: Config) -> list[str]:
    if props.get("healthCheckType") != "ELB":
        return ["the group replaces only instances EC2 sees as failed: set health_check_type='ELB' so failed model servers are replaced"]
    return []


def autoscaling_multi_az(resource_type: str, props: Props, config: Config) -> list[str]:
    # Subnet ids are not known at preview; their count (one subnet per zone) is the closest proxy for zones.
    subnets = props.get("vpcZoneIdentifiers") or []
    zones = props.get("availabilityZones") or []
    if max(len(subnets), len(zones)) < 2:
        return ["the group can lose all capacity with one zone: give vpc_zone_identifiers subnets in at least 2 availability zones"]
    return []


def load_balancer_drops_invalid_headers(resource_type: str, props: Props, config: Config) -> list[str]:
    # Only application load balancers parse HTTP headers (the type defaults to application).
    if props.get("loadBalancerType", "application") == "application" and props.get("dropInvalidHeaderFields") is not True:
        return ["the load balancer forwards invalid HTTP header fields: set drop_invalid_header_fields=True"]
    return []


def lambda_url_authenticated(resource_type: str, props: Props, config: Config) -> list[str]:
    if props.get("authorizationType") == "NONE":
        return ["the function URL accepts unauthenticated calls: set authorization_type='AWS_IAM'"]
    return []


def azure_openai_local_auth_disabled(resource_type: str, props: Props, config: Config) -> list[str]:
    properties = props.get("properties") or {}
    if properties.get("disableLocalAuth") is not True:
        return ["the account accepts API keys: set properties.disable_local_auth=True and call it with Entra ID (managed identity)"]
    return []


def front_door_https_only(resource_type: str, props: Props, config: Config) -> list[str]:
    found = []
    if props.get("forwardingProtocol") != "HttpsOnly":
        found.append("the route may reach origins over HTTP: set forwarding_protocol='HttpsOnly'")
    # Azure's defaults: both protocols accepted, no redirect.
    accepts_http = "Http" in (props.get("supportedProtocols") or ["Http", "Https"])
    if accepts_http and props.get("httpsRedirect") != "Enabled":
        found.append("the route serves plain HTTP: set https_redirect='Enabled' (or supported_protocols=['Https'])")
    return found


def apim_subscription_required(resource_type: str, props: Props, config: Config) -> list[str]:
    # Omitted means required (the service default); only an explicit False opens the API.
    if props.get("subscriptionRequired") is False:
        return ["the API can be called without a subscription key: set subscription_required=True"]
    return []


def deletion_protection_in_production(resource_type: str, props: Props, config: Config) -> list[str]:
    if not config["production"]:
        return []
    key, setting = ("enableDeletionProtection", "enable_deletion_protection") if resource_type == LOAD_BALANCER else ("deletionProtection", "deletion_protection")
    if props.get(key) is not True:
        return [f"a production stateful resource can be deleted: set {setting}=True"]
    return []


def experiment_template_stops(resource_type: str, props: Props, config: Config) -> list[str]:
    # FIS accepts stop conditions of source "none", or none at all; then only the action durations end a fault.
    conditions = list(props.get("stopConditions") or [])
    # Keys only: an alarm ARN is not known at preview, and reading an unknown value raises.
    alarms = [c for c in conditions if c.get("source") == "aws:cloudwatch:alarm" and "value" in list(c)]
    if not conditions or len(alarms) != len(conditions):
        return [
            "the experiment template runs with nothing to stop it: give it stop_conditions with source 'aws:cloudwatch:alarm' "
            "and the ARN of an alarm that means stop now, and no condition of source 'none'"
        ]
    return []


RULES: tuple[Rule, ...] = (
    Rule("database-not-public", "Databases are never publicly accessible.", frozenset({RDS_INSTANCE, RDS_CLUSTER_INSTANCE}), database_not_public),
    Rule(
        "database-storage-encrypted",
        "Database storage is encrypted at rest (replicas inherit it from their source).",
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
        database_storage_encrypted,
    ),
    Rule("database-multi-az", "Primary database instances are Multi-AZ.", frozenset({RDS_INSTANCE}), database_multi_az),
    Rule(
        "database-backups-retained",
        "Primary databases keep automated backups for at least minBackupRetentionDays.",
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
        database_backups_retained,
        {"minBackupRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7}},
    ),
    Rule(
        "no-open-ingress",
        "No security group is open to 0.0.0.0/0 or ::/0, except the load balancer's listener ports 80 and 443.",
        frozenset({SECURITY_GROUP, INGRESS_RULE, SECURITY_GROUP_RULE}),
        no_open_ingress,
    ),
    Rule("launch-template-imdsv2", "Launch templates require IMDSv2.", frozenset({LAUNCH_TEMPLATE}), launch_template_imdsv2),
    Rule(
        "launch-template-encrypted-volumes",
        "Launch templates declare only encrypted EBS volumes.",
        frozenset({LAUNCH_TEMPLATE}),
        launch_template_encrypted_volumes,
    ),
    Rule(
        "autoscaling-elb-health-checks",
        "Autoscaling groups replace instances the load balancer sees as unhealthy.",
        frozenset({AUTOSCALING_GROUP}),
        autoscaling_elb_health_checks,
    ),
    Rule("autoscaling-multi-az", "Autoscaling groups span at least 2 availability zones.", frozenset({AUTOSCALING_GROUP}), autoscaling_multi_az),
    Rule(
        "load-balancer-drops-invalid-headers",
        "Application load balancers drop invalid HTTP header fields.",
        frozenset({LOAD_BALANCER}),
        load_balancer_drops_invalid_headers,
    ),
    Rule("lambda-url-authenticated", "Lambda function URLs require IAM authorization.", frozenset({LAMBDA_FUNCTION_URL}), lambda_url_authenticated),
    Rule(
        "azure-openai-local-auth-disabled",
        "Azure OpenAI (Cognitive Services) accounts accept only Entra ID, no API keys.",
        frozenset({COGNITIVE_ACCOUNT}),
        azure_openai_local_auth_disabled,
    ),
    Rule("front-door-https-only", "Front Door routes serve and forward HTTPS only.", frozenset({FRONT_DOOR_ROUTE}), front_door_https_only),
    Rule("apim-subscription-required", "API Management APIs require a subscription.", frozenset({APIM_API}), apim_subscription_required),
    Rule(
        "deletion-protection-in-production",
        "In production, databases and load balancers have deletion protection.",
        frozenset({RDS_INSTANCE, RDS_CLUSTER, LOAD_BALANCER}),
        deletion_protection_in_production,
        {"production": {"type": "boolean", "default": False}},
    ),
    Rule(
        "experiment-template-stop-condition",
        "Fault-injection experiment templates stop on CloudWatch alarms, never on nothing.",
        frozenset({FIS_EXPERIMENT_TEMPLATE}),
        experiment_template_stops,
    ),
)
