"""GlobalRouting: one DNS name for the service, answered by Route 53 from the healthy regions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_aws as aws

TYPE = "ha-model-serving:aws:GlobalRouting"


@dataclass(frozen=True)
class RegionalEndpoint:
    """One region's load balancer, as Route 53 checks and aliases it."""

    load_balancer_dns_name: pulumi.Input[str]
    load_balancer_zone_id: pulumi.Input[str]
    https: bool


@dataclass(frozen=True)
class GlobalRoutingArgs:
    """The domain to route and each region's endpoint, health checked every `health_check_interval` seconds.

    endpoints: per region, its load balancer (alias target) and whether it serves HTTPS;
    failure_threshold: consecutive failed checks before a region is unhealthy (1-10).
    """

    domain_name: str
    hosted_zone_id: str
    topology: str  # active-active: latency records; active-passive: failover records
    primary_region: str
    # Active-passive only: the standby that gets the SECONDARY record (Route 53 failover records are a pair).
    secondary_region: str | None
    endpoints: Mapping[str, RegionalEndpoint]
    health_check_path: str
    health_check_interval: int  # seconds: 10 or 30
    failure_threshold: int


def _alias(endpoint: RegionalEndpoint) -> aws.route53.RecordAliasArgs:
    # evaluate_target_health: the name stops answering with a region whose load balancer has no healthy targets.
    return aws.route53.RecordAliasArgs(
        name=endpoint.load_balancer_dns_name, zone_id=endpoint.load_balancer_zone_id, evaluate_target_health=True
    )


def regional_name(region: str, domain_name: str) -> str:
    """`<region>.<domain_name>`: the name each region gets under the domain (what its certificate must cover)."""
    return f"{region}.{domain_name}"


class GlobalRouting(pulumi.ComponentResource):
    """A health check per regional endpoint and an alias record per routed region.

    Route 53 is global: everything here goes through the one provider in this component's options.
    """

    def __init__(self, name: str, args: GlobalRoutingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.dns_name = args.domain_name

        self.health_checks: dict[str, aws.route53.HealthCheck] = {
            region: self._health_check(f"{name}-{region}", endpoint, args) for region, endpoint in args.endpoints.items()
        }
        self.records: dict[str, aws.route53.Record] = {
            region: self._record(f"{name}-{region}", region, args, policy)
            for region, policy in self._policies(args).items()
        }
        # A name per region too (<region>.<domain>): the proxies and clients that pick a region themselves need a
        # host name the regional certificate covers, which the load balancer's own DNS name is not.
        self.regional_names = {region: regional_name(region, args.domain_name) for region in args.endpoints}
        self.regional_records: dict[str, aws.route53.Record] = {
            region: self._regional_record(f"{name}-{region}-regional", region, args) for region in args.endpoints
        }
        self.register_outputs({"dns_name": self.dns_name, "records": {region: r.fqdn for region, r in self.records.items()}})

    def _health_check(self, name: str, endpoint: RegionalEndpoint, args: GlobalRoutingArgs) -> aws.route53.HealthCheck:
        return aws.route53.HealthCheck(
            name,
            # Through the load balancer, so a region is healthy only when it has healthy model servers.
            type="HTTPS" if endpoint.https else "HTTP",
            fqdn=endpoint.load_balancer_dns_name,
            port=443 if endpoint.https else 80,
            enable_sni=endpoint.https,
            resource_path=args.health_check_path,
            request_interval=args.health_check_interval,
            failure_threshold=args.failure_threshold,
            measure_latency=True,
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _policies(args: GlobalRoutingArgs) -> dict[str, dict]:
        """Routing policy per routed region: latency for every region, or failover PRIMARY / SECONDARY."""
        if args.topology == "active-active":
            return {
                region: {"latency_routing_policies": [aws.route53.RecordLatencyRoutingPolicyArgs(region=region)]}
                for region in args.endpoints
            }
        pair = {args.primary_region: "PRIMARY"}
        if args.secondary_region is not None:
            pair[args.secondary_region] = "SECONDARY"
        return {region: {"failover_routing_policies": [aws.route53.RecordFailoverRoutingPolicyArgs(type=kind)]} for region, kind in pair.items()}

    def _regional_record(self, name: str, region: str, args: GlobalRoutingArgs) -> aws.route53.Record:
        endpoint = args.endpoints[region]
        return aws.route53.Record(
            name,
            zone_id=args.hosted_zone_id,
            name=self.regional_names[region],
            type="A",
            aliases=[_alias(endpoint)],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _record(self, name: str, region: str, args: GlobalRoutingArgs, policy: dict) -> aws.route53.Record:
        endpoint = args.endpoints[region]
        return aws.route53.Record(
            name,
            zone_id=args.hosted_zone_id,
            name=args.domain_name,
            type="A",
            # The region name identifies the record; the failover runbook finds records by it.
            set_identifier=region,
            health_check_id=self.health_checks[region].id,
            aliases=[_alias(endpoint)],
            **policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
