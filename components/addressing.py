"""VPC address plan: one fixed block per availability zone, tiers inside it.

An AZ's block is chosen by the zone's letter (us-east-1a -> block 0, ...c -> 2),
not by its position in a list, so adding or removing a zone never moves the
subnets of another: moving a subnet means replacing everything in it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

TIERS = ("private", "public", "isolated")


@dataclass(frozen=True)
class SubnetLayout:
    """Prefix lengths of an availability zone's block and of each tier's subnet inside it (bits, 16-28).

    Built and checked by settings (`parse_subnet_layout`): every tier fits in the zone's block.
    """

    az_prefix: int
    private_prefix: int
    public_prefix: int
    isolated_prefix: int

    def tier_prefixes(self) -> dict[str, int]:
        """Prefix length of each tier's subnet, by tier name (private, public, isolated)."""
        return {"private": self.private_prefix, "public": self.public_prefix, "isolated": self.isolated_prefix}

    def fits_in_az_block(self) -> bool:
        """Whether the three tiers' subnets together fit in one zone's block."""
        block_size = 2 ** (32 - self.az_prefix)
        return sum(2 ** (32 - prefix) for prefix in self.tier_prefixes().values()) <= block_size

    def az_slots(self, vpc: ipaddress.IPv4Network) -> int:
        """How many zone blocks fit in the VPC network `vpc`, so how many zone letters (from a) it has room for."""
        return 2 ** (self.az_prefix - vpc.prefixlen)


def az_slot(zone: str) -> int:
    """Block index of a zone: its trailing letter, a=0."""
    return ord(zone[-1]) - ord("a")


def subnet_cidrs(vpc_cidr: str, zone: str, layout: SubnetLayout) -> dict[str, str]:
    """CIDR of each tier's subnet in `zone`, largest tier first so every subnet stays aligned."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    slot = az_slot(zone)
    if not 0 <= slot < layout.az_slots(vpc):
        raise ValueError(f"zone {zone} has no /{layout.az_prefix} block left in {vpc}")
    block = ipaddress.IPv4Network((int(vpc.network_address) + slot * 2 ** (32 - layout.az_prefix), layout.az_prefix))

    cidrs: dict[str, str] = {}
    next_address = int(block.network_address)
    for tier, prefix in sorted(layout.tier_prefixes().items(), key=lambda item: (item[1], TIERS.index(item[0]))):
        subnet = ipaddress.IPv4Network((next_address, prefix))
        if not subnet.subnet_of(block):
            raise ValueError(f"the {tier} /{prefix} subnet does not fit in {zone}'s block {block}")
        cidrs[tier] = str(subnet)
        next_address += subnet.num_addresses
    return {tier: cidrs[tier] for tier in TIERS}
