"""How the regions of a stack work together: each region's role and capacity, decided from settings alone."""

from __future__ import annotations

from components.settings import Capacity, Settings

PRIMARY, STANDBY, ACTIVE = "primary", "standby", "active"


def region_role(settings: Settings, region: str) -> str:
    """active in active-active; in active-passive the primary region takes traffic and the others stand by."""
    if settings.topology == "active-active":
        return ACTIVE
    return PRIMARY if region == settings.primary_region else STANDBY


def standby_regions(settings: Settings) -> tuple[str, ...]:
    """Standby regions in the order of `regions`: the first one is the Route 53 SECONDARY."""
    return tuple(name for name in settings.region_names if region_role(settings, name) == STANDBY)


def region_capacity(settings: Settings, region: str) -> Capacity:
    """Full capacity, except in standby regions: reduced (warm standby) or none at all (pilot light)."""
    full = settings.fleet.capacity
    if region_role(settings, region) != STANDBY:
        return full
    if settings.multi_region.standby == "pilot-light":
        # No servers, but the group keeps its full ceiling: raising min and desired is all a failover takes.
        return Capacity(min_size=0, max_size=full.max_size, desired=0)
    return settings.multi_region.standby_capacity
