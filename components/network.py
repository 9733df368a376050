"""Network: one region's VPC with public, private and isolated subnets in every AZ."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import addressing

TYPE = "ha-model-serving:aws:Network"


@dataclass(frozen=True)
class NetworkArgs:
    """One region's VPC: its IPv4 block, the zones it spans (2 or more), the subnet layout and the NAT strategy."""

    cidr_block: str
    availability_zones: tuple[str, ...]
    layout: addressing.SubnetLayout
    nat_strategy: str  # none | single | one-per-az


def discover_availability_zones(provider: aws.Provider) -> list[str]:
    """Zones the region offers to every account (no opt-in Local or Wavelength Zones), in any state, sorted by name.

    Raises the invoke's exception when the region's EC2 API does not answer.
    """
    result = aws.get_availability_zones(
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(provider=provider),
    )
    return sorted(result.names)


class Network(pulumi.ComponentResource):
    """VPC with DNS, an internet gateway, NAT per the chosen strategy and a subnet per tier and AZ.

    Private subnets get one route table per AZ so that losing an AZ's NAT gateway
    only affects that AZ; isolated subnets have no route out of the VPC.
    """

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.availability_zones = args.availability_zones

        self.vpc = aws.ec2.Vpc(
            name,
            cidr_block=args.cidr_block,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": name},
            opts=child,
        )
        # The default security group allows all traffic between its members; strip its rules so nothing can use it by accident.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, tags={"Name": f"{name}-default-deny"}, opts=child
        )
        self.internet_gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags={"Name": name}, opts=child)

        self.public_subnets: dict[str, aws.ec2.Subnet] = {}
        self.private_subnets: dict[str, aws.ec2.Subnet] = {}
        self.isolated_subnets: dict[str, aws.ec2.Subnet] = {}
        for zone in args.availability_zones:
            cidrs = addressing.subnet_cidrs(args.cidr_block, zone, args.layout)
            self.public_subnets[zone] = self._subnet(name, "public", zone, cidrs["public"])
            self.private_subnets[zone] = self._subnet(name, "private", zone, cidrs["private"])
            self.isolated_subnets[zone] = self._subnet(name, "isolated", zone, cidrs["isolated"])

        self._route_public_subnets(name)
        self.nat_gateways = self._nat_gateways(name, args.nat_strategy)
        self.private_route_tables = self._route_private_subnets(name)
        self._route_isolated_subnets(name)

        self.vpc_id = self.vpc.id
        # Lives as long as the VPC (a destroy forgets it, AWS deletes it with the VPC): where a VPC function's
        # network interfaces are parked before the function is deleted.
        self.default_security_group_id = self.default_security_group.id
        self.public_subnet_ids = {zone: subnet.id for zone, subnet in self.public_subnets.items()}
        self.private_subnet_ids = {zone: subnet.id for zone, subnet in self.private_subnets.items()}
        self.isolated_subnet_ids = {zone: subnet.id for zone, subnet in self.isolated_subnets.items()}
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "isolated_subnet_ids": self.isolated_subnet_ids,
            }
        )

    def _subnet(self, name: str, tier: str, zone: str, cidr: str) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{name}-{tier}-{zone}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=zone,
            # Nothing is launched with a public address; the load balancer and NAT gateways bring their own.
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-{tier}-{zone}", "tier": tier},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _route_public_subnets(self, name: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        table = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"}, opts=child)
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=child,
        )
        for zone, subnet in self.public_subnets.items():
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child)

    def _nat_gateways(self, name: str, strategy: str) -> dict[str, aws.ec2.NatGateway]:
        """NAT gateways keyed by the AZ that hosts them."""
        if strategy == "none":
            return {}
        zones = list(self.public_subnets) if strategy == "one-per-az" else [min(self.public_subnets)]
        gateways: dict[str, aws.ec2.NatGateway] = {}
        for zone in zones:
            child = pulumi.ResourceOptions(parent=self)
            address = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"}, opts=child)
            gateways[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=address.id,
                subnet_id=self.public_subnets[zone].id,
                tags={"Name": f"{name}-nat-{zone}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
            )
        return gateways

    def _route_private_subnets(self, name: str) -> dict[str, aws.ec2.RouteTable]:
        child = pulumi.ResourceOptions(parent=self)
        tables: dict[str, aws.ec2.RouteTable] = {}
        for zone, subnet in self.private_subnets.items():
            table = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=self.vpc.id, tags={"Name": f"{name}-private-{zone}"}, opts=child)
            nat = self.nat_gateways.get(zone) or next(iter(self.nat_gateways.values()), None)
            if nat is not None:
                aws.ec2.Route(
                    f"{name}-private-{zone}-internet",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=child,
                )
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child)
            tables[zone] = table
        return tables

    def _route_isolated_subnets(self, name: str) -> None:
        child = pulumi.ResourceOptions(parent=self)
        table = aws.ec2.RouteTable(f"{name}-isolated", vpc_id=self.vpc.id, tags={"Name": f"{name}-isolated"}, opts=child)
        for zone, subnet in self.isolated_subnets.items():
            aws.ec2.RouteTableAssociation(f"{name}-isolated-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=child)
