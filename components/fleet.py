"""ModelFleet: one region's model servers behind an Application Load Balancer."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.boot_script import model_server_user_data
from components.firewall import allow_tcp
from components.settings import Capacity, FleetSettings
# One reading of Auto Scaling's refresh rules, shared with the policy pack that checks any program.
from policy.rules import LAUNCH_BEFORE_TERMINATING, terminating_first_can_empty

TYPE = "ha-model-serving:aws:ModelFleet"
SSM_MANAGED_INSTANCE_POLICY = "policy/AmazonSSMManagedInstanceCore"
# Marks the load balancer's group and its client rules: the policy pack lets only these open 80/443 to the internet.
LOAD_BALANCER_ROLE_TAG = {"role": "load-balancer"}
# Load balancer and target group names are at most 32 characters (elbv2 CreateLoadBalancer, CreateTargetGroup), and
# Pulumi's name for them is the logical name plus "-" and 7 random characters (pulumi-aws #1932).
ELB_NAME_MAX = 32
AUTONAME_SUFFIX = 8


@dataclass(frozen=True)
class ModelFleetArgs:
    """One region's fleet: the VPC and subnets it runs in, the fleet settings and this region's capacity.

    load_balancer_subnet_ids: public subnets, or private ones for an internal load balancer; instance_subnet_ids:
    private subnets, one per zone; certificate_arn: the region's ACM certificate, None for plain HTTP.
    """

    vpc_id: pulumi.Input[str]
    load_balancer_subnet_ids: Sequence[pulumi.Input[str]]
    instance_subnet_ids: Sequence[pulumi.Input[str]]
    settings: FleetSettings
    # Per region: a standby region may run with less than the fleet's full capacity.
    capacity: Capacity
    certificate_arn: str | None
    deletion_protection: bool
    # The stack's tags, for what the group launches: the provider's default_tags reach only a resource's own
    # `tags`, never a launch template's tag specifications or an autoscaling group's per-tag list
    # (terraform-provider-aws #19387, terraform-aws-modules/terraform-aws-eks #1916). Fault-injection
    # targets and IAM conditions select the servers by these tags.
    instance_tags: Mapping[str, str] = field(default_factory=dict)


def refresh_preferences(capacity: Capacity, settings: FleetSettings) -> aws.autoscaling.GroupInstanceRefreshPreferencesArgs:
    """How a launch template change rolls through the group: never through zero healthy model servers.

    A group that can serve with a single server (a dev fleet, a standby, a pilot light once promoted) would lose
    it to a terminate-first refresh, whatever the minimum healthy percentage: such groups launch each replacement
    first and wait for it to be healthy (Auto Scaling's launch-before-terminating preset, 100-110 %). Larger groups
    keep instanceRefreshMinHealthyPercentage and replace in place, with no extra capacity (GPU quota) needed.
    """
    smallest_serving = max(1, capacity.min_size)
    low, high = settings.instance_refresh_min_healthy_percentage, 100
    if terminating_first_can_empty(smallest_serving, low):
        low, high = LAUNCH_BEFORE_TERMINATING
    return aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
        min_healthy_percentage=low,
        max_healthy_percentage=high,
        instance_warmup=str(settings.health_check_grace_period),
    )


class ModelFleet(pulumi.ComponentResource):
    """ALB, health-checked target group, listeners, launch template, autoscaling group and scaling policy."""

    def __init__(self, name: str, args: ModelFleetArgs, opts: pulumi.ResourceOptions | None = None):
        for logical in (f"{name}-lb", f"{name}-tg"):
            if len(logical) + AUTONAME_SUFFIX > ELB_NAME_MAX:
                raise ValueError(
                    f"{logical}: load balancer and target group names get {AUTONAME_SUFFIX} characters appended and may be at most "
                    f"{ELB_NAME_MAX}; give the fleet a name of at most {ELB_NAME_MAX - AUTONAME_SUFFIX - 3} characters"
                )
        super().__init__(TYPE, name, None, opts)
        settings = args.settings
        self.has_tls = args.certificate_arn is not None
        self.capacity = args.capacity

        self.load_balancer_security_group, self.instance_security_group = self._security_groups(name, args)
        self.target_group = self._target_group(name, args)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-lb",
            load_balancer_type="application",
            internal=settings.load_balancer_scheme == "internal",
            subnets=list(args.load_balancer_subnet_ids),
            security_groups=[self.load_balancer_security_group.id],
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            # Model responses can take minutes; the default 60 s would cut long generations.
            idle_timeout=300,
            tags={"Name": f"{name}-lb"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.listeners = self._listeners(name, args)
        self.launch_template = self._launch_template(name, args)
        self.autoscaling_group = self._autoscaling_group(name, args)
        self.scaling_policy = aws.autoscaling.Policy(
            f"{name}-requests-per-target",
            autoscaling_group_name=self.autoscaling_group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                target_value=settings.requests_per_target,
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=pulumi.Output.concat(self.load_balancer.arn_suffix, "/", self.target_group.arn_suffix),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        scheme = "https" if self.has_tls else "http"
        self.endpoint = pulumi.Output.concat(scheme, "://", self.load_balancer.dns_name)
        self.register_outputs({"endpoint": self.endpoint})

    def _security_groups(self, name: str, args: ModelFleetArgs) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        load_balancer = aws.ec2.SecurityGroup(
            f"{name}-lb", vpc_id=args.vpc_id, description="Model load balancer: HTTP(S) from allowed clients", tags={"Name": f"{name}-lb", **LOAD_BALANCER_ROLE_TAG}, opts=child
        )
        instances = aws.ec2.SecurityGroup(
            f"{name}-servers", vpc_id=args.vpc_id, description="Model servers: model port from the load balancer only", tags={"Name": f"{name}-servers"}, opts=child
        )

        listener_ports = [80, 443] if self.has_tls else [80]
        for port in listener_ports:
            for cidr in settings.ingress_cidrs:
                allow_tcp(
                    f"{name}-lb-in-{port}-{cidr.replace('/', '_')}", direction="ingress", security_group_id=load_balancer.id,
                    port=port, cidr=cidr, description=f"clients on {port}", tags=LOAD_BALANCER_ROLE_TAG, opts=child,
                )

        for port in self._instance_ports(settings):
            allow_tcp(
                f"{name}-lb-out-{port}", direction="egress", security_group_id=load_balancer.id,
                port=port, peer_group_id=instances.id, description="to model servers", opts=child,
            )
            allow_tcp(
                f"{name}-servers-in-{port}", direction="ingress", security_group_id=instances.id,
                port=port, peer_group_id=load_balancer.id, description="from the load balancer", opts=child,
            )
        # Servers pull their container image and model weights over HTTPS (through NAT); nothing else leaves.
        allow_tcp(
            f"{name}-servers-out-https", direction="egress", security_group_id=instances.id,
            port=443, cidr="0.0.0.0/0", description="image and model downloads", opts=child,
        )
        return load_balancer, instances

    @staticmethod
    def _instance_ports(settings: FleetSettings) -> list[int]:
        port = settings.health_check.port
        ports = {settings.model_port} | ({int(port)} if port.isdigit() else set())
        return sorted(ports)

    def _target_group(self, name: str, args: ModelFleetArgs) -> aws.lb.TargetGroup:
        settings = args.settings
        check = settings.health_check
        return aws.lb.TargetGroup(
            f"{name}-tg",
            vpc_id=args.vpc_id,
            target_type="instance",
            protocol="HTTP",
            port=settings.model_port,
            deregistration_delay=settings.deregistration_delay,
            slow_start=settings.slow_start,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                path=check.path,
                port=check.port,
                matcher=check.matcher,
                interval=check.interval_seconds,
                timeout=check.timeout_seconds,
                healthy_threshold=check.healthy_threshold,
                unhealthy_threshold=check.unhealthy_threshold,
            ),
            tags={"Name": f"{name}-tg"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _listeners(self, name: str, args: ModelFleetArgs) -> list[aws.lb.Listener]:
        child = pulumi.ResourceOptions(parent=self)
        forward = aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)
        if not self.has_tls:
            return [aws.lb.Listener(f"{name}-http", load_balancer_arn=self.load_balancer.arn, port=80, protocol="HTTP", default_actions=[forward], opts=child)]
        https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=args.settings.ssl_policy,
            certificate_arn=args.certificate_arn,
            default_actions=[forward],
            opts=child,
        )
        redirect = aws.lb.Listener(
            f"{name}-http-redirect",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
                )
            ],
            opts=child,
        )
        return [https, redirect]

    def _instance_profile(self, name: str) -> aws.iam.InstanceProfile:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-server",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
                }
            ),
            description="Model servers: Session Manager access only",
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        aws.iam.RolePolicyAttachment(
            f"{name}-server-ssm",
            role=role.name,
            policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:", SSM_MANAGED_INSTANCE_POLICY),
            opts=child,
        )
        return aws.iam.InstanceProfile(f"{name}-server", role=role.name, opts=child)

    def _launch_template(self, name: str, args: ModelFleetArgs) -> aws.ec2.LaunchTemplate:
        settings = args.settings
        profile = self._instance_profile(name)
        return aws.ec2.LaunchTemplate(
            f"{name}-server",
            image_id=settings.ami_id,
            instance_type=settings.instance_type,
            vpc_security_group_ids=[self.instance_security_group.id],
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # 2 hops so the model server container can still reach IMDSv2 through Docker's bridge.
                http_put_response_hop_limit=2,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=settings.root_volume_size,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            user_data=base64.b64encode(model_server_user_data(settings.model_image, settings.model_args, settings.model_port).encode()).decode(),
            update_default_version=True,
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**args.instance_tags, "Name": f"{name}-server"})
                for kind in ("instance", "volume")
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _autoscaling_group(self, name: str, args: ModelFleetArgs) -> aws.autoscaling.Group:
        settings = args.settings
        return aws.autoscaling.Group(
            f"{name}-servers",
            vpc_zone_identifiers=list(args.instance_subnet_ids),
            min_size=args.capacity.min_size,
            max_size=args.capacity.max_size,
            desired_capacity=args.capacity.desired,
            health_check_type="ELB",
            health_check_grace_period=settings.health_check_grace_period,
            target_group_arns=[self.target_group.arn],
            # A pinned version (not $Latest) is what makes a launch template change start an instance refresh.
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id,
                version=self.launch_template.latest_version.apply(lambda version: str(int(version))),
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=refresh_preferences(args.capacity, settings),
            ),
            # A scaling run never waits for model servers to load; the target group's health checks gate traffic.
            wait_for_capacity_timeout="0",
            # Published to CloudWatch so an alarm sees the group fall below its minimum.
            enabled_metrics=["GroupInServiceInstances"],
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in {**args.instance_tags, "Name": f"{name}-server"}.items()
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # Target tracking (and the failover runbook) move desired capacity; a later deploy must not undo them.
                ignore_changes=["desiredCapacity"],
            ),
        )
