"""Availability, recovery time and recovery point of a topology, from published SLAs.

The model, stated once:
- Services a request passes through are in series: A = A1 x A2 x ...
- Redundant copies of a service are in parallel: A = 1 - (1 - A1)(1 - A2)...,
  assuming their failures are independent.
- A fleet of n instances across two or more zones is n instances in parallel at
  the instance-level SLA, capped at the EC2 region-level SLA (a regional event
  takes every zone at once); in one zone the cap is the instance-level SLA.
- A region's serving path is load balancer -> fleet -> its database instance
  (primary or replica) when the program declares one.
- active-active: the regions are in parallel behind DNS. active-passive: during
  normal operation the primary region alone serves; a failure costs the RTO.
- RTO = health-check interval x failure threshold (detection) + DNS TTL
  (resolvers' caches expire) + the standby's scale-up time.
- RPO of asynchronous cross-region replication = the replica lag: bounded by a
  ReplicaLag alarm's threshold when one is declared, else the documented typical lag.
- What every region shares is in series with the regions: the global entry (Route 53)
  and a common-mode term for failures that take every region at once (a bad rollout,
  a provider-wide event, the shared names lapsing), each cause a stated assumption in
  report/data/common_mode.yaml: A = 1 - sum(events a year x minutes each) / minutes a year.
- A drill's measured time to route around implies its own figure: each regional failure
  (an assumed number a year per region) costs clients that long, in series with the shared terms.

An SLA of None means "no published SLA"; anything in series with it has none either.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Iterable, Mapping

from failover.documents import load_yaml
from report.model import Fleet, Region, Topology

SLA_FILE = Path(__file__).resolve().parent / "data" / "sla.yaml"
COMMON_MODE_FILE = Path(__file__).resolve().parent / "data" / "common_mode.yaml"
MINUTES_PER_MONTH = 730 * 60
MINUTES_PER_YEAR = 12 * MINUTES_PER_MONTH


class SlaError(KeyError):
    """The SLA table has no entry for a service or SKU the program declares."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class SlaTable:
    """The dated SLA table (`report/data/sla.yaml`): published SLAs per service (and SKU) and the recovery assumptions."""

    date: str
    services: dict[str, Any]
    recovery: dict[str, Any]

    @classmethod
    def load(cls, path: Path = SLA_FILE) -> SlaTable:
        """The table in the YAML file at `path`; UnreadableDocument naming the file when it is not one (failover/documents.py)."""
        data = load_yaml(path, str(path), "the dated SLA table: date, services, recovery", kind=dict)
        return cls(date=str(data["date"]), services=data["services"], recovery=data["recovery"])

    def sla(self, service: str, sku: str | None = None) -> float | None:
        """The SLA of `service` (and `sku`) as a fraction such as 0.9999, None where the table says none is published.

        Raises SlaError naming the service or SKU the table lacks.
        """
        entry = self.services.get(service)
        if sku is not None:
            entry = (entry or {}).get(sku)
        if entry is None or "sla" not in entry:
            what = f"{service} SKU {sku!r}" if sku is not None else service
            raise SlaError(f"no SLA for {what} in {SLA_FILE.relative_to(SLA_FILE.parents[2])}; add it with its source")
        return entry["sla"]

    def assumption(self, key: str) -> float:
        """The value of the recovery assumption `key` (seconds, or a count); KeyError when the table lacks it."""
        return self.recovery[key]["value"]


@dataclass(frozen=True)
class Cause:
    """One way every region fails at once: how often and for how long (stated assumptions)."""

    key: str
    what: str
    events_per_year: float
    minutes_per_event: float

    @property
    def minutes_per_year(self) -> float:
        """The downtime this cause costs a year: events a year x minutes each."""
        return self.events_per_year * self.minutes_per_event


@dataclass(frozen=True)
class CommonMode:
    """The common-mode causes and the regional failure rate a drill's route-around time is weighed with."""

    date: str
    causes: tuple[Cause, ...]
    regional_failures_per_year: float

    @classmethod
    def load(cls, path: Path = COMMON_MODE_FILE) -> CommonMode:
        """The causes in the YAML file at `path`; ValueError naming a cause with a negative rate or duration, or (UnreadableDocument)
        the file when it is not one."""
        data = load_yaml(path, str(path), "the dated common-mode causes: date, causes, drill", kind=dict)
        causes = tuple(
            Cause(key, str(cause["what"]), float(cause["events_per_year"]), float(cause["minutes_per_event"])) for key, cause in data["causes"].items()
        )
        for cause in causes:
            if cause.events_per_year < 0 or cause.minutes_per_event < 0:
                raise ValueError(f"{path.name}: {cause.key} needs events_per_year and minutes_per_event of 0 or more")
        return cls(str(data["date"]), causes, float(data["drill"]["regional_failures_per_year"]["value"]))

    @property
    def minutes_per_year(self) -> float:
        """Every cause's downtime together, in minutes a year."""
        return sum(cause.minutes_per_year for cause in self.causes)

    @property
    def availability(self) -> float:
        """The common-mode term as an availability (a fraction)."""
        return common_mode_availability(self.minutes_per_year)


# --- formulas -------------------------------------------------------------------------------


def series(availabilities: Iterable[float | None]) -> float | None:
    """Every part must be up: the product; None (no SLA) if any part has none."""
    values = list(availabilities)
    if any(value is None for value in values):
        return None
    return reduce(lambda total, value: total * value, values, 1.0)


def parallel(availabilities: Iterable[float | None]) -> float | None:
    """One part up is enough: 1 - product of the parts' unavailabilities; parts without an SLA count as always down."""
    values = [value or 0.0 for value in availabilities]
    if not values:
        return None
    return 1.0 - reduce(lambda total, value: total * (1.0 - value), values, 1.0)


def fleet_availability(instances: int, zones: int, instance_sla: float, region_sla: float) -> float:
    """n instances in parallel, capped by the region-level SLA (two or more zones) or the instance-level one."""
    if instances <= 0:
        return 0.0
    cap = region_sla if zones >= 2 else instance_sla
    return min(cap, 1.0 - (1.0 - instance_sla) ** instances)


def downtime_minutes_per_month(availability: float) -> float:
    """The minutes a 730-hour month is down at `availability` (a fraction)."""
    return (1.0 - availability) * MINUTES_PER_MONTH


def common_mode_availability(minutes_per_year: float) -> float:
    """Failures that take every region at once, as an availability: 1 - their minutes a year / the minutes of a year."""
    return max(0.0, 1.0 - minutes_per_year / MINUTES_PER_YEAR)


def drill_availability(route_around_seconds: float, regions: int, failures_per_region_year: float) -> float:
    """What a measured route-around time implies: every regional failure keeps clients waiting that long."""
    return max(0.0, 1.0 - failures_per_region_year * regions * route_around_seconds / (MINUTES_PER_YEAR * 60))


def detection_seconds(interval_seconds: int, failure_threshold: int) -> int:
    """How long Route 53 takes to call an endpoint unhealthy: consecutive failed checks."""
    return interval_seconds * failure_threshold


def scale_up_seconds(standby_instances: int, needed_instances: int, launch_seconds: int, grace_period: int, target_interval: int, healthy_threshold: int) -> int:
    """Time for a standby to reach full capacity: launch, load the model, pass the target group's health checks.

    New instances launch together, so the time does not grow with how many are missing;
    a standby already at full capacity needs none.
    """
    if standby_instances >= needed_instances:
        return 0
    return launch_seconds + grace_period + target_interval * healthy_threshold


def recovery_time_seconds(detection: int, dns_ttl: int, scale_up: int) -> int:
    """The estimated RTO in seconds: detection, then the DNS TTL, then the standby's scale-up."""
    return detection + dns_ttl + scale_up


# --- applied to a topology ------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One service in a path, with the availability used for it."""

    label: str
    availability: float | None


@dataclass(frozen=True)
class RegionPath:
    """One region's services in series (load balancer, fleet, database, ...), each with the availability used."""

    region: str
    role: str
    parts: tuple[Part, ...]

    @property
    def availability(self) -> float | None:
        """The region's availability: its parts in series; None when a part has no SLA."""
        return series(part.availability for part in self.parts)


@dataclass(frozen=True)
class Recovery:
    """How a failover happens and how long each phase takes, in seconds; `automated` when DNS moves traffic itself."""

    automated: bool
    detection_seconds: int
    dns_ttl_seconds: int
    scale_up_seconds: int
    standby_mode: str  # hot, warm, pilot-light or none
    notes: tuple[str, ...]

    @property
    def rto_seconds(self) -> int:
        """The estimated recovery time objective, in seconds."""
        return recovery_time_seconds(self.detection_seconds, self.dns_ttl_seconds, self.scale_up_seconds)


@dataclass(frozen=True)
class DataLoss:
    """The recovery point: whether the database is replicated across regions, the seconds of writes a failover may lose, and what bounds it."""

    replicated: bool
    rpo_seconds: float | None
    bound: str


COMMON_MODE = "Common mode (every region at once)"  # the label of the term no added region can shrink


@dataclass(frozen=True)
class Estimate:
    """A stack's availability estimate: every term of the composite, the recovery time and the recovery point (fractions, seconds)."""

    mode: str
    dns: Part | None
    regions: tuple[RegionPath, ...]
    # The regions together: in parallel (active-active) or the primary alone (active-passive).
    across: Part
    common_mode: CommonMode
    recovery: Recovery
    data_loss: DataLoss
    proxy: Part | None
    azure: tuple[Part, ...]
    azure_composite: float | None
    stated_rto_seconds: int | None

    @property
    def shared(self) -> tuple[Part, ...]:
        """What every region shares, in series with them: the global entry and the common-mode term."""
        return ((self.dns,) if self.dns else ()) + (Part(COMMON_MODE, self.common_mode.availability),)

    @property
    def terms(self) -> tuple[Part, ...]:
        """The composite's factors, in series."""
        return self.shared + (self.across,)

    @property
    def composite(self) -> float | None:
        """The stack's availability: its terms in series (None when a term has no SLA)."""
        return series(part.availability for part in self.terms)

    @property
    def dominant(self) -> Part:
        """The term that loses the most: a part without an SLA counts as losing everything."""
        return max(self.terms, key=lambda part: 1.0 - (part.availability if part.availability is not None else 0.0))


@dataclass(frozen=True)
class DrillEvidence:
    """The latest region drill of a stack and what its measured time to route around implies."""

    source: str  # the record's file name
    scenario: str
    started_at: str
    interrupted: bool  # whether any probe failed at all
    route_around_seconds: float | None  # None: clients were not routed around during the drill
    implied: float | None


def estimate(topology: Topology, table: SlaTable, common_mode: CommonMode | None = None) -> Estimate:
    """The availability estimate of `topology` from the SLA table and the common-mode causes (loaded when not given).

    Raises SlaError naming a service or SKU the table lacks.
    """
    common_mode = common_mode or CommonMode.load()
    regions = tuple(_region_path(topology, region, table) for region in topology.regions)
    dns = Part("Route 53 DNS", table.sla("route53")) if topology.routing.declared else None
    if topology.mode == "active-active":
        across = Part("Regions in parallel", parallel(path.availability for path in regions))
    else:
        across = Part(f"Primary region {topology.primary_region} alone", next(path.availability for path in regions if path.region == topology.primary_region))
    functions = [fn for region in topology.regions for fn in region.functions]
    # The proxy tries its own region first, then every other one: all regions in parallel behind Lambda. It reaches
    # them from private subnets, through its region's NAT gateway, and shares the common-mode causes.
    nat = [table.sla("nat_gateway")] if any(region.nat_zones for region in topology.regions) else []
    proxy = (
        Part(
            "Lambda proxy and its NAT gateway, then every region, with the common mode",
            series([table.sla("lambda"), *nat, parallel(path.availability for path in regions), common_mode.availability]),
        )
        if functions
        else None
    )
    azure = _azure_parts(topology, table)
    return Estimate(
        mode=topology.mode,
        dns=dns,
        regions=regions,
        across=across,
        common_mode=common_mode,
        recovery=recovery(topology, table),
        data_loss=data_loss(topology, table),
        proxy=proxy,
        azure=azure,
        azure_composite=series(part.availability for part in azure) if azure else None,
        stated_rto_seconds=topology.stated_rto_seconds,
    )


def drill_evidence(estimate: Estimate, regions: int, source: str, record: Mapping[str, Any]) -> DrillEvidence:
    """The shared terms in series with what the drill's route-around time costs at the assumed regional failure rate."""
    interrupted = record.get("fault_visible_s") is not None
    seconds = record.get("route_around_s") if interrupted else 0.0
    implied = None
    if seconds is not None:
        measured = drill_availability(float(seconds), regions, estimate.common_mode.regional_failures_per_year)
        implied = series([*(part.availability for part in estimate.shared), measured])
    return DrillEvidence(source, str(record["scenario"]), str(record["started_at"]), interrupted, seconds, implied)


def _region_path(topology: Topology, region: Region, table: SlaTable) -> RegionPath:
    parts: list[Part] = []
    if region.load_balancers:
        parts.append(Part("Application Load Balancer", parallel(table.sla("alb") for _ in region.load_balancers)))
    for fleet in region.fleets:
        parts.append(
            Part(
                f"{fleet.desired} x {fleet.instance_type} in {len(fleet.zones)} AZs",
                fleet_availability(fleet.desired, len(fleet.zones), table.sla("ec2_instance"), table.sla("ec2_region")),
            )
        )
    for database in region.databases:
        parts.append(Part(database.label, table.sla("rds_multi_az" if database.multi_az else "rds_single_az")))
    return RegionPath(region=region.name, role=topology.role(region.name), parts=tuple(parts))


def recovery(topology: Topology, table: SlaTable) -> Recovery:
    """How `topology` recovers from a regional failure: detection by its health checks, DNS TTL, standby scale-up."""
    routing = topology.routing
    notes: list[str] = []
    checks = routing.health_checks
    if topology.mode == "active-passive":
        # Failover starts when the primary's check fails; the standby's own check does not delay it.
        checks = tuple(check for check in checks if check.target_region == topology.primary_region) or checks
    default_interval = int(table.assumption("health_check_interval_seconds"))
    default_threshold = int(table.assumption("health_check_failure_threshold"))
    detection = max(
        (detection_seconds(check.interval_seconds or default_interval, check.failure_threshold or default_threshold) for check in checks),
        default=0,
    )
    routed = [record for record in routing.records if record.policy != "simple"]
    alias_ttl = int(table.assumption("alias_ttl_seconds"))
    ttl = max((record.ttl_seconds if record.ttl_seconds is not None else alias_ttl for record in routed), default=0)
    if any(record.ttl_seconds is None for record in routed):
        notes.append(f"alias records take the load balancer's TTL, {alias_ttl} s")

    scale_up, mode = 0, "none"
    if topology.mode == "active-passive" and len(topology.regions) > 1:
        needed = topology.region(topology.primary_region).desired_instances
        standbys = [region for region in topology.regions if region.name != topology.primary_region]
        # The slowest standby bounds the recovery, since any of them may be the one that takes over.
        scale_up = max(_standby_scale_up(region.fleets, needed, table) for region in standbys)
        have = min(region.desired_instances for region in standbys)
        mode = "hot" if have >= needed else ("pilot-light" if have == 0 else "warm")
    # DNS only moves traffic away from a region when its record is tied to a health check.
    automated = any(record.health_checked for record in routed)
    if not automated:
        notes.append("no health-checked Route 53 failover or latency records are declared: failover is manual (clients switch between the exported regional endpoints)")
    return Recovery(automated=automated, detection_seconds=detection, dns_ttl_seconds=ttl, scale_up_seconds=scale_up, standby_mode=mode, notes=tuple(notes))


def _standby_scale_up(fleets: tuple[Fleet, ...], needed: int, table: SlaTable) -> int:
    launch = int(table.assumption("instance_launch_seconds"))
    have = sum(fleet.desired for fleet in fleets)
    slowest = max(fleets, key=lambda fleet: fleet.health_check_grace_period + fleet.target_interval * fleet.target_healthy_threshold, default=None)
    if slowest is None:
        return 0
    return scale_up_seconds(have, needed, launch, slowest.health_check_grace_period, slowest.target_interval, slowest.target_healthy_threshold)


def data_loss(topology: Topology, table: SlaTable) -> DataLoss:
    """The recovery point of `topology`: the largest replica lag alarm threshold, else the table's typical lag."""
    replicas = [db for region in topology.regions for db in region.databases if db.is_replica]
    if not replicas:
        return DataLoss(replicated=False, rpo_seconds=None, bound="no cross-region database replica is declared")
    if topology.replica_lag_alarms:
        # The largest threshold bounds the loss; ties resolve by name so the report is the same on every run.
        alarm = max(topology.replica_lag_alarms, key=lambda a: (a.threshold_seconds, a.name))
        return DataLoss(replicated=True, rpo_seconds=alarm.threshold_seconds, bound=f"bounded by the ReplicaLag alarm {alarm.name}")
    return DataLoss(replicated=True, rpo_seconds=table.assumption("replica_lag_seconds"), bound="typical asynchronous replica lag (documented assumption)")


def _azure_parts(topology: Topology, table: SlaTable) -> tuple[Part, ...]:
    azure = topology.azure
    parts: list[Part] = []
    if azure.front_doors:
        parts.append(Part("Azure Front Door", parallel(table.sla("front_door") for _ in azure.front_doors)))
    for gateway in azure.gateways:
        multi_location = gateway.sku == "Premium" and gateway.additional_locations
        sla = table.sla("apim_premium_multi_location") if multi_location else table.sla("apim", gateway.sku)
        parts.append(Part(f"API Management {gateway.sku} x{gateway.capacity}", sla))
    if azure.accounts:
        locations = sorted({account.location for account in azure.accounts})
        parts.append(Part(f"Azure OpenAI in {', '.join(locations)}", parallel(table.sla("azure_openai") for _ in azure.accounts)))
    return tuple(parts)
