"""Failover drill settings: fault-injection templates per region and the recovery time they are judged against."""

from __future__ import annotations

from dataclasses import dataclass

from components.settings.fleet import Capacity
from components.settings.network import RegionSettings
from components.settings.reading import Reader, SettingsError, in_range, retention_days


@dataclass(frozen=True)
class DrillSettings:
    """Whether drills are declared, how long each fault lasts and the stack's recovery time objective."""

    enabled: bool
    fault_minutes: int  # how long each fault lasts; FIS takes ISO 8601 durations such as PT10M
    log_retention_days: int
    rto_seconds: int  # the stack's stated recovery time objective


# AWS FIS service quotas: one stop-instances target holds at most 5 instances (L-3F98B425), and an action lasts
# at most 12 hours (L-A7622DAA); this program keeps drill faults to an hour.
FIS_MAX_INSTANCES_PER_TARGET = 5
DRILL_FAULT_MINUTES = (1, 60)
RTO_SECONDS = (60, 86_400)


def parse_drills(
    read: Reader, regions: tuple[RegionSettings, ...], az_count: int, full: Capacity, standby: Capacity
) -> DrillSettings:
    """Drill settings; with drills on, no zone of any region may hold more servers than one FIS target stops."""
    enabled = read.boolean("drillsEnabled")
    if enabled:
        # Drills stop servers one zone per target, so a zone may never hold more than one target's worth.
        largest = max(full.max_size, standby.max_size)
        fewest_zones = min(len(region.availability_zones or ()) or az_count for region in regions)
        per_zone = -(-largest // fewest_zones)
        if per_zone > FIS_MAX_INSTANCES_PER_TARGET:
            raise SettingsError(
                "maxSize",
                largest,
                f"with drillsEnabled a zone may hold at most {FIS_MAX_INSTANCES_PER_TARGET} model servers (AWS FIS stops at most "
                f"{FIS_MAX_INSTANCES_PER_TARGET} instances per target, quota L-3F98B425); {largest} over {fewest_zones} zones puts "
                f"up to {per_zone} in one; lower it, add zones, or set drillsEnabled to false",
            )
    log_retention = retention_days(read, "drillLogRetentionDays")
    return DrillSettings(
        enabled=enabled,
        fault_minutes=in_range("drillFaultMinutes", read.integer("drillFaultMinutes"), DRILL_FAULT_MINUTES, " minutes"),
        log_retention_days=log_retention,
        rto_seconds=in_range("rtoSeconds", read.integer("rtoSeconds"), RTO_SECONDS, " seconds"),
    )
