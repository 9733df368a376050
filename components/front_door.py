"""FrontDoor: the global entry, routing to API Management gateways by health, priority, weight and latency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_azure_native as azure_native

from components.settings import TrafficShare

TYPE = "ha-model-serving:azure:FrontDoor"
# API Management's built-in gateway health endpoint: 200 while the gateway in that location serves.
GATEWAY_STATUS_PATH = "/status-0123456789abcdef"
# Front Door's recommended latency sampling: 3 of the last 4 probes must succeed, and origins within
# 50 ms of the fastest count as equally fast (then priority and weight decide).
SAMPLE_SIZE = 4
SUCCESSFUL_SAMPLES_REQUIRED = 3
ADDITIONAL_LATENCY_MS = 50


@dataclass(frozen=True)
class GatewayOrigin:
    """One API Management gateway as a Front Door origin: its host name and share of the traffic (priority, weight)."""

    host_name: pulumi.Input[str]
    share: TrafficShare


@dataclass(frozen=True)
class FrontDoorArgs:
    """The Front Door profile to declare: its tier, one origin per gateway location and how it probes and waits.

    origin_response_timeout_seconds: 16-240; probe_interval_seconds: 1-255 (settings check both).
    """

    resource_group_name: pulumi.Input[str]
    sku: str
    # Per location of an API Management gateway: its host name and share of the traffic.
    origins: Mapping[str, GatewayOrigin]
    origin_response_timeout_seconds: int
    probe_interval_seconds: int
    tags: Mapping[str, str]


class FrontDoor(pulumi.ComponentResource):
    """Profile, endpoint, an origin group probing each gateway, one origin per gateway, and an HTTPS-only route."""

    def __init__(self, name: str, args: FrontDoorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.profile = azure_native.cdn.Profile(
            f"{name}-profile",
            profile_name=f"{name}-profile",
            resource_group_name=args.resource_group_name,
            location="global",
            sku=azure_native.cdn.SkuArgs(name=args.sku),
            origin_response_timeout_seconds=args.origin_response_timeout_seconds,
            tags=dict(args.tags),
            # A new tier replaces the profile (pulumi-azure-native forces a new profile on sku.name). Its
            # name and its endpoint's name stay, so the endpoint keeps its host name (ResourceGroupReuse):
            # the old profile must be gone before the new one can take them.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        in_profile = {"resource_group_name": args.resource_group_name, "profile_name": self.profile.name}
        self.endpoint = azure_native.cdn.AFDEndpoint(
            f"{name}-endpoint",
            **in_profile,
            endpoint_name=f"{name}-endpoint",
            # The azurefd.net label is shared across the tenant by default, so dev's and prod's would collide.
            auto_generated_domain_name_label_scope="ResourceGroupReuse",
            location="global",
            enabled_state="Enabled",
            tags=dict(args.tags),
            opts=child,
        )
        self.origin_group = azure_native.cdn.AFDOriginGroup(
            f"{name}-gateways",
            **in_profile,
            origin_group_name="gateways",
            health_probe_settings=azure_native.cdn.HealthProbeParametersArgs(
                probe_path=GATEWAY_STATUS_PATH,
                probe_protocol="Https",
                probe_request_type="GET",
                probe_interval_in_seconds=args.probe_interval_seconds,
            ),
            load_balancing_settings=azure_native.cdn.LoadBalancingSettingsParametersArgs(
                sample_size=SAMPLE_SIZE,
                successful_samples_required=SUCCESSFUL_SAMPLES_REQUIRED,
                additional_latency_in_milliseconds=ADDITIONAL_LATENCY_MS,
            ),
            session_affinity_state="Disabled",
            opts=child,
        )
        self.origins = {
            location: azure_native.cdn.AFDOrigin(
                f"{name}-gateway-{location}",
                **in_profile,
                origin_group_name=self.origin_group.name,
                origin_name=f"gateway-{location}",
                host_name=origin.host_name,
                # API Management serves by host name: send its own, and check its certificate against it.
                origin_host_header=origin.host_name,
                enforce_certificate_name_check=True,
                http_port=80,
                https_port=443,
                priority=origin.share.priority,
                weight=origin.share.weight,
                enabled_state="Enabled",
                opts=child,
            )
            for location, origin in args.origins.items()
        }
        self.route = azure_native.cdn.Route(
            f"{name}-route",
            **in_profile,
            endpoint_name=self.endpoint.name,
            route_name="gateways",
            origin_group=azure_native.cdn.ResourceReferenceArgs(id=self.origin_group.id),
            patterns_to_match=["/*"],
            # Plain HTTP is accepted only to redirect it; nothing leaves Front Door unencrypted.
            supported_protocols=["Https", "Http"],
            https_redirect="Enabled",
            forwarding_protocol="HttpsOnly",
            link_to_default_domain="Enabled",
            enabled_state="Enabled",
            # Azure rejects a route whose origin group has no origins yet.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.origins.values())),
        )

        self.hostname: pulumi.Output[str] = self.endpoint.host_name
        self.register_outputs({"hostname": self.hostname})
