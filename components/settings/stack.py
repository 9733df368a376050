"""The whole stack's settings, read once and in order: each concern's reader, then the rules between concerns."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from components import addressing
from components.settings.azure import AzureSettings, parse_azure
from components.settings.drills import DrillSettings, parse_drills
from components.settings.fleet import FleetSettings, parse_fleet
from components.settings.monitoring import MonitoringSettings, parse_monitoring
from components.settings.multi_region import DNS_HEALTH_CHECK_PATH_MAX, MultiRegionSettings, parse_multi_region
from components.settings.network import NAT_STRATEGIES, RegionSettings, parse_region_names, parse_regions, parse_subnet_layout
from components.settings.proxy import ProxySettings, parse_proxy
from components.settings.reading import UNSHOWN, Reader, SettingsError, choice, did_you_mean
from components.settings.schema import PROJECT, SCHEMA_BY_KEY

TOPOLOGIES = ("active-active", "active-passive")
ENVIRONMENTS = ("dev", "staging", "prod")
# RDS DB instance identifiers (CreateDBInstance, DBInstanceIdentifier): 1-63 characters. The program names
# each region's database `<slug>-<region>`, the only name that grows with the stack's name and has no room to spare.
RDS_IDENTIFIER_MAX = 63


def stack_slug(project: str, stack: str) -> str:
    """`<project>-<stack>` in lower-case letters, digits and single hyphens: fits every cloud's naming rules."""
    return re.sub(r"[^a-z0-9]+", "-", f"{project}-{stack}".lower()).strip("-")


class StackNameError(SettingsError):
    """The stack's name would make a name a cloud refuses. Raised with the settings' errors, before any resource."""

    def __init__(self, stack: str, allowed: str):
        ValueError.__init__(self, f"invalid stack name {stack!r}: {allowed}")
        self.key = "stack"
        self.value = stack


@dataclass(frozen=True)
class Settings:
    """Every setting of one stack, typed, frozen and validated: what the program and its components read."""

    project: str
    stack: str
    environment: str
    topology: str
    primary_region: str
    regions: tuple[RegionSettings, ...]
    az_count: int
    subnet_layout: addressing.SubnetLayout
    nat_strategy: str
    fleet: FleetSettings
    deletion_protection: bool
    proxy: ProxySettings
    monitoring: MonitoringSettings
    azure: AzureSettings
    multi_region: MultiRegionSettings
    drills: DrillSettings

    @property
    def name_prefix(self) -> str:
        """`<project>-<stack>`: the start of the names operators see (alarms, dashboards, log groups), unique per account."""
        return f"{self.project}-{self.stack}"

    @property
    def slug(self) -> str:
        """`stack_slug` of the project and stack: the prefix of names with strict character rules (RDS identifiers)."""
        return stack_slug(self.project, self.stack)

    @property
    def tags(self) -> dict[str, str]:
        """The stack's tags: on every resource (the AWS providers' default tags, Azure tags), and what drills select servers by."""
        return {"project": self.project, "stack": self.stack, "environment": self.environment}

    @property
    def region_names(self) -> tuple[str, ...]:
        """The regions' names, in the order the regions setting lists them."""
        return tuple(region.name for region in self.regions)

    def region(self, name: str) -> RegionSettings:
        """The settings of the region called `name` (StopIteration if the stack has none)."""
        return next(region for region in self.regions if region.name == name)


def load_settings(config: Any, stack: str) -> Settings:
    """Reads and validates every setting from a pulumi.Config, refusing keys SCHEMA does not declare."""
    return parse_settings(config.get, stack, keys=stack_config_keys())


def stack_config_keys() -> frozenset[str]:
    """Every config key of the running stack, any namespace ("aws:region", "ha-model-serving:topology").

    Under `pulumi preview`/`up` the Python language host loads the engine's PULUMI_CONFIG into
    pulumi.runtime.config (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec), as
    pulumi.runtime.set_all_config does under mocks and the Automation API; PULUMI_CONFIG itself is read
    too, for a program started some other way.
    """
    from pulumi.runtime import config as runtime_config

    return frozenset(runtime_config.CONFIG.get()) | frozenset(runtime_config.get_config_env())


def parse_settings(get: Callable[[str], str | None], stack: str, keys: Iterable[str] | None = None) -> Settings:
    """Validates raw settings (as the Pulumi CLI hands them over: strings, arrays as JSON).

    keys: every config key the stack sets, when known; one in this project's namespace that SCHEMA does
    not declare is refused, naming the closest declared key. (The Pulumi CLI checks only the keys
    Pulumi.yaml declares: pulumi/pulumi sdk/go/common/workspace/config.go, mergeConfig.)
    """
    if keys is not None:
        _refuse_misspelt_namespaces(keys)
        _refuse_undeclared_keys(keys)
    read = Reader(get)
    read.unlisted_names()  # checked first, so a bad entry is reported even when no name needs vouching for
    environment = choice("environment", read.string("environment"), ENVIRONMENTS)
    topology = choice("topology", read.string("topology"), TOPOLOGIES)
    region_names = parse_region_names(read)
    longest = max(len(f"{stack_slug(PROJECT, stack)}-{region}") for region in region_names)
    if longest > RDS_IDENTIFIER_MAX:
        spare = len(stack) - (longest - RDS_IDENTIFIER_MAX)
        raise StackNameError(
            stack, f"each region's database is named <project>-<stack>-<region>, and RDS takes at most {RDS_IDENTIFIER_MAX} characters; "
            f"with these regions, use a stack name of at most {spare} characters"
        )
    primary_region = read.string("primaryRegion")
    if primary_region not in region_names:
        raise read.default_elsewhere("primaryRegion", region_names, "regions") or SettingsError(
            "primaryRegion", primary_region, f"must be one of regions {list(region_names)}"
        )

    layout = parse_subnet_layout(read)
    regions = parse_regions(read, region_names, layout)
    nat_strategy = choice("natStrategy", read.string("natStrategy"), NAT_STRATEGIES)
    proxy = parse_proxy(read, region_names)
    if proxy.enabled and nat_strategy == "none":
        raise SettingsError(
            "natStrategy",
            nat_strategy,
            "the model proxy runs in private subnets and needs NAT to reach every region; use single or one-per-az, or set proxyEnabled to false",
        )
    az_count = read.integer("azCount")
    if az_count < 2:
        raise SettingsError("azCount", az_count, "at least 2 availability zones per region are needed for redundancy")

    multi_region = parse_multi_region(read, topology, environment, region_names)
    secured = sorted(region.name for region in regions if region.certificate_arn)
    if proxy.enabled and secured and not multi_region.routing.domain_name:
        # The proxy verifies TLS; a load balancer's own DNS name is not what a regional certificate covers.
        raise SettingsError(
            "domainName",
            "",
            f"regions {secured} serve HTTPS, so the model proxy needs <region>.<domainName> names their certificates cover; "
            "set domainName and hostedZoneId, or proxyEnabled to false",
        )

    fleet = parse_fleet(read)
    path = fleet.health_check.path
    if multi_region.routing.domain_name and len(path) > DNS_HEALTH_CHECK_PATH_MAX:
        # Route 53 probes each region's load balancer on the same path, and takes a shorter one than the load balancer.
        raise SettingsError(
            "healthCheckPath", path, f"with domainName, Route 53 health checks probe this path too, and take at most {DNS_HEALTH_CHECK_PATH_MAX} characters, not {len(path)}"
        )
    return Settings(
        project=PROJECT,
        stack=stack,
        environment=environment,
        topology=topology,
        primary_region=primary_region,
        regions=regions,
        az_count=az_count,
        subnet_layout=layout,
        nat_strategy=nat_strategy,
        fleet=fleet,
        deletion_protection=read.boolean("deletionProtection"),
        proxy=proxy,
        monitoring=parse_monitoring(read, environment, min_size=fleet.capacity.min_size),
        azure=parse_azure(read),
        multi_region=multi_region,
        drills=parse_drills(read, regions, az_count, fleet.capacity, multi_region.standby_capacity),
    )


# A namespace this far from the project's, in single-character edits, is taken for a misspelling of it. The
# providers' namespaces (aws, azure-native, random, pulumi) are much further away, as is any other project's.
NAMESPACE_TYPO_DISTANCE = 2


def _refuse_misspelt_namespaces(keys: Iterable[str]) -> None:
    """Refuses `<namespace>:<name>` keys whose namespace is a misspelling of the project's.

    The Pulumi CLI validates only the project's own namespace against Pulumi.yaml and hands every other
    namespace to whoever reads it (pulumi/pulumi#11127), so `ha-model-servng:deletionProtection` would
    be read by nobody and silently ignored.
    """
    misspelt = sorted(
        (namespace, name)
        for namespace, sep, name in (key.partition(":") for key in keys)
        if sep and namespace != PROJECT and edit_distance(namespace.lower(), PROJECT) <= NAMESPACE_TYPO_DISTANCE
    )
    if not misspelt:
        return

    def meant(name: str) -> str:
        close = difflib.get_close_matches(name, SCHEMA_BY_KEY, n=1, cutoff=0.6)
        return f"{PROJECT}:{name if name in SCHEMA_BY_KEY or not close else close[0]}"

    (namespace, name), *others = misspelt
    also = "".join(f" Also {other}:{key}: did you mean {meant(key)}?" for other, key in others)
    raise SettingsError(
        name,
        UNSHOWN,
        f"{namespace!r} is not this project's namespace, so nothing reads the value; did you mean {meant(name)}?{also}",
        namespace=namespace,
    )


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest single-character insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _refuse_undeclared_keys(keys: Iterable[str]) -> None:
    namespace = f"{PROJECT}:"
    undeclared = sorted(key.removeprefix(namespace) for key in keys if key.startswith(namespace) and key.removeprefix(namespace) not in SCHEMA_BY_KEY)
    if not undeclared:
        return
    first, *others = undeclared
    # Each sentence ends in the question a close match asks, or in a full stop.
    also = "".join(f" Also undeclared: {PROJECT}:{key}{did_you_mean(key, SCHEMA_BY_KEY) or '.'}" for key in others)
    raise SettingsError(
        first,
        UNSHOWN,
        f"this project declares no such setting, so its value would be ignored{did_you_mean(first, SCHEMA_BY_KEY) or '.'}{also} "
        "Every setting is listed in Pulumi.yaml and the README.",
    )
