"""Security group rules, one TCP port each: the only shape of rule this program needs.

One rule per resource (not inline rules on the group) so adding or removing a
peer never rewrites the others.
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_aws as aws


def allow_tcp(
    name: str,
    *,
    direction: str,  # "ingress" or "egress"
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    opts: pulumi.ResourceOptions,
    cidr: str | None = None,
    peer_group_id: pulumi.Input[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> pulumi.CustomResource:
    """Opens `port` to or from exactly one peer: an IPv4 CIDR or another security group."""
    if (cidr is None) == (peer_group_id is None):
        raise ValueError(f"{name}: give exactly one peer, a CIDR or a security group")
    rule = {"ingress": aws.vpc.SecurityGroupIngressRule, "egress": aws.vpc.SecurityGroupEgressRule}[direction]
    return rule(
        name,
        security_group_id=security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        cidr_ipv4=cidr,
        referenced_security_group_id=peer_group_id,
        description=description,
        tags=dict(tags) if tags else None,
        opts=opts,
    )

