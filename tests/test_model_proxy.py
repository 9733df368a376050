"""ModelProxy: the failover runtime as a locked-down, streaming Lambda per region, configured in the topology's order."""

from __future__ import annotations

import json
import shutil

import pytest

import proxy_package
from components.model_proxy import ModelProxy, ModelProxyArgs, ordered_upstreams
from components.settings import PROJECT
from failover.config import parse_config
from offline import runner
from tests.settings_helpers import parse, rejected

FUNCTION = "aws:lambda/function:Function"
URL = "aws:lambda/functionUrl:FunctionUrl"
ADAPTER_LAYERS = {  # aws/aws-lambda-web-adapter README, "Zip Packages": v1.0.0
    "arm64": "arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerArm64:27",
    "x86_64": "arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerX86:27",
}
ADAPTER_VARIABLES = {"AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_INVOKE_MODE", "AWS_LWA_PORT", "AWS_LWA_READINESS_CHECK_PATH", "AWS_LWA_READINESS_CHECK_HEALTHY_STATUS"}


def proxy_config(run, region: str):
    function = run.one(FUNCTION, region=region)
    return parse_config(json.loads(function["environment"]["variables"]["FAILOVER_CONFIG"]))


def test_one_proxy_per_region_behind_an_iam_function_url(prod):
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        function = prod.one(FUNCTION, region=region)
        assert (function["timeout"], function["memorySize"], function["reservedConcurrentExecutions"]) == (120, 512, 50)
        url = prod.one(URL, region=region)
        assert url["authorizationType"] == "AWS_IAM"
        assert url["functionName"] == function.state["name"]
        assert prod.outputs["regions"][region]["proxyUrl"] == url.state["function_url"]


def test_every_function_url_streams_in_both_stacks(dev, prod):
    for run in (dev, prod):
        urls = run.of_type(URL)
        assert len(urls) == len(run.regions)
        assert {url["invokeMode"] for url in urls} == {"RESPONSE_STREAM"}
        for function in run.of_type(FUNCTION):
            # The adapter must stream too, or it buffers what the function URL would stream.
            assert function["environment"]["variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_the_adapter_layer_and_wrapper_start_the_packaged_gateway_in_each_region(dev, prod):
    package = proxy_package.load()
    for run in (dev, prod):
        for region in run.regions:
            function = run.one(FUNCTION, region=region)
            assert function["architectures"] == ["arm64"]
            assert function["layers"] == [ADAPTER_LAYERS["arm64"].format(region=region)]
            variables = function["environment"]["variables"]
            assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
            assert (variables["AWS_LWA_READINESS_CHECK_PATH"], variables["AWS_LWA_READINESS_CHECK_HEALTHY_STATUS"]) == ("/health", "200")
            assert variables["AWS_LWA_PORT"] == "8080"  # not Lambda's Runtime API (9001) or Lambda Insights (3000)
            assert (function["handler"], function["runtime"]) == ("run.sh", "python3.12")
            assert function["code"].path == str(package.archive)


def test_an_x86_64_proxy_gets_the_x86_64_layer_of_its_region(pulumi_mocks):
    args = ModelProxyArgs(
        region="eu-west-1",
        topology="active-active",
        upstreams=ordered_upstreams("eu-west-1", "active-active", "eu-west-1", {"eu-west-1": "https://eu-west-1.models.example.com"}),
        settings=parse(proxyArchitecture="x86_64").proxy,
        package=proxy_package.load(),
        vpc_id="vpc-1",
        subnet_ids=["subnet-1"],
        parking_security_group_id="sg-default",
    )
    function = pulumi_mocks.run(lambda: ModelProxy("proxy-eu-west-1", args)).one(FUNCTION)
    assert function["architectures"] == ["x86_64"]
    assert function["layers"] == [ADAPTER_LAYERS["x86_64"].format(region="eu-west-1")]


def test_proxy_runs_in_the_private_subnets_with_outbound_https_only(prod, dev):
    for run, ports in ((prod, [443]), (dev, [80, 443])):
        for region in run.regions:
            function = run.one(FUNCTION, region=region)
            private = {s.id for s in run.of_type("aws:ec2/subnet:Subnet", region) if s["tags"]["tier"] == "private"}
            assert set(function["vpcConfig"]["subnetIds"]) == private
            [group_id] = function["vpcConfig"]["securityGroupIds"]
            ingress = [r for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", region) if r["securityGroupId"] == group_id]
            egress = [r for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", region) if r["securityGroupId"] == group_id]
            assert ingress == []
            assert sorted(r["fromPort"] for r in egress) == ports  # plain HTTP only where an endpoint has no certificate


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_destroy_frees_the_proxy_group_at_once_by_parking_the_function_in_the_vpc_default_group(stack, dev, prod):
    """Lambda keeps a deleted function's network interfaces (and their groups) for up to 45 minutes."""
    run = {"dev": dev, "prod": prod}[stack]
    for region in run.regions:
        function = run.one(FUNCTION, region=region)
        default_group = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", region=region)
        assert function["replaceSecurityGroupsOnDestroy"] is True
        # The VPC's default group is never deleted by a destroy (only forgotten), so nothing waits on it.
        assert function["replacementSecurityGroupIds"] == [default_group.id]
        assert default_group["vpcId"] == run.by_id(function["vpcConfig"]["subnetIds"][0])["vpcId"]
        assert function.urn not in default_group.dependencies and default_group.urn in function.dependencies


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_execution_role_may_write_its_own_logs_and_manage_its_network_interfaces_only(stack, request):
    run = request.getfixturevalue(stack)
    for region in run.regions:
        proxy = run.one("ha-model-serving:aws:ModelProxy", name=f"proxy-{region}")
        owned = run.descendants(proxy)
        [role] = [r for r in owned if r.type == "aws:iam/role:Role"]
        assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        [policy] = [r for r in owned if r.type == "aws:iam/rolePolicy:RolePolicy"]
        [log_group] = [r for r in owned if r.type == "aws:cloudwatch/logGroup:LogGroup"]
        statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
        assert statements["Logs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert statements["Logs"]["Resource"] == f"{log_group.state['arn']}:*"
        assert all(action.startswith("ec2:") and "*" not in action for action in statements["VpcNetworkInterfaces"]["Action"])
        assert set(statements) == {"Logs", "VpcNetworkInterfaces"}
        assert not [r for r in owned if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"]
        assert log_group["retentionInDays"] == 30
        assert log_group["name"] == f"/aws/lambda/{PROJECT}-{stack}/proxy-{region}"
        function = run.one(FUNCTION, region=region)
        assert function["loggingConfig"]["logGroup"] == log_group["name"]


def test_active_active_proxies_list_every_region_at_equal_priority(prod):
    for region in prod.regions:
        config = proxy_config(prod, region)
        assert config.topology == "active-active"
        aws_upstreams, [azure] = config.upstreams[:-1], config.upstreams[-1:]
        assert aws_upstreams[0].region == region
        assert {u.region for u in aws_upstreams} == {"us-east-1", "us-west-2", "eu-west-1"}
        assert {u.priority for u in aws_upstreams} == {0}
        assert all(u.url.startswith("https://") for u in config.upstreams)
        # prod has an Azure tier: Front Door in front of API Management is the last resort, keyed by a secret.
        assert azure.priority == 1 and azure.url == f"https://{prod.outputs['azure']['frontDoorHostname']}/openai"
        assert dict(azure.headers_from_env) == {"api-key": "AZURE_GATEWAY_KEY"}
        function = prod.one(FUNCTION, region=region)
        assert set(function["environment"]["variables"]) - ADAPTER_VARIABLES == {"FAILOVER_CONFIG", "AZURE_GATEWAY_KEY"}
        assert "environment" in function.secret_inputs


def test_active_passive_proxies_try_the_primary_first_in_every_region(dev):
    for region in dev.regions:
        config = proxy_config(dev, region)
        assert [(u.region, u.priority) for u in config.upstreams] == [("us-east-1", 0), ("us-west-2", 1)]
        assert config.upstreams[0].url == dev.outputs["regions"]["us-east-1"]["endpoint"]


def test_request_budget_ends_before_the_lambda_timeout(dev):
    config = proxy_config(dev, "us-east-1")
    function = dev.one(FUNCTION, region="us-east-1")
    assert config.timeouts.total < function["timeout"]
    assert config.timeouts.first_byte == 30 and config.timeouts.connect == 2


def test_azure_gateway_is_the_last_resort_with_its_key_from_the_environment():
    upstreams = ordered_upstreams("us-west-2", "active-passive", "us-east-1", {"us-east-1": "https://a", "us-west-2": "https://b"}, azure_gateway_url="https://fd")
    assert [(u.name, u.priority) for u in upstreams] == [("aws-us-east-1", 0), ("aws-us-west-2", 1), ("azure", 2)]
    assert upstreams[-1].headers_from_env == {"api-key": "AZURE_GATEWAY_KEY"}


@pytest.mark.parametrize(
    "spoil, named",
    [
        (lambda build_dir: (build_dir / "manifest.json").unlink(), "proxy/manifest.json); build it with: venv/bin/python -m proxy_package"),
        (lambda build_dir: _record(build_dir, "failover/router.py", "0" * 64), "is stale: failover/router.py changed since it was built; build it with:"),
        (lambda build_dir: (build_dir / "proxy.zip").write_bytes(b"PK"), "proxy.zip is missing or differs from its manifest; build it with:"),
    ],
)
def test_the_program_refuses_a_missing_or_stale_package_before_declaring_anything(pulumi_mocks, monkeypatch, tmp_path, spoil, named):
    build_dir = tmp_path / "proxy"
    built = proxy_package.load()
    build_dir.mkdir()
    for name in ("manifest.json", "proxy.zip"):
        shutil.copy(built.archive.parent / name, build_dir / name)
    spoil(build_dir)
    monkeypatch.setattr(proxy_package, "BUILD_DIR", build_dir)
    monitors = []

    class Watched(runner.RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    monkeypatch.setattr(runner, "RecordingMonitor", Watched)
    with pytest.raises(proxy_package.ProxyPackageError) as refused:
        pulumi_mocks.run_stack("dev", cached=False)
    assert named in str(refused.value)
    assert [monitor.registrations for monitor in monitors] == [[]]


def _record(build_dir, path: str, digest: str) -> None:
    manifest = json.loads((build_dir / "manifest.json").read_text())
    manifest["inputs"][path] = digest
    (build_dir / "manifest.json").write_text(json.dumps(manifest))


def test_no_reservation_leaves_concurrency_unset_rather_than_zero(dev):
    # A reservation of 0 would stop the function from running at all.
    assert len(dev.of_type(FUNCTION)) == 2
    assert all("reservedConcurrentExecutions" not in f for f in dev.of_type(FUNCTION))


def test_proxy_can_be_turned_off(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev", proxyEnabled=False)
    assert run.of_type(FUNCTION) == []
    assert all("proxyUrl" not in region for region in run.outputs["regions"].values())


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("proxyArchitecture", {"proxyArchitecture": "arm"}, "allowed values are 'arm64', 'x86_64'"),
        (
            "regions",
            # Bahrain: a commercial region the layer is not published in (one stack never mixes partitions).
            {"regions": ["us-east-1", "me-south-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16", "me-south-1=10.20.0.0/16"]},
            "Lambda Web Adapter layer is not published in ['me-south-1']",
        ),
        ("proxyTimeout", {"proxyTimeout": 901}, "between 3 and 900"),
        ("proxyFirstByteTimeout", {"proxyFirstByteTimeout": 120}, "proxyTimeout - 1 (119)"),
        ("proxyLogRetentionDays", {"proxyLogRetentionDays": 2}, "allowed values are 1, 3, 5"),
        ("proxyMemorySize", {"proxyMemorySize": 64}, "between 128 and 10240"),
        ("natStrategy", {"natStrategy": "none"}, "needs NAT"),
    ],
)
def test_bad_proxy_setting_is_rejected_with_its_key(key, overrides, fragment):
    assert fragment in str(rejected(key, **overrides))


def test_no_nat_is_fine_without_a_proxy():
    assert parse(natStrategy="none", proxyEnabled=False).nat_strategy == "none"


def test_regions_without_the_adapter_layer_are_fine_without_a_proxy():
    settings = parse(regions=["us-east-1", "me-south-1"], vpcCidrs=["us-east-1=10.10.0.0/16", "me-south-1=10.20.0.0/16"], proxyEnabled=False)
    assert settings.region_names == ("us-east-1", "me-south-1")


def test_https_regions_without_a_domain_are_refused_while_the_proxy_verifies_tls():
    certificate = ["us-east-1=arn:aws:acm:us-east-1:123456789012:certificate/abc-123"]
    assert "<region>.<domainName>" in str(rejected("domainName", certificateArns=certificate))
    assert parse(certificateArns=certificate, proxyEnabled=False).proxy.enabled is False
