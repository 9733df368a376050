"""ModelFleet: ALB across zones, config-driven health checks, locked-down security groups, IMDSv2 and rolling refresh."""

from __future__ import annotations

import base64
import math
import subprocess

import pytest

from components.boot_script import model_server_user_data
from components.fleet import refresh_preferences
from policy import rules
from tests.settings_helpers import parse

LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
ASG = "aws:autoscaling/group:Group"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LISTENER = "aws:lb/listener:Listener"


def security_group(run, region: str, suffix: str):
    return next(sg for sg in run.of_type(SG, region) if sg.name.endswith(suffix))


def test_load_balancer_spans_every_zone_of_its_region(prod):
    for region in prod.regions:
        lb = prod.one(LB, region=region)
        zones = {prod.by_id(subnet_id)["availabilityZone"] for subnet_id in lb["subnets"]}
        public = {s.id for s in prod.of_type("aws:ec2/subnet:Subnet", region) if s["tags"]["tier"] == "public"}
        assert set(lb["subnets"]) == public and len(zones) == len(lb["subnets"]) == 3
        assert all(prod.by_id(s)["tags"]["tier"] == "public" for s in lb["subnets"])
        assert lb["dropInvalidHeaderFields"] is True
        assert lb["internal"] is False


def test_internal_scheme_puts_the_load_balancer_in_private_subnets(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev", loadBalancerScheme="internal")
    lb = run.one(LB, region="us-east-1")
    assert lb["internal"] is True
    assert {run.by_id(s)["tags"]["tier"] for s in lb["subnets"]} == {"private"}


def test_deletion_protection_follows_the_stack(prod, dev):
    assert all(lb["enableDeletionProtection"] for lb in prod.of_type(LB))
    assert not any(lb["enableDeletionProtection"] for lb in dev.of_type(LB))


def test_target_group_health_check_carries_the_configured_values(pulumi_mocks):
    run = pulumi_mocks.run_stack(
        "dev",
        healthCheckPath="/v1/models",
        healthCheckPort="9000",
        healthCheckMatcher="200-299",
        healthCheckInterval=20,
        healthCheckTimeout=7,
        healthyThreshold=4,
        unhealthyThreshold=5,
        deregistrationDelay=45,
        slowStart=120,
    )
    for tg in run.of_type(TG):
        assert tg["healthCheck"] == {
            "enabled": True,
            "protocol": "HTTP",
            "path": "/v1/models",
            "port": "9000",
            "matcher": "200-299",
            "interval": 20,
            "timeout": 7,
            "healthyThreshold": 4,
            "unhealthyThreshold": 5,
        }
        assert tg["deregistrationDelay"] == 45
        assert tg["slowStart"] == 120
        assert tg["port"] == 8080
    # A separate health port must be reachable from the load balancer too.
    ports = {(r["fromPort"], r["toPort"]) for r in run.of_type(INGRESS, "us-east-1") if "servers-in" in r.name}
    assert ports == {(8080, 8080), (9000, 9000)}


def test_autoscaling_group_uses_pinned_template_version_elb_checks_and_every_private_subnet(prod):
    for region in prod.regions:
        asg = prod.one(ASG, region=region)
        template = prod.one(LT, region=region)
        assert asg["launchTemplate"] == {"id": template.id, "version": str(int(template.state["latest_version"]))}
        assert asg["launchTemplate"]["version"] != "$Latest"
        assert asg["healthCheckType"] == "ELB"
        assert asg["healthCheckGracePeriod"] == 600
        private = {s.id for s in prod.of_type("aws:ec2/subnet:Subnet", region) if s["tags"]["tier"] == "private"}
        assert set(asg["vpcZoneIdentifiers"]) == private and len(private) == 3
        assert asg["targetGroupArns"] == [prod.one(TG, region=region).state["arn"]]
        assert asg["instanceRefresh"]["strategy"] == "Rolling"
        assert (asg["minSize"], asg["maxSize"], asg["desiredCapacity"]) == (2, 8, 3)


def healthy_through_refresh(asg) -> list[int]:
    """Healthy instances at each moment of a refresh of the group at each size it can serve with, as Auto Scaling runs it.

    A batch keeps ceil(size x minimum %) in service but always replaces at least one instance; with a maximum above
    100 % replacements launch (and become healthy) before the batch is terminated (RefreshPreferences).
    """
    preferences = asg["instanceRefresh"]["preferences"]
    low, high = preferences["minHealthyPercentage"], preferences.get("maxHealthyPercentage", 100)
    lowest = []
    for size in range(max(1, int(asg["minSize"])), int(asg["maxSize"]) + 1):
        if high > 100:
            lowest.append(size)  # replacements are in service before anything is terminated
        else:
            batch = max(1, size - math.ceil(size * low / 100))
            lowest.append(size - batch)
    return lowest


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_template_change_never_takes_a_group_through_zero_healthy_servers(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    for asg in run.of_type(ASG):
        assert min(healthy_through_refresh(asg)) >= 1, (asg.region, asg["instanceRefresh"])
        assert rules.autoscaling_refresh_keeps_a_healthy_instance(ASG, asg.inputs, {}) == []


def test_groups_of_one_launch_first_and_larger_groups_keep_the_configured_percentage(dev, prod):
    # dev: a group of one in the primary, a pilot light (0, and 1 once promoted) in the standby.
    for asg in dev.of_type(ASG):
        assert asg["instanceRefresh"]["preferences"]["minHealthyPercentage"] == 100
        assert asg["instanceRefresh"]["preferences"]["maxHealthyPercentage"] == 110
    # prod: at least two servers, so a one-at-a-time refresh in place keeps one; no extra GPU capacity needed.
    for asg in prod.of_type(ASG):
        assert asg["instanceRefresh"]["preferences"]["minHealthyPercentage"] == 90
        assert asg["instanceRefresh"]["preferences"]["maxHealthyPercentage"] == 100


def test_replacing_every_server_at_once_launches_them_first():
    settings = parse(instanceRefreshMinHealthyPercentage=0, minSize=2, maxSize=8, desiredCapacity=3).fleet
    preferences = refresh_preferences(settings.capacity, settings)
    assert (preferences.min_healthy_percentage, preferences.max_healthy_percentage) == (100, 110)
    group = {"minSize": 2, "maxSize": 8, "instanceRefresh": {"preferences": {"minHealthyPercentage": 100, "maxHealthyPercentage": 110}}}
    assert min(healthy_through_refresh(group)) >= 1


def test_scaling_tracks_requests_per_target(prod):
    for region in prod.regions:
        policy = prod.one("aws:autoscaling/policy:Policy", region=region)
        spec = policy["targetTrackingConfiguration"]
        lb, tg = prod.one(LB, region=region), prod.one(TG, region=region)
        assert spec["predefinedMetricSpecification"] == {
            "predefinedMetricType": "ALBRequestCountPerTarget",
            "resourceLabel": f"{lb.state['arn_suffix']}/{tg.state['arn_suffix']}",
        }
        assert spec["targetValue"] == 100


def test_instances_accept_traffic_only_from_the_load_balancer(prod):
    for region in prod.regions:
        servers, lb = security_group(prod, region, "-servers"), security_group(prod, region, "-lb")
        rules = [r for r in prod.of_type(INGRESS, region) if r["securityGroupId"] == servers.id]
        assert rules, "servers need an ingress rule from the load balancer"
        for rule in rules:
            assert rule["referencedSecurityGroupId"] == lb.id
            assert "cidrIpv4" not in rule and "cidrIpv6" not in rule
            assert rule["fromPort"] == rule["toPort"] == 8000
        egress = [r for r in prod.of_type(EGRESS, region) if r["securityGroupId"] == servers.id]
        database = security_group(prod, region, f"database-{region}")
        assert sorted((r["fromPort"], r.get("cidrIpv4") or r["referencedSecurityGroupId"]) for r in egress) == sorted(
            [(443, "0.0.0.0/0"), (5432, database.id)]
        )


def test_load_balancer_accepts_only_configured_cidrs_on_80_and_443(pulumi_mocks):
    # prod's listeners (80 and 443) in one region, without the parts that do not touch the load balancer.
    one_region = {
        "regions": ["us-east-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16"], "availabilityZones": ["us-east-1=us-east-1a,us-east-1b,us-east-1c"],
        "certificateArns": ["us-east-1=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000001"],
        "azureEnabled": False, "drillsEnabled": False,
    }
    run = pulumi_mocks.run_stack("prod", ingressCidrs=["203.0.113.0/24", "198.51.100.0/24"], **one_region)
    assert run.regions == {"us-east-1"} and security_group(run, "us-east-1", "-lb")
    for region in run.regions:
        lb = security_group(run, region, "-lb")
        rules = [r for r in run.of_type(INGRESS, region) if r["securityGroupId"] == lb.id]
        assert {(r["fromPort"], r["cidrIpv4"]) for r in rules} == {
            (port, cidr) for port in (80, 443) for cidr in ("203.0.113.0/24", "198.51.100.0/24")
        }
        egress = [r for r in run.of_type(EGRESS, region) if r["securityGroupId"] == lb.id]
        servers = security_group(run, region, "-servers")
        assert [(r["fromPort"], r["toPort"], r.get("referencedSecurityGroupId"), r.get("cidrIpv4")) for r in egress] == [(8000, 8000, servers.id, None)]


def test_only_the_load_balancer_group_and_its_client_rules_carry_the_load_balancer_role(prod):
    for region in prod.regions:
        lb, servers = security_group(prod, region, "-lb"), security_group(prod, region, "-servers")
        assert lb["tags"]["role"] == "load-balancer" and "role" not in servers["tags"]
        rules = prod.of_type(INGRESS, region)
        assert {r["tags"]["role"] for r in rules if r["securityGroupId"] == lb.id} == {"load-balancer"}
        assert not any("tags" in r for r in rules if r["securityGroupId"] == servers.id)


def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(prod, dev):
    for run in (prod, dev):
        for template in run.of_type(LT):
            assert template["metadataOptions"]["httpTokens"] == "required"
            assert template["metadataOptions"]["httpEndpoint"] == "enabled"
            # The model server runs in a container: one hop more than the instance itself to reach IMDSv2.
            assert template["metadataOptions"]["httpPutResponseHopLimit"] == 2
            [volume] = template["blockDeviceMappings"]
            assert volume["ebs"]["encrypted"] == "true"
            assert template["imageId"].startswith(("ami-", "resolve:ssm:"))


def test_user_data_starts_the_configured_model_server(dev):
    script = base64.b64decode(dev.one(LT, region="us-east-1")["userData"]).decode()
    assert "ghcr.io/ggml-org/llama.cpp:server" in script
    assert "-p 8080:8080" in script and "--port 8080" in script
    assert "-hf ggml-org/Qwen2.5-0.5B-Instruct-GGUF" in script


def test_bash_runs_the_container_with_exactly_the_words_of_model_args(tmp_path):
    settings = parse(modelImage="ghcr.io/ggml-org/llama.cpp:server", modelArgs="""--chat-template '{{ "$HOME" }}; rm -rf /' -a "two words" --x=`id`""").fleet
    script = tmp_path / "boot.sh"
    script.write_text(model_server_user_data(settings.model_image, settings.model_args, settings.model_port))
    # The boot script as bash runs it, with docker and systemctl replaced by functions that print what they are given.
    stubs = 'systemctl() { :; }; docker() { [ "$1" = run ] && printf "%s\\n" "$@"; return 0; }; source "$0"'
    ran = subprocess.run(["bash", "-c", stubs, str(script)], capture_output=True, text=True, timeout=10, check=True)
    words = ran.stdout.splitlines()
    assert words[words.index("ghcr.io/ggml-org/llama.cpp:server") + 1 :] == ["--port", "8000", *settings.model_args]
    assert settings.model_args == ("--chat-template", '{{ "$HOME" }}; rm -rf /', "-a", "two words", "--x=`id`")


def test_instance_role_has_only_the_ssm_managed_policy(prod):
    for region in prod.regions:
        fleet = prod.one("ha-model-serving:aws:ModelFleet", name=f"fleet-{region}")
        owned = prod.descendants(fleet)
        [role] = [r for r in owned if r.type == "aws:iam/role:Role"]
        attachments = [r for r in owned if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"]
        assert [a["policyArn"] for a in attachments] == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
        assert all(a["role"] == role.state["name"] for a in attachments)
        assert not [r for r in owned if r.type == "aws:iam/rolePolicy:RolePolicy"]


def test_tls_listener_with_redirect_when_a_certificate_is_configured(prod):
    for region in prod.regions:
        listeners = {l["port"]: l for l in prod.of_type(LISTENER, region)}
        assert set(listeners) == {80, 443}
        https = listeners[443]
        assert https["protocol"] == "HTTPS"
        assert https["certificateArn"].startswith(f"arn:aws:acm:{region}:")
        assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
        assert https["defaultActions"][0]["type"] == "forward"
        redirect = listeners[80]["defaultActions"][0]
        assert redirect["type"] == "redirect"
        assert redirect["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    assert all(endpoint["endpoint"].startswith("https://") for endpoint in prod.outputs["regions"].values())


def test_plain_http_forward_only_without_a_certificate(dev):
    for region in dev.regions:
        [listener] = dev.of_type(LISTENER, region)
        assert (listener["port"], listener["protocol"]) == (80, "HTTP")
        assert listener["defaultActions"][0]["type"] == "forward"
    assert all(endpoint["endpoint"].startswith("http://") for endpoint in dev.outputs["regions"].values())


def test_servers_their_volumes_and_the_group_carry_the_stack_tags(prod, dev):
    # default_tags reach neither a launch template's tag specifications nor an autoscaling group's tag list.
    for run, stack in ((prod, "prod"), (dev, "dev")):
        stack_tags = {"project": "ha-model-serving", "stack": stack, "environment": stack}
        for region in run.regions:
            template = run.one(LT, region=region)
            specs = {spec["resourceType"]: spec["tags"] for spec in template["tagSpecifications"]}
            assert set(specs) == {"instance", "volume"}
            assert all(tags.items() >= stack_tags.items() and tags["Name"] for tags in specs.values()), specs
            group_tags = {tag["key"]: (tag["value"], tag["propagateAtLaunch"]) for tag in run.one(ASG, region=region)["tags"]}
            assert {key: group_tags[key] for key in stack_tags} == {key: (value, True) for key, value in stack_tags.items()}
