"""The policy pack: every rule registered as mandatory, silent on both stacks, firing on a bad resource with a fix."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pulumi_policy
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.fleet import LOAD_BALANCER_ROLE_TAG
from policy import rules
from policy.rules import RULES, STACK_RULES

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = json.loads((ROOT / "policy" / "production.json").read_text())
RULES_BY_NAME = {rule.name: rule for rule in RULES}
STACK_RULES_BY_NAME = {rule.name: rule for rule in STACK_RULES}
LB_TAGS = {"role": "load-balancer"}


def violations(resource_type: str, props: dict[str, Any], config: dict[str, dict[str, Any]] | None = None) -> dict[str, list[str]]:
    """Every rule over one resource, as the pack runs them: rule name -> its messages (rules with none left out)."""
    found = {rule.name: rule.violations(resource_type, props, (config or {}).get(rule.name)) for rule in RULES}
    return {name: messages for name, messages in found.items() if messages}


@pytest.fixture(scope="module")
def stacks(dev, prod):
    return {"dev": dev, "prod": prod}


@pytest.mark.parametrize("stack, config", [("dev", {}), ("prod", PRODUCTION)], ids=["dev", "prod-as-production"])
def test_both_stacks_pass_every_rule(stacks, stack, config):
    run = stacks[stack]
    found = {f"{r.type} {r.name}": violations(r.type, r.inputs, config) for r in run.resources}
    assert {resource: v for resource, v in found.items() if v} == {}
    guarded = {r.type for r in run.resources} & set().union(*(rule.resource_types for rule in RULES))
    assert guarded >= {rules.SECURITY_GROUP, rules.INGRESS_RULE, rules.LAUNCH_TEMPLATE, rules.AUTOSCALING_GROUP, rules.LOAD_BALANCER}
    assert {rule.name: rule.violations([(r.type, r.inputs) for r in run.resources]) for rule in STACK_RULES} == {rule.name: [] for rule in STACK_RULES}


def test_a_stack_with_replicas_refuses_every_rds_managed_master_password():
    rule = STACK_RULES_BY_NAME["replicated-databases-own-their-password"]
    primary = {"engine": "postgres", "manageMasterUserPassword": True}
    replica = {"replicateSourceDb": UNKNOWN_STRING_VALUE}
    promoted_later = {"replicateSourceDb": UNKNOWN_STRING_VALUE, "manageMasterUserPassword": True}
    found = rule.violations([(rules.RDS_INSTANCE, primary), (rules.RDS_INSTANCE, replica), (rules.RDS_INSTANCE, promoted_later)])
    assert len(found) == 2 and all("manage_master_user_password=False" in message for message in found)
    # Without replicas RDS may manage the password; with them, the stack's own secret is the fix.
    assert rule.violations([(rules.RDS_INSTANCE, primary)]) == []
    assert rule.violations([(rules.RDS_INSTANCE, {"engine": "postgres", "password": "from-a-secret"}), (rules.RDS_INSTANCE, replica)]) == []


def test_production_config_demands_deletion_protection_the_dev_stack_does_not_have(stacks):
    dev_as_production = [violations(r.type, r.inputs, PRODUCTION) for r in stacks["dev"].resources]
    fired = [v["deletion-protection-in-production"] for v in dev_as_production if "deletion-protection-in-production" in v]
    stateful = stacks["dev"].of_type(rules.LOAD_BALANCER) + stacks["dev"].of_type(rules.RDS_INSTANCE)
    assert len(fired) == len(stateful) > 0
    assert all("deletion_protection=True" in message for messages in fired for message in messages)


@pytest.mark.parametrize("environment, config", [("dev", None), ("staging", None), ("prod", PRODUCTION)])
def test_settings_refuse_exactly_the_backup_retention_the_pack_refuses(environment, config):
    # CI previews prod with production.json and every other stack with the defaults (.github/workflows/preview.yml).
    from components.settings import SettingsError
    from tests.settings_helpers import parse

    prod_only = {"alertingEnabled": True, "alertEmails": ["oncall@example.com"]} if environment == "prod" else {}
    for days in range(1, 36):
        pack_accepts = not violations(rules.RDS_INSTANCE, {"backupRetentionPeriod": days}, config).get("database-backups-retained")
        try:
            parse(environment=environment, dbBackupRetentionDays=days, **prod_only)
            settings_accept = True
        except SettingsError:
            settings_accept = False
        assert settings_accept == pack_accepts, f"{environment}: {days} days"


def test_the_fleet_and_the_pack_agree_on_the_load_balancer_tag():
    assert dict([rules.LOAD_BALANCER_ROLE_TAG]) == LOAD_BALANCER_ROLE_TAG == LB_TAGS


OPEN_HTTPS = {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443}
TOKEN_METRIC = '<policies><inbound><base /><azure-openai-emit-token-metric namespace="m">{dimensions}</azure-openai-emit-token-metric></inbound><backend><forward-request /></backend></policies>'
SUBSCRIPTION_ID = '<dimension name="Subscription ID" />'
BACKEND_ID = '<dimension name="Backend ID" />'
OUTBOUND_TOKEN_METRIC = f'<policies><inbound /><outbound><azure-openai-emit-token-metric>{SUBSCRIPTION_ID}</azure-openai-emit-token-metric></outbound></policies>'
OUTBOUND_BACKEND_COUNT = f'<policies><inbound /><outbound><emit-metric name="Backend responses">{BACKEND_ID}</emit-metric></outbound></policies>'
ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:region-degraded"
BAD_AND_GOOD = [
    # rule, resource type, bad props, what the message tells to change, good props, policy config
    ("database-not-public", rules.RDS_INSTANCE, {"publiclyAccessible": True}, "publicly_accessible=False", {"publiclyAccessible": False}, None),
    ("database-not-public", rules.RDS_CLUSTER_INSTANCE, {"publiclyAccessible": True}, "publicly_accessible=False", {}, None),
    ("database-storage-encrypted", rules.RDS_INSTANCE, {"storageEncrypted": False}, "storage_encrypted=True", {"storageEncrypted": True}, None),
    ("database-storage-encrypted", rules.RDS_CLUSTER, {}, "storage_encrypted=True", {"storageEncrypted": True}, None),
    ("database-storage-encrypted", rules.RDS_INSTANCE, {}, "storage_encrypted=True", {"replicateSourceDb": "arn:aws:rds:us-east-1:123456789012:db:primary"}, None),
    ("database-multi-az", rules.RDS_INSTANCE, {"multiAz": False}, "multi_az=True", {"multiAz": True}, None),
    ("database-multi-az", rules.RDS_INSTANCE, {}, "multi_az=True", {"replicateSourceDb": "primary"}, None),
    ("database-backups-retained", rules.RDS_INSTANCE, {"backupRetentionPeriod": 7}, "backup_retention_period to at least 14", {"backupRetentionPeriod": 14}, {"minBackupRetentionDays": 14}),
    ("database-backups-retained", rules.RDS_CLUSTER, {}, "backup_retention_period to at least 7", {"backupRetentionPeriod": 7}, None),
    ("no-open-ingress", rules.INGRESS_RULE, {**OPEN_HTTPS, "fromPort": 22, "toPort": 22, "tags": LB_TAGS}, "port 22 is open to 0.0.0.0/0", {**OPEN_HTTPS, "tags": LB_TAGS}, None),
    ("no-open-ingress", rules.INGRESS_RULE, OPEN_HTTPS, "restrict it to known CIDRs", {**OPEN_HTTPS, "cidrIpv4": "203.0.113.0/24"}, None),
    ("no-open-ingress", rules.INGRESS_RULE, {"cidrIpv6": "::/0", "ipProtocol": "-1", "tags": LB_TAGS}, "open to ::/0", {"ipProtocol": "-1", "referencedSecurityGroupId": "sg-1"}, None),
    (
        "no-open-ingress",
        rules.SECURITY_GROUP,
        {"ingress": [{"protocol": "tcp", "fromPort": 80, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]}], "tags": LB_TAGS},
        "port 80-443 is open",
        {"ingress": [{"protocol": "tcp", "fromPort": 80, "toPort": 80, "cidrBlocks": ["0.0.0.0/0"]}], "tags": LB_TAGS},
        None,
    ),
    (
        "no-open-ingress",
        rules.SECURITY_GROUP_RULE,
        {"type": "ingress", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        "aws.vpc.SecurityGroupIngressRule",
        {"type": "egress", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        None,
    ),
    ("launch-template-imdsv2", rules.LAUNCH_TEMPLATE, {"metadataOptions": {"httpTokens": "optional"}}, "http_tokens='required'", {"metadataOptions": {"httpTokens": "required"}}, None),
    (
        "launch-template-encrypted-volumes",
        rules.LAUNCH_TEMPLATE,
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]},
        "EBS volume /dev/xvda is not encrypted: set ebs.encrypted='true'",
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}, {"deviceName": "/dev/sdb", "virtualName": "ephemeral0"}]},
        None,
    ),
    ("launch-template-encrypted-volumes", rules.LAUNCH_TEMPLATE, {}, "declare it with ebs.encrypted='true'", {"blockDeviceMappings": [{"ebs": {"encrypted": True}}]}, None),
    ("autoscaling-elb-health-checks", rules.AUTOSCALING_GROUP, {"healthCheckType": "EC2"}, "health_check_type='ELB'", {"healthCheckType": "ELB"}, None),
    ("autoscaling-multi-az", rules.AUTOSCALING_GROUP, {"vpcZoneIdentifiers": ["subnet-a"]}, "at least 2 availability zones", {"vpcZoneIdentifiers": ["subnet-a", "subnet-b"]}, None),
    ("load-balancer-drops-invalid-headers", rules.LOAD_BALANCER, {"dropInvalidHeaderFields": False}, "drop_invalid_header_fields=True", {"loadBalancerType": "network"}, None),
    ("lambda-url-authenticated", rules.LAMBDA_FUNCTION_URL, {"authorizationType": "NONE"}, "authorization_type='AWS_IAM'", {"authorizationType": "AWS_IAM"}, None),
    (
        "autoscaling-refresh-keeps-a-healthy-instance",
        rules.AUTOSCALING_GROUP,
        {"minSize": 1, "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 100}}},
        "min_healthy_percentage=100, max_healthy_percentage=110",
        {"minSize": 1, "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 110}}},
        None,
    ),
    (
        "autoscaling-refresh-keeps-a-healthy-instance",
        rules.AUTOSCALING_GROUP,
        {"minSize": 3, "instanceRefresh": {"preferences": {"minHealthyPercentage": 0}}},
        "can leave the group (smallest size 3, minimum healthy 0 %)",
        {"minSize": 3, "instanceRefresh": {"preferences": {"minHealthyPercentage": 90}}},
        None,
    ),
    (
        "autoscaling-refresh-keeps-a-healthy-instance",
        rules.AUTOSCALING_GROUP,
        {"minSize": 1, "instanceRefresh": {"preferences": {"minHealthyPercentage": 50, "maxHealthyPercentage": 200}}},
        "at most 100 above min_healthy_percentage",
        {"minSize": 1, "instanceRefresh": {"preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 200}}},
        None,
    ),
    (
        "database-engine-version-major-only",
        rules.RDS_INSTANCE,
        {"engine": "postgres", "engineVersion": "16.4"},
        "pin only the major version (16)",
        {"engine": "postgres", "engineVersion": "16.4", "autoMinorVersionUpgrade": False},
        None,
    ),
    ("database-engine-version-major-only", rules.RDS_INSTANCE, {"engineVersion": "16.4", "autoMinorVersionUpgrade": True}, "RDS upgrades on its own", {"engineVersion": "16"}, None),
    (
        "lambda-vpc-groups-released-on-destroy",
        rules.LAMBDA_FUNCTION,
        {"vpcConfig": {"subnetIds": ["subnet-a"], "securityGroupIds": ["sg-proxy"]}},
        "replace_security_groups_on_destroy=True",
        {"vpcConfig": {"subnetIds": ["subnet-a"], "securityGroupIds": ["sg-proxy"]}, "replaceSecurityGroupsOnDestroy": True, "replacementSecurityGroupIds": ["sg-default"]},
        None,
    ),
    (
        "lambda-vpc-groups-released-on-destroy",
        rules.LAMBDA_FUNCTION,
        {"vpcConfig": {"securityGroupIds": ["sg-proxy"]}, "replaceSecurityGroupsOnDestroy": True},
        "replacement_security_group_ids",
        {"runtime": "python3.12"},
        None,
    ),
    (
        "kms-key-policy-keeps-account-access",
        rules.KMS_KEY,
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": ["kms:Decrypt"], "Resource": "*"}]})},
        "locks the account out of its key",
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]})},
        None,
    ),
    ("kms-key-policy-keeps-account-access", rules.KMS_KEY, {"policy": "{not json"}, "not JSON", {"enableKeyRotation": True}, None),
    (
        "secret-name-free-after-destroy",
        rules.SECRET,
        {"name": "models-database"},
        "use name_prefix",
        {"namePrefix": "models-database-", "recoveryWindowInDays": 30},
        None,
    ),
    ("secret-name-free-after-destroy", rules.SECRET, {"name": "models-database", "recoveryWindowInDays": 7}, "recovery_window_in_days=0", {"name": "models-database", "recoveryWindowInDays": 0}, None),
    ("azure-openai-local-auth-disabled", rules.COGNITIVE_ACCOUNT, {"kind": "OpenAI", "properties": {"disableLocalAuth": False}}, "disable_local_auth=True", {"kind": "OpenAI", "properties": {"disableLocalAuth": True}}, None),
    ("front-door-https-only", rules.FRONT_DOOR_ROUTE, {"forwardingProtocol": "MatchRequest", "httpsRedirect": "Enabled"}, "forwarding_protocol='HttpsOnly'", {"forwardingProtocol": "HttpsOnly", "httpsRedirect": "Enabled"}, None),
    ("front-door-https-only", rules.FRONT_DOOR_ROUTE, {"forwardingProtocol": "HttpsOnly"}, "https_redirect='Enabled'", {"forwardingProtocol": "HttpsOnly", "supportedProtocols": ["Https"]}, None),
    ("apim-subscription-required", rules.APIM_API, {"subscriptionRequired": False}, "subscription_required=True", {}, None),
    (
        "azure-openai-custom-subdomain",
        rules.COGNITIVE_ACCOUNT,
        {"kind": "OpenAI", "properties": {"disableLocalAuth": True}},
        "set properties.custom_sub_domain_name",
        {"kind": "OpenAI", "properties": {"disableLocalAuth": True, "customSubDomainName": "models-swedencentral-k3x9q2"}},
        None,
    ),
    ("role-assignment-principal-type", rules.ROLE_ASSIGNMENT, {"principalId": "p", "scope": "/s"}, "set principal_type", {"principalId": "p", "principalType": "ServicePrincipal"}, None),
    # What the gateway's policy used to say: Backend ID in inbound, before any backend is chosen.
    ("apim-policy-placement", rules.APIM_API_POLICY, {"format": "rawxml", "value": TOKEN_METRIC.format(dimensions=BACKEND_ID)}, "only filled in in <outbound>", {"format": "rawxml", "value": TOKEN_METRIC.format(dimensions=SUBSCRIPTION_ID)}, None),
    ("apim-policy-placement", rules.APIM_API_POLICY, {"value": OUTBOUND_TOKEN_METRIC}, "<azure-openai-emit-token-metric> is not allowed in <outbound>: move it to inbound", {"value": OUTBOUND_BACKEND_COUNT}, None),
    ("apim-policy-placement", rules.APIM_API_POLICY, {"value": TOKEN_METRIC.format(dimensions='<dimension name="Model" />')}, "'Model' has no value", {"format": "xml-link", "value": "https://example.com/policy.xml"}, None),
    ("apim-policy-placement", rules.APIM_API_POLICY, {"value": TOKEN_METRIC.format(dimensions=SUBSCRIPTION_ID * 11)}, "at most 10", {"value": "not xml: the service validates it"}, None),
    ("deletion-protection-in-production", rules.LOAD_BALANCER, {"enableDeletionProtection": False}, "enable_deletion_protection=True", {"enableDeletionProtection": True}, {"production": True}),
    ("deletion-protection-in-production", rules.RDS_INSTANCE, {}, "set deletion_protection=True", {"deletionProtection": True}, {"production": True}),
    ("experiment-template-stop-condition", rules.FIS_EXPERIMENT_TEMPLATE, {"stopConditions": [{"source": "none"}]}, "source 'aws:cloudwatch:alarm'", {"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM_ARN}]}, None),
    ("experiment-template-stop-condition", rules.FIS_EXPERIMENT_TEMPLATE, {}, "no condition of source 'none'", {"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM_ARN}] * 2}, None),
    ("experiment-template-stop-condition", rules.FIS_EXPERIMENT_TEMPLATE, {"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM_ARN}, {"source": "none"}]}, "stop_conditions", {"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM_ARN}]}, None),
]


@pytest.mark.parametrize("rule, resource_type, bad, fix, good, config", BAD_AND_GOOD, ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_AND_GOOD)])
def test_rule_fires_on_a_bad_resource_with_the_fix_and_passes_a_good_one(rule, resource_type, bad, fix, good, config):
    messages = RULES_BY_NAME[rule].violations(resource_type, bad, config)
    assert messages and any(fix in message for message in messages), messages
    assert RULES_BY_NAME[rule].violations(resource_type, good, config) == []


def test_every_rule_has_a_firing_and_a_passing_case():
    assert {case[0] for case in BAD_AND_GOOD} == set(RULES_BY_NAME)


def test_deletion_protection_is_only_demanded_in_production():
    rule = RULES_BY_NAME["deletion-protection-in-production"]
    assert rule.violations(rules.LOAD_BALANCER, {"enableDeletionProtection": False}, {"production": False}) == []
    assert rule.violations(rules.LOAD_BALANCER, {"enableDeletionProtection": False}) == []


def test_rules_read_preview_properties_without_touching_unknown_values():
    group = unknown_checking_proxy({"healthCheckType": "ELB", "vpcZoneIdentifiers": [UNKNOWN_STRING_VALUE, UNKNOWN_STRING_VALUE]})
    rule = unknown_checking_proxy({**OPEN_HTTPS, "tags": LB_TAGS, "securityGroupId": UNKNOWN_STRING_VALUE})
    assert violations(rules.AUTOSCALING_GROUP, group) == {}
    assert violations(rules.INGRESS_RULE, rule) == {}
    # A new alarm's ARN is unknown at preview; the template still has its stop condition.
    template = unknown_checking_proxy({"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": UNKNOWN_STRING_VALUE}]})
    assert violations(rules.FIS_EXPERIMENT_TEMPLATE, template) == {}


@pytest.fixture
def registered(monkeypatch):
    """Runs the pack directory the way the Pulumi CLI does, capturing the PolicyPack instead of serving it."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: captured.update(kwargs))
    try:
        runpy.run_path(str(ROOT / "policy"), run_name="__main__")
        yield captured
    finally:
        sys.modules.pop("rules", None)  # the pack imports its sibling as the top-level module `rules`


def test_every_rule_is_registered_as_a_mandatory_policy_with_its_config(registered):
    assert registered["name"] == "ha-model-serving-guardrails"
    assert registered["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    policies = {policy.name: policy for policy in registered["policies"]}
    assert set(policies) == set(RULES_BY_NAME) | set(STACK_RULES_BY_NAME)
    for name in STACK_RULES_BY_NAME:
        assert isinstance(policies.pop(name), pulumi_policy.StackValidationPolicy)
    for name, policy in policies.items():
        assert policy.enforcement_level == pulumi_policy.EnforcementLevel.MANDATORY, name
        expected = dict(RULES_BY_NAME[name].config_schema)
        assert (policy.config_schema.properties if policy.config_schema else {}) == expected, name
    for rule_name, settings in PRODUCTION.items():
        assert set(settings) <= set(policies[rule_name].config_schema.properties), rule_name


def test_a_registered_stack_policy_reports_what_its_rule_finds(registered):
    policy = next(p for p in registered["policies"] if p.name == "replicated-databases-own-their-password")
    resources = [
        pulumi_policy.PolicyResource(rules.RDS_INSTANCE, props, f"urn:{name}", name, None, None, None, [], {})
        for name, props in (("primary", {"manageMasterUserPassword": True}), ("replica", {"replicateSourceDb": "arn:aws:rds:us-east-1:123456789012:db:primary"}))
    ]
    reported: list[str] = []
    policy.validate(pulumi_policy.StackValidationArgs(resources), lambda message, urn=None: reported.append(message))
    assert len(reported) == 1 and "manage_master_user_password=False" in reported[0]


def test_a_registered_policy_reports_the_rule_messages_with_config_defaults(registered):
    policy = next(p for p in registered["policies"] if p.name == "database-backups-retained")
    reported: list[str] = []
    args = pulumi_policy.ResourceValidationArgs(rules.RDS_INSTANCE, {"backupRetentionPeriod": 1}, "urn", "db", None, None, None)
    policy.validate(args, lambda message, urn=None: reported.append(message))
    assert reported == ["automated backups are kept 1 day(s): set backup_retention_period to at least 7"]


def test_the_pack_served_like_the_cli_runs_it_reports_mandatory_violations_with_its_config():
    # The CLI starts `python -m pulumi.policy <engine> <pack dir>`; the pack prints the port it analyzes on.
    pack = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(ROOT / "policy")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(pack.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            analyzer = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
            assert info.name == "ha-model-serving-guardrails" and len(info.policies) == len(RULES) + len(STACK_RULES)
            analyzer.Configure(
                analyzer_pb2.ConfigureAnalyzerRequest(
                    policyConfig={
                        name: analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY, properties=json_format.ParseDict(config, struct_pb2.Struct()))
                        for name, config in PRODUCTION.items()
                    }
                ),
                timeout=10,
            )
            # A subnet id unknown at preview is passed as Pulumi's unknown sentinel; no rule reads it.
            props = {"dropInvalidHeaderFields": False, "enableDeletionProtection": False, "subnets": [UNKNOWN_STRING_VALUE]}
            response = analyzer.Analyze(
                analyzer_pb2.AnalyzeRequest(type=rules.LOAD_BALANCER, properties=json_format.ParseDict(props, struct_pb2.Struct()), urn="urn:lb", name="lb"),
                timeout=10,
            )
    finally:
        pack.terminate()
        pack.wait(timeout=10)
    reported = {d.policyName: (d.enforcementLevel, d.message) for d in response.diagnostics}
    assert set(reported) == {"load-balancer-drops-invalid-headers", "deletion-protection-in-production"}
    assert all(level == analyzer_pb2.MANDATORY for level, _ in reported.values())
    assert "set enable_deletion_protection=True" in reported["deletion-protection-in-production"][1]
