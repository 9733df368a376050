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

import functools
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

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
LAMBDA_FUNCTION = "aws:lambda/function:Function"
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
COGNITIVE_ACCOUNT = "azure-native:cognitiveservices:Account"
FRONT_DOOR_ROUTE = "azure-native:cdn:Route"
APIM_API = "azure-native:apimanagement:Api"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
# API Management policy documents at each scope: service, product, API, operation.
APIM_API_POLICY = "azure-native:apimanagement:ApiPolicy"
APIM_POLICIES = frozenset(
    {
        "azure-native:apimanagement:Policy",
        "azure-native:apimanagement:ProductPolicy",
        APIM_API_POLICY,
        "azure-native:apimanagement:ApiOperationPolicy",
    }
)
# Where Microsoft's policy reference allows each policy ("Usage: Policy sections"), for the policies
# whose placement the service cannot be trusted to report before traffic flows.
APIM_POLICY_SECTIONS = {
    "azure-openai-emit-token-metric": frozenset({"inbound"}),
    "llm-emit-token-metric": frozenset({"inbound"}),
    "azure-openai-token-limit": frozenset({"inbound"}),
    "emit-metric": frozenset({"inbound", "outbound", "backend", "on-error"}),
}
APIM_METRIC_POLICIES = frozenset({"azure-openai-emit-token-metric", "llm-emit-token-metric", "emit-metric"})
# Dimensions the service fills in when a <dimension> has no value ("Default dimension names that may
# be used without value"); Backend ID only in the outbound section, once a backend has been chosen.
APIM_DEFAULT_DIMENSIONS = frozenset({"API ID", "Operation ID", "Product ID", "User ID", "Subscription ID", "Location", "Gateway ID", "Backend ID"})
APIM_OUTBOUND_ONLY_DIMENSIONS = frozenset({"Backend ID"})
APIM_MAX_DIMENSIONS = 10
FIS_EXPERIMENT_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"

# The backup minimums, each stated once: every stack's is the default of `database-backups-retained` (AWS
# Config's managed rule rds-cluster-backup-retention-check defaults to 7 days too); production's is the pack
# config CI previews and deploys prod with. Stack settings read both (components/settings/multi_region.py),
# so a stack they accept passes the pack.
MIN_BACKUP_RETENTION_DAYS = 7
PRODUCTION_CONFIG = Path(__file__).with_name("production.json")


@functools.cache  # read once: the settings ask on every prod parse
def production_min_backup_retention_days() -> int:
    """Days of backups production keeps: `minBackupRetentionDays` of database-backups-retained in PRODUCTION_CONFIG."""
    return int(json.loads(PRODUCTION_CONFIG.read_text())["database-backups-retained"]["minBackupRetentionDays"])

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
        """The rule's config: each key of its schema from `given` (the pack config for this policy), else its default."""
        return {key: (given or {}).get(key, schema["default"]) for key, schema in self.config_schema.items()}

    def violations(self, resource_type: str, props: Props, config: Config | None = None) -> list[str]:
        """What the rule finds wrong with one resource, one message per fix; none for a type it does not read."""
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


# Launch before terminating: the Auto Scaling console's preset (minimum 100 %, maximum 110 %).
LAUNCH_BEFORE_TERMINATING = (100, 110)
# What Auto Scaling accepts (RefreshPreferences): maximum 100-200, at most 100 above the minimum.
MAX_HEALTHY_RANGE = (100, 200)
MAX_HEALTHY_ABOVE_MIN = 100


def terminating_first_can_empty(smallest_size: int, min_healthy_percentage: int) -> bool:
    """Whether a terminate-first instance refresh (maximum healthy 100 %) can leave a group with no healthy instance.

    `smallest_size` is the fewest instances the group serves with (at least 1). Auto Scaling replaces at least
    one instance per batch, so a group of one loses its only instance even at a minimum of 100 %, and 0 %
    replaces every instance at once (RefreshPreferences.MinHealthyPercentage; alphagov/tech-ops#211).
    """
    return smallest_size <= 1 or min_healthy_percentage <= 0


def autoscaling_refresh_keeps_a_healthy_instance(resource_type: str, props: Props, config: Config) -> list[str]:
    refresh = props.get("instanceRefresh")
    if not refresh:
        return []
    preferences = refresh.get("preferences") or {}
    low = preferences.get("minHealthyPercentage", 90)  # Auto Scaling's defaults
    high = preferences.get("maxHealthyPercentage", 100)
    found = []
    if "maxHealthyPercentage" in preferences and not (MAX_HEALTHY_RANGE[0] <= high <= MAX_HEALTHY_RANGE[1] and high - low <= MAX_HEALTHY_ABOVE_MIN):
        found.append(
            f"instance refresh healthy percentages {low}-{high} are refused by Auto Scaling: max_healthy_percentage must be "
            f"{MAX_HEALTHY_RANGE[0]}-{MAX_HEALTHY_RANGE[1]} and at most {MAX_HEALTHY_ABOVE_MIN} above min_healthy_percentage"
        )
    smallest = max(1, props.get("minSize", 0))
    if high <= 100 and terminating_first_can_empty(smallest, low):
        found.append(
            f"an instance refresh terminates before it launches and can leave the group (smallest size {smallest}, minimum healthy {low} %) "
            f"with no healthy instance: launch first with min_healthy_percentage={LAUNCH_BEFORE_TERMINATING[0]}, "
            f"max_healthy_percentage={LAUNCH_BEFORE_TERMINATING[1]}"
        )
    return found


def database_engine_version_major_only(resource_type: str, props: Props, config: Config) -> list[str]:
    # RDS applies minor versions itself unless auto_minor_version_upgrade is off (the API's default is on); a
    # pinned minor makes the next update ask for a downgrade RDS refuses ("Cannot upgrade postgres from 16.8 to
    # 16.4"). The provider treats a major version as a prefix of the running one (engine_version docs).
    version = props.get("engineVersion")
    if props.get("autoMinorVersionUpgrade", True) is False or not isinstance(version, str) or version.count(".") == 0:
        return []
    return [f"engine_version {version} pins a minor version that RDS upgrades on its own: pin only the major version ({version.split('.')[0]})"]


def lambda_vpc_groups_released_on_destroy(resource_type: str, props: Props, config: Config) -> list[str]:
    # A deleted function's network interfaces keep its security groups for up to 45 minutes (terraform-provider-aws
    # #10329, pulumi-aws #2642); moving the function to other groups first frees them (PR #37624).
    groups = (props.get("vpcConfig") or {}).get("securityGroupIds") or []
    if not groups:
        return []
    if props.get("replaceSecurityGroupsOnDestroy") is not True or not props.get("replacementSecurityGroupIds"):
        return [
            "the function's security groups stay attached to Lambda's network interfaces for up to 45 minutes after it is deleted: "
            "set replace_security_groups_on_destroy=True and replacement_security_group_ids to groups that outlive it (the VPC's default group)"
        ]
    return []


def kms_key_policy_keeps_account_access(resource_type: str, props: Props, config: Config) -> list[str]:
    # KMS refuses a key policy that would lock the account out of the key (CreateKey, BypassPolicyLockoutSafetyCheck):
    # keep a statement that gives the account's root principal kms:*. Left out, KMS applies its default policy.
    policy = props.get("policy")
    if not isinstance(policy, str):
        return []
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return ["the key policy is not JSON"]
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        principal = (statement.get("Principal") or {}).get("AWS") if isinstance(statement.get("Principal"), Mapping) else None
        principals = principal if isinstance(principal, list) else [principal]
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") == "Allow" and "kms:*" in actions and any(str(p).endswith(":root") for p in principals):
            return []
    return ["the key policy does not give the account's root principal kms:*: KMS refuses a policy that locks the account out of its key"]


def secret_name_free_after_destroy(resource_type: str, props: Props, config: Config) -> list[str]:
    # Secrets Manager keeps a deleted secret's name for its recovery window: "You can't create this secret because a
    # secret with this name is already scheduled for deletion" (aws-controllers-k8s/community#2969).
    if "name" in props and props.get("recoveryWindowInDays", 30) != 0:
        return [
            "a fixed secret name stays taken for the recovery window after a destroy, so the next `pulumi up` fails: "
            "use name_prefix (or leave the name out), or set recovery_window_in_days=0"
        ]
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


def azure_openai_custom_subdomain(resource_type: str, props: Props, config: Config) -> list[str]:
    # Entra ID tokens are accepted only on an account's custom subdomain (learn.microsoft.com/azure/ai-services/authentication).
    properties = props.get("properties") or {}
    if properties.get("disableLocalAuth") is True and not properties.get("customSubDomainName"):
        return ["keys are disabled but Entra ID tokens need the account's own subdomain: set properties.custom_sub_domain_name"]
    return []


def role_assignment_principal_type(resource_type: str, props: Props, config: Config) -> list[str]:
    # Without it Azure looks a new identity up in Entra ID, which may not have replicated yet: PrincipalNotFound
    # (learn.microsoft.com/azure/role-based-access-control/role-assignments-template#new-service-principal).
    if not props.get("principalType"):
        return ["the assignment may fail with PrincipalNotFound for a just-created identity: set principal_type (e.g. 'ServicePrincipal')"]
    return []


def _policy_document(props: Props) -> ElementTree.Element | None:
    """The policy XML, or None for a linked document or one that does not parse (the service validates those itself)."""
    if props.get("format", "xml") not in ("xml", "rawxml"):
        return None
    try:
        return ElementTree.fromstring(props.get("value") or "")
    except ElementTree.ParseError:
        return None


def apim_policy_placement(resource_type: str, props: Props, config: Config) -> list[str]:
    document = _policy_document(props)
    if document is None:
        return []
    found = []
    for section in document:
        for element in section.iter():
            allowed = APIM_POLICY_SECTIONS.get(element.tag)
            if allowed is not None and section.tag not in allowed:
                found.append(f"<{element.tag}> is not allowed in <{section.tag}>: move it to {' or '.join(sorted(allowed))}")
            if element.tag in APIM_METRIC_POLICIES:
                found.extend(_metric_dimension_problems(element, section.tag))
    return found


def _metric_dimension_problems(metric: ElementTree.Element, section: str) -> list[str]:
    dimensions = metric.findall("dimension")
    found = [] if len(dimensions) <= APIM_MAX_DIMENSIONS else [f"<{metric.tag}> has {len(dimensions)} dimensions: at most {APIM_MAX_DIMENSIONS}"]
    for dimension in dimensions:
        name = dimension.get("name", "")
        if dimension.get("value") is not None:
            continue
        if name not in APIM_DEFAULT_DIMENSIONS:
            found.append(f"<{metric.tag}> dimension {name!r} has no value and is not one the service fills in: give it a value")
        elif name in APIM_OUTBOUND_ONLY_DIMENSIONS and section != "outbound":
            found.append(f"<{metric.tag}> dimension {name!r} is only filled in in <outbound>, not in <{section}>: drop it or count it in outbound")
    return found


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
        {"minBackupRetentionDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": MIN_BACKUP_RETENTION_DAYS}},
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
        "autoscaling-refresh-keeps-a-healthy-instance",
        "Instance refreshes launch before they terminate whenever terminating first could leave no healthy instance.",
        frozenset({AUTOSCALING_GROUP}),
        autoscaling_refresh_keeps_a_healthy_instance,
    ),
    Rule(
        "database-engine-version-major-only",
        "Databases with automatic minor upgrades pin only the engine's major version.",
        frozenset({RDS_INSTANCE, RDS_CLUSTER}),
        database_engine_version_major_only,
    ),
    Rule(
        "lambda-vpc-groups-released-on-destroy",
        "Functions in a VPC move to lasting security groups before they are deleted.",
        frozenset({LAMBDA_FUNCTION}),
        lambda_vpc_groups_released_on_destroy,
    ),
    Rule("kms-key-policy-keeps-account-access", "Key policies keep the account's access to the key.", frozenset({KMS_KEY}), kms_key_policy_keeps_account_access),
    Rule(
        "secret-name-free-after-destroy",
        "Secrets with a recovery window have no fixed name, so a destroyed stack can be created again.",
        frozenset({SECRET}),
        secret_name_free_after_destroy,
    ),
    Rule(
        "azure-openai-local-auth-disabled",
        "Azure OpenAI (Cognitive Services) accounts accept only Entra ID, no API keys.",
        frozenset({COGNITIVE_ACCOUNT}),
        azure_openai_local_auth_disabled,
    ),
    Rule("front-door-https-only", "Front Door routes serve and forward HTTPS only.", frozenset({FRONT_DOOR_ROUTE}), front_door_https_only),
    Rule(
        "azure-openai-custom-subdomain",
        "Azure OpenAI accounts without keys have the custom subdomain Entra ID tokens need.",
        frozenset({COGNITIVE_ACCOUNT}),
        azure_openai_custom_subdomain,
    ),
    Rule(
        "role-assignment-principal-type",
        "Role assignments name their principal's type, so a just-created identity is not looked up in Entra ID.",
        frozenset({ROLE_ASSIGNMENT}),
        role_assignment_principal_type,
    ),
    Rule(
        "apim-policy-placement",
        "API Management policies sit in the sections Microsoft's policy reference allows, with metric dimensions the service can fill in.",
        APIM_POLICIES,
        apim_policy_placement,
    ),
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


@dataclass(frozen=True)
class StackRule:
    """A guardrail that needs the whole stack: it reads every resource's (type, properties) at once."""

    name: str
    description: str
    check: Callable[[Sequence[tuple[str, Props]]], list[str]]

    def violations(self, resources: Sequence[tuple[str, Props]]) -> list[str]:
        """What the rule finds wrong across the stack's resources, given as (type, properties) pairs."""
        return self.check(resources)


def replicated_databases_own_their_password(resources: Sequence[tuple[str, Props]]) -> list[str]:
    # RDS creates no read replica of a source whose master password RDS manages in Secrets Manager (RDS User Guide,
    # "Password management with Amazon RDS and AWS Secrets Manager", Limitations; every engine but SQL Server). In a
    # stack with replicas any instance may become a source: a promoted replica is the source of the next ones.
    instances = [props for resource_type, props in resources if resource_type == RDS_INSTANCE]
    # The source's ARN is unknown at preview; that the property is set is enough.
    if not any("replicateSourceDb" in props for props in instances):
        return []
    return [
        "a database of a stack with read replicas has its master password managed by RDS, which then refuses to create "
        "replicas of it: set manage_master_user_password=False and keep the password in the stack's own secret"
        for props in instances
        if props.get("manageMasterUserPassword") is True
    ]


STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "replicated-databases-own-their-password",
        "In a stack with database read replicas, no database has an RDS-managed master password.",
        replicated_databases_own_their_password,
    ),
)
