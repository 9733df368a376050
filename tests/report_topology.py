"""Small synthetic stacks, as `Declared` records, for the report's unit tests.

They hold the resource types the program declares today and those it may declare
(databases, Route 53, Lambda, Azure), with just the inputs the report reads.
"""

from __future__ import annotations

from typing import Any

from offline import Declared

PROVIDER = "pulumi:providers:aws"


def declared(token: str, name: str, region: str | None, inputs: dict[str, Any], state: dict[str, Any] | None = None, parent: str | None = None) -> Declared:
    return Declared(
        type=token,
        name=name,
        urn=f"urn:pulumi:test::ha-model-serving::{token}::{name}",
        id=f"{name}-id",
        inputs=inputs,
        state={"name": f"{name}-physical", "arn": f"arn:{name}", **(state or {})},
        parent_urn=parent,
        provider_urn=None,
        region=region,
    )


def region_resources(region: str, zones: str, instance_type: str = "g5.xlarge", desired: int = 3, nat_zones: str | None = None, grace: int = 600) -> list[Declared]:
    """One region as Network and ModelFleet declare it: subnets per tier and AZ, NAT, ALB, target group, launch template, ASG."""
    resources = [declared(PROVIDER, f"aws-{region}", region, {"region": region}), declared("aws:ec2/vpc:Vpc", f"network-{region}", region, {"cidrBlock": "10.10.0.0/16"})]
    for letter in zones:
        for tier in ("public", "private", "isolated"):
            resources.append(
                declared("aws:ec2/subnet:Subnet", f"network-{region}-{tier}-{region}{letter}", region, {"availabilityZone": f"{region}{letter}", "tags": {"tier": tier}})
            )
    for letter in zones if nat_zones is None else nat_zones:
        resources.append(declared("aws:ec2/eip:Eip", f"network-{region}-nat-{region}{letter}", region, {}))
        resources.append(declared("aws:ec2/natGateway:NatGateway", f"network-{region}-nat-{region}{letter}", region, {"subnetId": f"network-{region}-public-{region}{letter}-id"}))
    public = [f"network-{region}-public-{region}{letter}-id" for letter in zones]
    private = [f"network-{region}-private-{region}{letter}-id" for letter in zones]
    resources += [
        declared("aws:lb/loadBalancer:LoadBalancer", f"fleet-{region}-lb", region, {"internal": False, "subnets": public}),
        declared("aws:lb/targetGroup:TargetGroup", f"fleet-{region}-tg", region, {"healthCheck": {"interval": 15.0, "healthyThreshold": 2.0}}),
        declared(
            "aws:ec2/launchTemplate:LaunchTemplate",
            f"fleet-{region}-server",
            region,
            {"instanceType": instance_type, "blockDeviceMappings": [{"ebs": {"volumeSize": 100.0}}]},
        ),
        declared(
            "aws:autoscaling/group:Group",
            f"fleet-{region}-servers",
            region,
            {
                "minSize": float(min(desired, 2)),
                "maxSize": 8.0,
                "desiredCapacity": float(desired),
                "vpcZoneIdentifiers": private,
                "healthCheckGracePeriod": float(grace),
                "targetGroupArns": [f"arn:fleet-{region}-tg"],
                "launchTemplate": {"id": f"fleet-{region}-server-id", "version": "1"},
            },
        ),
    ]
    return resources


def global_resources(policy: str, regions: list[str], interval: int = 30, threshold: int = 3) -> list[Declared]:
    """Route 53: a hosted zone, an HTTPS health check per region and an alias record per region."""
    resources = [declared("aws:route53/zone:Zone", "zone", "us-east-1", {"name": "models.example.com"})]
    for index, region in enumerate(regions):
        host = f"fleet-{region}-lb-abc.{region}.elb.amazonaws.com"
        resources.append(
            declared(
                "aws:route53/healthCheck:HealthCheck",
                f"health-{region}",
                "us-east-1",
                {"type": "HTTPS", "fqdn": host, "requestInterval": float(interval), "failureThreshold": float(threshold)},
            )
        )
        if policy == "failover":
            routing = {"failoverRoutingPolicies": [{"type": "PRIMARY" if index == 0 else "SECONDARY"}]}
        else:
            routing = {"latencyRoutingPolicies": [{"region": region}]}
        resources.append(
            declared(
                "aws:route53/record:Record",
                f"record-{region}",
                "us-east-1",
                {"aliases": [{"name": host, "zoneId": "Z35SXDOTRQ7X7K", "evaluateTargetHealth": True}], "healthCheckId": f"health-{region}-id", **routing},
            )
        )
    return resources


def database_resources(primary: str, replicas: list[str]) -> list[Declared]:
    resources = [
        declared(
            "aws:rds/instance:Instance",
            f"db-{primary}",
            primary,
            {"instanceClass": "db.r6g.large", "multiAz": True, "engine": "postgres", "allocatedStorage": 100.0},
        )
    ]
    for region in replicas:
        resources.append(
            declared(
                "aws:rds/instance:Instance",
                f"db-{region}",
                region,
                {"instanceClass": "db.r6g.large", "multiAz": False, "allocatedStorage": 100.0, "replicateSourceDb": f"arn:db-{primary}"},
            )
        )
    return resources


def azure_resources(apim_sku: str = "StandardV2") -> list[Declared]:
    profile = declared("azure-native:cdn:Profile", "front-door", None, {"sku": {"name": "Standard_AzureFrontDoor"}, "location": "global"})
    service = declared("azure-native:apimanagement:ApiManagementService", "gateway", None, {"sku": {"name": apim_sku, "capacity": 1.0}, "location": "eastus"})
    resources = [profile, service, declared("azure-native:cdn:AFDOrigin", "front-door-gateway", None, {"profileName": "front-door-physical"})]
    for location in ("eastus", "swedencentral"):
        resources.append(declared("azure-native:cognitiveservices:Account", f"openai-{location}", None, {"location": location, "kind": "OpenAI"}))
        resources.append(
            declared(
                "azure-native:cognitiveservices:Deployment",
                f"openai-{location}-gpt-4o-mini",
                None,
                {"accountName": f"openai-{location}-physical", "sku": {"name": "GlobalStandard", "capacity": 50.0}},
            )
        )
    return resources


def lambda_resources(region: str) -> list[Declared]:
    return [declared("aws:lambda/function:Function", f"proxy-{region}", region, {"memorySize": 512.0, "timeout": 60.0, "architectures": ["arm64"]})]


def replica_lag_alarm(threshold: float) -> Declared:
    return declared("aws:cloudwatch/metricAlarm:MetricAlarm", "db-replica-lag", "us-west-2", {"metricName": "ReplicaLag", "threshold": threshold})


def active_passive_stack(standby_desired: int = 0) -> tuple[list[Declared], dict[str, Any]]:
    """Primary us-east-1 (3 x g5.xlarge), standby us-west-2, failover records, a database pair, Lambda and Azure."""
    resources = (
        region_resources("us-east-1", "abc", desired=3)
        + region_resources("us-west-2", "abc", desired=standby_desired, nat_zones="a")
        + global_resources("failover", ["us-east-1", "us-west-2"])
        + database_resources("us-east-1", ["us-west-2"])
        + lambda_resources("us-east-1")
        + azure_resources()
    )
    return resources, {"topology": "active-passive", "primaryRegion": "us-east-1"}


def active_active_stack() -> tuple[list[Declared], dict[str, Any]]:
    regions = ["us-east-1", "us-west-2", "eu-west-1"]
    resources = [r for region in regions for r in region_resources(region, "abc")] + global_resources("latency", regions)
    return resources, {"topology": "active-active", "primaryRegion": "us-east-1"}
