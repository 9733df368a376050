"""Network: a subnet per tier and AZ, a stable address plan, and NAT routes that stay in their AZ."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_aws as aws
import pytest

from components.addressing import SubnetLayout, subnet_cidrs
from components.network import Network, NetworkArgs

LAYOUT = SubnetLayout(az_prefix=20, private_prefix=21, public_prefix=24, isolated_prefix=24)
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
NAT = "aws:ec2/natGateway:NatGateway"


def network_program(zones: tuple[str, ...], nat: str = "one-per-az"):
    def program():
        provider = aws.Provider("aws-us-east-1", region="us-east-1")
        Network(
            "net",
            NetworkArgs(cidr_block="10.10.0.0/16", availability_zones=zones, layout=LAYOUT, nat_strategy=nat),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return program


def subnets_by_name(run) -> dict[str, dict]:
    return {s.name: s.inputs for s in run.of_type(SUBNET)}


@pytest.mark.parametrize("stack, zone_count", [("dev", 2), ("prod", 3)])
def test_each_tier_has_one_subnet_in_each_distinct_zone(pulumi_mocks, stack, zone_count):
    run = pulumi_mocks.run_stack(stack)
    for region in run.regions:
        subnets = run.of_type(SUBNET, region)
        for tier in ("public", "private", "isolated"):
            zones = [s["availabilityZone"] for s in subnets if s["tags"]["tier"] == tier]
            assert len(zones) == zone_count == len(set(zones)), (region, tier, zones)
            assert all(zone.startswith(region) for zone in zones)


def test_subnets_are_disjoint_and_inside_the_vpc(pulumi_mocks):
    run = pulumi_mocks.run_stack("prod")
    for region in run.regions:
        vpc = ipaddress.ip_network(run.one("aws:ec2/vpc:Vpc", region=region)["cidrBlock"])
        networks = [ipaddress.ip_network(s["cidrBlock"]) for s in run.of_type(SUBNET, region)]
        assert all(n.subnet_of(vpc) for n in networks)
        assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])


def test_vpc_has_dns_and_locked_default_security_group(pulumi_mocks):
    run = pulumi_mocks.run(network_program(("us-east-1a", "us-east-1b")))
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc["enableDnsSupport"] and vpc["enableDnsHostnames"]
    default_sg = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert not default_sg.get("ingress") and not default_sg.get("egress")


@pytest.mark.parametrize(
    "before, after",
    [
        (("us-east-1a", "us-east-1b"), ("us-east-1a", "us-east-1b", "us-east-1c")),
        (("us-east-1a", "us-east-1c"), ("us-east-1a", "us-east-1b", "us-east-1c")),
        (("us-east-1b", "us-east-1c"), ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")),
    ],
)
def test_adding_a_zone_moves_no_existing_subnet(pulumi_mocks, before, after):
    first = subnets_by_name(pulumi_mocks.run(network_program(before)))
    second = subnets_by_name(pulumi_mocks.run(network_program(after)))
    assert len(second) == 3 * len(after)
    for name, inputs in first.items():
        assert second[name]["cidrBlock"] == inputs["cidrBlock"], name


def test_address_plan_is_keyed_by_zone_letter():
    assert subnet_cidrs("10.10.0.0/16", "us-east-1a", LAYOUT) == {
        "private": "10.10.0.0/21",
        "public": "10.10.8.0/24",
        "isolated": "10.10.9.0/24",
    }
    assert subnet_cidrs("10.10.0.0/16", "eu-west-1c", LAYOUT)["private"] == "10.10.32.0/21"


def private_default_routes(run) -> dict[str, str]:
    """Private route table name -> NAT gateway id its default route uses."""
    routes = {}
    for route in run.of_type(ROUTE):
        if "-private-" in route.name:
            table = run.by_id(route["routeTableId"])
            routes[table.name] = route.get("natGatewayId")
    return routes


def test_one_nat_per_az_and_each_private_table_uses_its_own_zone(pulumi_mocks):
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    run = pulumi_mocks.run(network_program(zones, nat="one-per-az"))
    nats = run.of_type(NAT)
    assert len(nats) == 3
    routes = private_default_routes(run)
    assert len(routes) == 3
    for table_name, nat_id in routes.items():
        zone = table_name.removeprefix("net-private-")
        nat = run.by_id(nat_id)
        nat_subnet = run.by_id(nat["subnetId"])
        assert nat_subnet["availabilityZone"] == zone
        assert nat_subnet["tags"]["tier"] == "public"
    # Follow each private subnet through the table it is associated with, not the table's name.
    table_of = {a["subnetId"]: a["routeTableId"] for a in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")}
    nat_of = {r["routeTableId"]: r["natGatewayId"] for r in run.of_type(ROUTE) if r.get("natGatewayId")}
    private = [s for s in run.of_type(SUBNET) if s["tags"]["tier"] == "private"]
    assert len(private) == 3
    for subnet in private:
        nat = run.by_id(nat_of[table_of[subnet.id]])
        assert run.by_id(nat["subnetId"])["availabilityZone"] == subnet["availabilityZone"], subnet.name


def test_single_nat_serves_every_private_table(pulumi_mocks):
    run = pulumi_mocks.run(network_program(("us-east-1a", "us-east-1b", "us-east-1c"), nat="single"))
    [nat] = run.of_type(NAT)
    assert private_default_routes(run) == {f"net-private-us-east-1{letter}": nat.id for letter in "abc"}


def test_no_nat_means_no_default_route_for_private_subnets(pulumi_mocks):
    run = pulumi_mocks.run(network_program(("us-east-1a", "us-east-1b"), nat="none"))
    assert run.of_type(NAT) == []
    assert private_default_routes(run) == {}
    private_tables = {t.id for t in run.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in t.name}
    assert len(private_tables) == 2 and not [r for r in run.of_type(ROUTE) if r["routeTableId"] in private_tables]


def test_isolated_subnets_have_no_route_out(pulumi_mocks):
    run = pulumi_mocks.run(network_program(("us-east-1a", "us-east-1b")))
    isolated_tables = {t.id for t in run.of_type("aws:ec2/routeTable:RouteTable") if t.name.endswith("-isolated")}
    assert len(isolated_tables) == 1
    assert not [r for r in run.of_type(ROUTE) if r["routeTableId"] in isolated_tables]
    isolated_subnets = {s.id for s in run.of_type(SUBNET) if s["tags"]["tier"] == "isolated"}
    associations = run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    assert {a["subnetId"] for a in associations if a["routeTableId"] in isolated_tables} == isolated_subnets


def test_public_subnets_route_to_the_internet_gateway(pulumi_mocks):
    run = pulumi_mocks.run(network_program(("us-east-1a", "us-east-1b")))
    igw = run.one("aws:ec2/internetGateway:InternetGateway")
    [public_route] = [r for r in run.of_type(ROUTE) if r.name == "net-public-internet"]
    assert public_route["gatewayId"] == igw.id
    assert all(s["mapPublicIpOnLaunch"] is False for s in run.of_type(SUBNET))


def test_discovered_zones_come_from_each_regions_provider(pulumi_mocks):
    run = pulumi_mocks.run_stack("prod")
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        zones = {s["availabilityZone"] for s in run.of_type(SUBNET, region)}
        assert zones == {f"{region}a", f"{region}b", f"{region}c"}


def test_pinned_zones_are_used_as_given(pulumi_mocks):
    run = pulumi_mocks.run_stack("dev", availabilityZones=["us-west-2=us-west-2b,us-west-2d"])
    assert {s["availabilityZone"] for s in run.of_type(SUBNET, "us-west-2")} == {"us-west-2b", "us-west-2d"}
