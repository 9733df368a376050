"""Monthly cost of a topology from the dated price table, split by region.

Monthly = hourly x hours_per_month (730). Usage no resource declares (load balancer
capacity units, NAT data, Lambda requests) comes from the table's stated assumptions.
A type or SKU missing from the table is an error naming it, never a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from failover.documents import load_yaml
from report.model import Database, Fleet, Function, HealthCheck, Region, Topology

PRICE_FILE = Path(__file__).resolve().parent / "data" / "prices.yaml"
GLOBAL = "global"  # Route 53 and Front Door are not in any region
FAST_INTERVAL_SECONDS = 10


class PriceError(KeyError):
    """The price table has no entry for something the program declares."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PriceTable:
    """The dated price table (`report/data/prices.yaml`): us-east-1 list prices in dollars, region multipliers, usage assumptions."""

    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path = PRICE_FILE) -> PriceTable:
        """The table in the YAML file at `path`; UnreadableDocument naming the file when it is not one (failover/documents.py)."""
        return cls(load_yaml(path, str(path), "the dated price table: date, hours_per_month, prices by service, region_multipliers, assumptions", kind=dict))

    @property
    def date(self) -> str:
        """The day the prices were read, as the file states it."""
        return str(self.data["date"])

    @property
    def hours(self) -> float:
        """Hours in a month the monthly figures use (730)."""
        return float(self.data["hours_per_month"])

    def price(self, section: str, key: str | None = None) -> float:
        """The dollar price of `section` (or of `key` under it); PriceError naming what the table lacks."""
        value = self.data.get(section)
        if key is not None:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            what = f"{key!r} under {section}" if key is not None else section
            raise PriceError(f"no price for {what} in {PRICE_FILE.relative_to(PRICE_FILE.parents[2])}; add it with its source")
        return float(value)

    def multiplier(self, region: str) -> float:
        """The factor on us-east-1 prices for `region`; PriceError when the table lacks the region."""
        return self.price("region_multipliers", region)

    def assumption(self, key: str) -> float:
        """The stated usage `key` (LCUs, GB, requests, ms) for what no resource declares; PriceError when missing."""
        return self.price("assumptions", key)


@dataclass(frozen=True)
class LineItem:
    """One row of the cost table: a region (or `global`), what is billed, its quantity as shown, and dollars a month."""

    region: str
    item: str
    quantity: str
    monthly: float


# --- formulas -------------------------------------------------------------------------------


def monthly_from_hourly(hourly: float, count: float, hours: float) -> float:
    """Dollars a month for `count` units at `hourly` dollars for `hours` hours."""
    return hourly * count * hours


def rds_monthly(instance_hourly: float, storage_gb: int, storage_gb_month: float, multi_az: bool, hours: float) -> float:
    """Instance hours plus storage; Multi-AZ keeps a synchronous standby of both, so it doubles."""
    copies = 2 if multi_az else 1
    return copies * (instance_hourly * hours + storage_gb * storage_gb_month)


def lambda_monthly(requests: float, memory_mb: int, duration_ms: float, per_million_requests: float, gb_second: float) -> float:
    """Request charge plus compute: requests x duration x memory in GB-seconds."""
    gb_seconds = requests * (duration_ms / 1000.0) * (memory_mb / 1024.0)
    return requests / 1_000_000 * per_million_requests + gb_seconds * gb_second


def health_check_monthly(base: float, option: float, options: int) -> float:
    """Dollars a month of one Route 53 health check: the base price plus each paid option (fast interval, latency)."""
    return base + option * options


# --- applied to a topology ------------------------------------------------------------------


def line_items(topology: Topology, prices: PriceTable) -> list[LineItem]:
    """Every billed item of `topology`, region by region, then Route 53 and the Azure tier; PriceError for a missing price."""
    items: list[LineItem] = []
    for region in topology.regions:
        items.extend(_region_items(region, prices))
    items.extend(_routing_items(topology, prices))
    items.extend(_azure_items(topology, prices))
    return items


def by_region(items: list[LineItem]) -> dict[str, float]:
    """Dollars a month per region (and `global`), in the order the items name them."""
    totals: dict[str, float] = {}
    for item in items:
        totals[item.region] = totals.get(item.region, 0.0) + item.monthly
    return totals


def total(items: list[LineItem]) -> float:
    """Dollars a month of every item."""
    return sum(item.monthly for item in items)


def _region_items(region: Region, prices: PriceTable) -> list[LineItem]:
    hours, scale, name = prices.hours, prices.multiplier(region.name), region.name
    items: list[LineItem] = []
    for fleet in region.fleets:
        items.extend(_fleet_items(name, fleet, prices, scale))
    if region.nat_zones:
        count = len(region.nat_zones)
        gb = prices.assumption("nat_gb_per_month")
        hourly = monthly_from_hourly(prices.price("nat_gateway_hourly"), count, hours)
        data = count * gb * prices.price("nat_gateway_per_gb")
        items.append(LineItem(name, "NAT gateway", f"{count} x 730 h + {gb:g} GB each", scale * (hourly + data)))
    if region.public_ips:
        items.append(
            LineItem(name, "Public IPv4 address", f"{region.public_ips} x 730 h", scale * monthly_from_hourly(prices.price("public_ipv4_hourly"), region.public_ips, hours))
        )
    if region.load_balancers:
        count, lcu = len(region.load_balancers), prices.assumption("alb_lcu")
        hourly = prices.price("alb_hourly") + lcu * prices.price("alb_lcu_hourly")
        items.append(LineItem(name, "Application Load Balancer", f"{count} x 730 h + {lcu:g} LCU", scale * monthly_from_hourly(hourly, count, hours)))
    for database in region.databases:
        items.append(_database_item(name, database, prices, scale))
    for function in region.functions:
        items.append(_function_item(name, function, prices, scale))
    return items


def _fleet_items(region: str, fleet: Fleet, prices: PriceTable, scale: float) -> list[LineItem]:
    instance_hourly = prices.price("ec2_instance_hourly", fleet.instance_type)
    items = [
        LineItem(
            region,
            f"EC2 {fleet.instance_type}",
            f"{fleet.desired} x 730 h",
            scale * monthly_from_hourly(instance_hourly, fleet.desired, prices.hours),
        )
    ]
    if fleet.root_volume_gib and fleet.desired:
        gb = fleet.root_volume_gib * fleet.desired
        items.append(LineItem(region, "EBS gp3 root volumes", f"{fleet.desired} x {fleet.root_volume_gib} GB", scale * gb * prices.price("ebs_gp3_gb_month")))
    return items


def _database_item(region: str, database: Database, prices: PriceTable, scale: float) -> LineItem:
    monthly = rds_monthly(
        prices.price("rds_instance_hourly", database.instance_class),
        database.storage_gib,
        prices.price("rds_storage_gb_month"),
        database.multi_az,
        prices.hours,
    )
    return LineItem(region, f"RDS {database.role} {database.instance_class}", f"{database.zones_label}, {database.storage_gib} GB", scale * monthly)


def _function_item(region: str, function: Function, prices: PriceTable, scale: float) -> LineItem:
    requests = prices.assumption("lambda_requests_per_month")
    duration = prices.assumption("lambda_average_duration_ms")
    monthly = lambda_monthly(
        requests, function.memory_mb, duration, prices.price("lambda_per_million_requests"), prices.price("lambda_gb_second", function.architecture)
    )
    return LineItem(region, f"Lambda {function.name}", f"{requests / 1e6:g} M req x {duration:g} ms x {function.memory_mb} MB", scale * monthly)


def health_check_options(check: HealthCheck) -> int:
    """Route 53 bills HTTPS, string matching, the 10-second interval and latency measurement as options."""
    kind = check.kind.upper()
    return (
        (1 if kind.startswith("HTTPS") else 0)
        + (1 if kind.endswith("STR_MATCH") else 0)
        + (1 if check.interval_seconds == FAST_INTERVAL_SECONDS else 0)
        + (1 if check.measure_latency else 0)
    )


def _routing_items(topology: Topology, prices: PriceTable) -> list[LineItem]:
    routing = topology.routing
    items: list[LineItem] = []
    if routing.health_checks:
        monthly = sum(
            health_check_monthly(prices.price("route53_health_check_monthly"), prices.price("route53_health_check_option_monthly"), health_check_options(check))
            for check in routing.health_checks
        )
        items.append(LineItem(GLOBAL, "Route 53 health checks", f"{len(routing.health_checks)}", monthly))
    if routing.hosted_zones:
        items.append(LineItem(GLOBAL, "Route 53 hosted zone", f"{routing.hosted_zones}", routing.hosted_zones * prices.price("route53_hosted_zone_monthly")))
    return items


def _azure_items(topology: Topology, prices: PriceTable) -> list[LineItem]:
    azure = topology.azure
    items: list[LineItem] = []
    for profile in azure.front_doors:
        items.append(LineItem(GLOBAL, f"Front Door {profile.sku}", "base fee", prices.price("front_door_base_monthly", profile.sku)))
    for gateway in azure.gateways:
        units = gateway.capacity * (1 + len(gateway.additional_locations))
        items.append(LineItem(f"azure {gateway.location}", f"API Management {gateway.sku}", f"{units} unit(s)", units * prices.price("apim_unit_monthly", gateway.sku)))
    for account in azure.accounts:
        for deployment in account.deployments:
            monthly = deployment.capacity * prices.price("azure_openai_deployment_monthly", deployment.sku)
            items.append(LineItem(f"azure {account.location}", f"Azure OpenAI {deployment.name}", f"{deployment.sku} (per token, not estimated)" if not monthly else f"{deployment.capacity} x {deployment.sku}", monthly))
    return items
