"""Network settings: the stack's regions, each region's VPC block, availability zones and certificate,
and how every availability zone's block is divided into subnets.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from components import addressing, catalogs
from components.settings.reading import Reader, SettingsError, did_you_mean, require_distinct

if TYPE_CHECKING:
    from components.settings.stack import Settings

NAT_STRATEGIES = ("none", "single", "one-per-az")
# A VPC's primary CIDR block must be between /16 and /28.
VPC_PREFIX = (16, 28)
RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class RegionSettings:
    """One AWS region of the stack."""

    name: str
    vpc_cidr: str
    # None means "ask the region", through its provider, for its first az_count zones.
    availability_zones: tuple[str, ...] | None
    certificate_arn: str | None


def parse_region_names(read: Reader) -> tuple[str, ...]:
    """regions: at least one, each a region of the catalog (or vouched for), all in one partition."""
    names = read.strings("regions")
    if not names:
        raise SettingsError("regions", list(names), "list at least one AWS region")
    require_distinct("regions", names, "regions")
    for name in names:
        # Each partition's region name pattern comes with its regions in botocore's partitions.json.
        if catalogs.partition_of(name) is None:
            raise SettingsError("regions", name, f"expected an AWS region name such as us-east-1{did_you_mean(name, catalogs.aws_regions().names)}")
        read.listed("regions", name, catalogs.aws_regions())
    partitions = {name: catalogs.partition_of(name) for name in names}
    if len(set(partitions.values())) > 1:
        # Partitions are separate clouds: IAM credentials and cross-region features such as read replicas
        # stay inside one (docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html).
        spread = ", ".join(f"{name} ({partition})" for name, partition in partitions.items())
        raise SettingsError("regions", list(names), f"all regions must be in one AWS partition, but these span several: {spread}")
    return names


def parse_subnet_layout(read: Reader) -> addressing.SubnetLayout:
    """The AZ block and subnet prefixes, refused unless every tier fits in one AZ block."""
    layout = addressing.SubnetLayout(
        az_prefix=read.integer("azCidrMask"),
        private_prefix=read.integer("privateSubnetMask"),
        public_prefix=read.integer("publicSubnetMask"),
        isolated_prefix=read.integer("isolatedSubnetMask"),
    )
    for key, prefix in (
        ("privateSubnetMask", layout.private_prefix),
        ("publicSubnetMask", layout.public_prefix),
        ("isolatedSubnetMask", layout.isolated_prefix),
    ):
        # AWS subnets are /16 to /28, and a tier cannot be larger than the AZ block holding it.
        if not max(16, layout.az_prefix) <= prefix <= 28:
            raise SettingsError(key, prefix, f"must be between /{max(16, layout.az_prefix)} (azCidrMask) and /28")
    if not layout.fits_in_az_block():
        raise SettingsError(
            "azCidrMask",
            layout.az_prefix,
            f"the private /{layout.private_prefix}, public /{layout.public_prefix} and isolated "
            f"/{layout.isolated_prefix} subnets do not fit in one /{layout.az_prefix} block per AZ",
        )
    return layout


def parse_regions(read: Reader, names: tuple[str, ...], layout: addressing.SubnetLayout) -> tuple[RegionSettings, ...]:
    """Each region's private, non-overlapping VPC block, pinned zones and ACM certificate, in the order of `names`."""
    cidrs = read.region_map("vpcCidrs", names)
    pinned_zones = read.region_map("availabilityZones", names)
    certificates = read.region_map("certificateArns", names)

    networks: dict[str, ipaddress.IPv4Network] = {}
    for name in names:
        if name not in cidrs:
            raise read.default_elsewhere("vpcCidrs", names, "regions") or SettingsError(
                "vpcCidrs", list(read.strings("vpcCidrs")), f"region {name} has no VPC CIDR; add {name}=<cidr>"
            )
        network = _private_vpc_network(name, cidrs[name])
        if layout.az_prefix < network.prefixlen:
            raise SettingsError(
                "azCidrMask", layout.az_prefix, f"an AZ block cannot be larger than its VPC, and vpcCidrs gives {name}={network}"
            )
        for other, other_network in networks.items():
            if network.overlaps(other_network):
                raise SettingsError(
                    "vpcCidrs", f"{name}={network}", f"overlaps {other}={other_network}; regional VPCs must not overlap so they can be peered"
                )
        networks[name] = network

    for region, arn in certificates.items():
        # ARNs carry the partition of their region: arn:aws-cn:acm:cn-north-1:... (IAM User Guide, "Amazon Resource Names").
        partition = catalogs.partition_of(region)
        if not re.fullmatch(rf"arn:{partition}:acm:{region}:\d{{12}}:certificate/[\w-]+", arn):
            raise SettingsError(
                "certificateArns", f"{region}={arn}", f"expected an ACM certificate ARN in {region}: arn:{partition}:acm:{region}:<account>:certificate/<id>"
            )

    return tuple(
        RegionSettings(
            name=name,
            vpc_cidr=str(networks[name]),
            availability_zones=_parse_pinned_zones(name, pinned_zones.get(name), networks[name], layout),
            certificate_arn=certificates.get(name),
        )
        for name in names
    )


def _private_vpc_network(region: str, value: str) -> ipaddress.IPv4Network:
    entry = f"{region}={value}"
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise SettingsError("vpcCidrs", entry, "expected an IPv4 network such as 10.10.0.0/16 (host bits zero)") from None
    if not any(network.subnet_of(block) for block in RFC1918):
        raise SettingsError("vpcCidrs", entry, "must be a private block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    low, high = VPC_PREFIX
    if not low <= network.prefixlen <= high:
        raise SettingsError("vpcCidrs", entry, f"the prefix length must be between {low} and {high} (what AWS accepts for a VPC), not {network.prefixlen}")
    return network


def _parse_pinned_zones(
    region: str, value: str | None, network: ipaddress.IPv4Network, layout: addressing.SubnetLayout
) -> tuple[str, ...] | None:
    if value is None:
        return None
    zones = tuple(zone.strip() for zone in value.split(",") if zone.strip())
    return validate_zones(region, zones, network, layout, key="availabilityZones")


def validate_zones(
    region: str, zones: tuple[str, ...], network: ipaddress.IPv4Network, layout: addressing.SubnetLayout, key: str
) -> tuple[str, ...]:
    """Checks a region's zones, pinned (key availabilityZones) or discovered (key azCount): distinct, in the region, with room in the VPC.

    Raises SettingsError naming `key` and the zone's region=zone entry; a discovered zone without room names azCidrMask.
    """
    if len(zones) < 2:
        raise SettingsError(key, f"{region}={','.join(zones)}", "at least 2 availability zones per region are needed for redundancy")
    require_distinct(key, (f"{region}={zone}" for zone in zones), "availability zones")
    slots = layout.az_slots(network)
    for zone in zones:
        if not re.fullmatch(rf"{re.escape(region)}[a-z]", zone):
            raise SettingsError(key, f"{region}={zone}", f"expected a zone of {region} such as {region}a")
        room = f"{region}'s VPC {network} has room for {slots} AZ blocks of /{layout.az_prefix} (azCidrMask)"
        if addressing.az_slot(zone) < slots:
            continue
        if key == "availabilityZones":
            # A zone's block is chosen by its letter, so a letter past the room is a misspelt zone or too large a mask.
            raise SettingsError(
                key,
                f"{region}={zone}",
                f"zone letter {zone[-1]!r} needs AZ block {addressing.az_slot(zone) + 1}, but {room}; "
                "check the zone name, or give azCidrMask a longer prefix (smaller AZ blocks)",
            )
        raise SettingsError("azCidrMask", layout.az_prefix, f"{room}, too few for zone {zone}")
    return zones


def region_availability_zones(
    settings: Settings, region: RegionSettings, discover: Callable[[], list[str]], warn: Callable[[str], None]
) -> tuple[str, ...]:
    """The region's zones: pinned ones once the region confirms it has them, else the first azCount of its zones by name.

    discover(): names of the region's zones in any state (no opt-in Local or Wavelength Zones), asked through
    the region's provider. The state is ignored on purpose: a zone set chosen from the zones "available"
    today would shift the day one is impaired, and the next `up` would then try to move that zone's
    subnets, NAT gateway and servers in the middle of the incident. Pinned zones are confirmed when the
    region answers; when it does not (its EC2 API is down), they are used as given, with a warning, so the
    other regions of the stack can still be updated (`pulumi up --target`).
    Raises SettingsError naming availabilityZones for a pinned zone the region lacks, azCount when it has too few.
    """
    if region.availability_zones is not None:
        try:
            existing = sorted(discover())
        except Exception as error:  # a failed invoke raises a plain Exception carrying the provider's message
            warn(f"{region.name}: its zones could not be listed ({error}); using availabilityZones as pinned")
            return region.availability_zones
        for zone in region.availability_zones:
            if zone not in existing:
                raise SettingsError("availabilityZones", f"{region.name}={zone}", f"{region.name} has no zone {zone}; its zones are {existing}")
        return region.availability_zones
    offered = sorted(discover())
    zones = tuple(offered[: settings.az_count])
    if len(zones) < settings.az_count:
        raise SettingsError("azCount", settings.az_count, f"{region.name} offers only {len(offered)} zones: {offered}")
    return validate_zones(region.name, zones, ipaddress.IPv4Network(region.vpc_cidr), settings.subnet_layout, key="azCount")
