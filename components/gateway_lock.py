"""GatewayLock: API Management answers only requests that came through this stack's Front Door.

Front Door stamps every request it forwards with its profile's id (X-Azure-FDID); a
service-wide policy refuses any request without this profile's id, so nobody can go
around Front Door's routing and health checks to call the gateway directly. The
gateway's status endpoint, which Front Door probes, is not subject to policies.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native

TYPE = "ha-model-serving:azure:GatewayLock"
FRONT_DOOR_ID_HEADER = "X-Azure-FDID"


@dataclass(frozen=True)
class GatewayLockArgs:
    """The API Management service to lock, and the Front Door profile id (a GUID) its requests must carry."""

    resource_group_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    front_door_id: pulumi.Input[str]


def front_door_only_policy(front_door_id: str) -> str:
    """Service-scope policy XML (no <base />: nothing sits above the service scope)."""
    policies = ElementTree.Element("policies")
    inbound = ElementTree.SubElement(policies, "inbound")
    check = ElementTree.SubElement(
        inbound,
        "check-header",
        {
            "name": FRONT_DOOR_ID_HEADER,
            "failed-check-httpcode": "403",
            "failed-check-error-message": "Call this service through its Front Door endpoint.",
            "ignore-case": "false",
        },
    )
    ElementTree.SubElement(check, "value").text = front_door_id
    ElementTree.SubElement(ElementTree.SubElement(policies, "backend"), "forward-request")
    ElementTree.SubElement(policies, "outbound")
    ElementTree.SubElement(policies, "on-error")
    return ElementTree.tostring(policies, encoding="unicode")


class GatewayLock(pulumi.ComponentResource):
    """A service-scope API Management policy that answers 403 to any request without this Front Door's X-Azure-FDID.

    `self.policy` is the policy resource. Front Door sets the header on every request it forwards, and Microsoft
    recommends checking it at the origin (learn.microsoft.com/azure/frontdoor/origin-security and
    .../azure/api-management/front-door-api-management); the gateway's status endpoint is outside policies,
    so Front Door's probes pass.
    """

    def __init__(self, name: str, args: GatewayLockArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.policy = azure_native.apimanagement.Policy(
            f"{name}-front-door-only",
            resource_group_name=args.resource_group_name,
            service_name=args.service_name,
            policy_id="policy",
            format="rawxml",
            value=pulumi.Output.from_input(args.front_door_id).apply(front_door_only_policy),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policy_id": self.policy.id})
