"""ModelProxy: the failover runtime (failover/) deployed as a Lambda function in one region.

The function runs the same ASGI gateway as `python -m failover serve`, behind the AWS Lambda Web
Adapter (components/lambda_web_adapter.py), and streams answers through an IAM-authenticated
function URL in RESPONSE_STREAM mode. Its code is the package `python -m proxy_package` builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components import lambda_web_adapter
from components.firewall import allow_tcp
from components.settings import ProxySettings
from proxy_package import ProxyPackage

TYPE = "ha-model-serving:aws:ModelProxy"
CONFIG_ENV = "FAILOVER_CONFIG"
# Holds the Azure gateway's subscription key; the runtime sends it as the api-key header.
AZURE_KEY_ENV = "AZURE_GATEWAY_KEY"


@dataclass(frozen=True)
class ProxyUpstream:
    """One place the proxy may send a request: a region's model fleet or the Azure gateway."""

    name: str
    url: pulumi.Input[str]
    region: str
    priority: int = 0
    weight: int = 1
    # Known when the program runs (a region without a certificate serves plain HTTP), unlike the URL itself.
    tls: bool = True
    # Header name -> environment variable holding its value (e.g. the Azure gateway's api-key).
    headers_from_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelProxyArgs:
    """One region's proxy function: its upstreams in the order to try, the package, and the VPC it runs in.

    subnet_ids: the region's private subnets; secret_environment: variable name -> value, declared as a
    Pulumi secret (the Azure gateway's key).
    """

    region: str
    topology: str
    upstreams: tuple[ProxyUpstream, ...]
    settings: ProxySettings
    package: ProxyPackage  # the built, checked Lambda package (proxy_package.load())
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # A group that outlives the function (the VPC's default group): the function moves to it before it is deleted.
    parking_security_group_id: pulumi.Input[str]
    # Environment variable -> secret value (kept a Pulumi secret; encrypted at rest by Lambda).
    secret_environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


def ordered_upstreams(
    own_region: str,
    topology: str,
    primary_region: str,
    endpoints: Mapping[str, pulumi.Input[str]],
    plain_http_regions: frozenset[str] = frozenset(),
    azure_gateway_url: pulumi.Input[str] | None = None,
) -> tuple[ProxyUpstream, ...]:
    """Upstreams of the proxy in `own_region`, in the order the topology wants them tried.

    active-active: every region at priority 0 (the router prefers the caller's own
    region and spreads the rest by weight). active-passive: the primary first, then
    the standbys in stack order (a pilot-light standby has no servers until promoted,
    so even a standby's own proxy sends to the primary first). Azure, when enabled,
    is the last resort for a full AWS outage.
    """
    upstreams = []
    for rank, (region, url) in enumerate(_by_preference(own_region, topology, primary_region, endpoints)):
        priority = 0 if topology == "active-active" else rank
        upstreams.append(ProxyUpstream(name=f"aws-{region}", url=url, region=region, priority=priority, tls=region not in plain_http_regions))
    if azure_gateway_url is not None:
        last = max(upstream.priority for upstream in upstreams) + 1
        upstreams.append(
            ProxyUpstream(name="azure", url=azure_gateway_url, region="azure", priority=last, headers_from_env={"api-key": AZURE_KEY_ENV})
        )
    return tuple(upstreams)


def _by_preference(own_region: str, topology: str, primary_region: str, endpoints: Mapping[str, pulumi.Input[str]]):
    regions = list(endpoints)
    first = own_region if topology == "active-active" else primary_region
    return [(region, endpoints[region]) for region in [first] + [r for r in regions if r != first]]


def failover_config(topology: str, upstreams: Sequence[ProxyUpstream], settings: ProxySettings) -> pulumi.Output[str]:
    """The runtime's config document (same schema as the local gateway's YAML), as JSON."""
    resolved = pulumi.Output.all(*[upstream.url for upstream in upstreams])

    def document(urls: list[str]) -> str:
        return json.dumps(
            {
                "topology": topology,
                "upstreams": [
                    {
                        "name": upstream.name,
                        "url": url,
                        "region": upstream.region,
                        "priority": upstream.priority,
                        "weight": upstream.weight,
                        **({"headers_from_env": dict(upstream.headers_from_env)} if upstream.headers_from_env else {}),
                    }
                    for upstream, url in zip(upstreams, urls)
                ],
                **settings.router_config(),
            },
            sort_keys=True,
        )

    return resolved.apply(document)


class ModelProxy(pulumi.ComponentResource):
    """Lambda function behind an IAM-authenticated, streaming function URL, in the region's private subnets.

    Callers sign requests with SigV4 (service `lambda`) and need both `lambda:InvokeFunctionUrl` and
    `lambda:InvokeFunction` on the function (AWS Lambda docs, urls-auth: required for function URLs
    created from October 2025).
    """

    def __init__(self, name: str, args: ModelProxyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        # Named per project and stack, so dev and prod proxies in one account and region never share a log group.
        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=f"/aws/lambda/{pulumi.get_project()}-{pulumi.get_stack()}/{name}",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        self.security_group = self._security_group(name, args)
        self.role = self._role(name)

        environment: dict[str, pulumi.Input[str]] = {
            **lambda_web_adapter.streaming_environment(),
            CONFIG_ENV: failover_config(args.topology, args.upstreams, settings),
        }
        environment.update({key: pulumi.Output.secret(value) for key, value in args.secret_environment.items()})
        self.function = aws.lambda_.Function(
            name,
            runtime=args.package.runtime,
            architectures=[settings.architecture],
            # The adapter's bootstrap (AWS_LAMBDA_EXEC_WRAPPER) runs the handler script, which starts the gateway.
            handler=args.package.handler,
            layers=[lambda_web_adapter.layer_arn(args.region, settings.architecture)],
            # A prebuilt .zip is uploaded byte for byte, so the handler keeps its executable bit
            # (pulumi/pulumi#3593: archives Pulumi zips itself lose file modes).
            code=pulumi.FileArchive(str(args.package.archive)),
            role=self.role.arn,
            memory_size=settings.memory_size,
            timeout=settings.timeout,
            # Unset, not 0, when nothing is reserved: Lambda reads a reservation of 0 as "never run".
            reserved_concurrent_executions=settings.reserved_concurrency or None,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(subnet_ids=list(args.subnet_ids), security_group_ids=[self.security_group.id]),
            # Lambda keeps a deleted function's network interfaces, and with them its security group, for up to
            # 45 minutes (pulumi-aws #2642); moving the function to a lasting group first frees its own at once.
            replace_security_groups_on_destroy=True,
            replacement_security_group_ids=[args.parking_security_group_id],
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )
        self.function_url = aws.lambda_.FunctionUrl(
            name,
            function_name=self.function.name,
            authorization_type="AWS_IAM",
            # Streams as the gateway writes (up to 200 MB; beyond the first 6 MB at most 2 MB/s): AWS Lambda
            # docs, configuration-response-streaming. Matches the adapter's AWS_LWA_INVOKE_MODE.
            invoke_mode="RESPONSE_STREAM",
            opts=child,
        )
        self.url = self.function_url.function_url
        self.register_outputs({"url": self.url, "function_name": self.function.name})

    def _security_group(self, name: str, args: ModelProxyArgs) -> aws.ec2.SecurityGroup:
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            name, vpc_id=args.vpc_id, description="Model proxy: calls to model endpoints only, nothing inbound", tags={"Name": name}, opts=child
        )
        # Plain-HTTP endpoints exist only in stacks without certificates (dev); open port 80 only then.
        ports = sorted({443} | ({80} if any(not upstream.tls for upstream in args.upstreams) else set()))
        for port in ports:
            allow_tcp(
                f"{name}-out-{port}", direction="egress", security_group_id=group.id,
                port=port, cidr="0.0.0.0/0", description="model endpoints in every region", opts=child,
            )
        return group

    def _role(self, name: str) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            name,
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
                }
            ),
            description="Model proxy: its own log group and VPC network interfaces only",
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-runtime",
            role=role.id,
            policy=self.log_group.arn.apply(_runtime_policy),
            opts=child,
        )
        return role


def _runtime_policy(log_group_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"},
                {
                    # Lambda manages the function's network interfaces in the VPC; these actions take no resource-level scope.
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    "Resource": "*",
                },
            ],
        }
    )
