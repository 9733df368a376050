"""Multi-region settings: how standby regions wait, the replicated database and global routing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from components import catalogs
from components.settings.fleet import Capacity, parse_capacity
from components.settings.reading import Reader, SettingsError, choice, in_range
from policy.rules import MIN_BACKUP_RETENTION_DAYS, PRODUCTION_CONFIG, production_min_backup_retention_days

STANDBY_MODES = ("warm-standby", "pilot-light")
# What RDS accepts: PostgreSQL storage in GiB, backup retention in days, instance port.
DB_ALLOCATED_STORAGE = (20, 65536)
DB_BACKUP_RETENTION = (1, 35)  # at least 1: RDS creates read replicas only from a source with automated backups
DB_PORT = (1150, 65535)
# What Route 53 accepts for a health check.
DNS_HEALTH_CHECK_INTERVALS = (10, 30)
DNS_FAILURE_THRESHOLD = (1, 10)
DNS_HEALTH_CHECK_PATH_MAX = 255  # HealthCheckConfig.ResourcePath (Route 53 API reference)


@dataclass(frozen=True)
class DatabaseSettings:
    """The PostgreSQL primary and its replicas (storage in GiB, retention in days)."""

    instance_class: str
    replica_instance_class: str
    replica_multi_az: bool
    engine_version: str
    allocated_storage: int
    max_allocated_storage: int  # 0: no storage autoscaling
    backup_retention_days: int
    # Keep a final snapshot of the primary (and the keys and credential that restore it) when it is deleted.
    final_snapshot: bool
    name: str
    username: str
    port: int

    @property
    def parameter_group_family(self) -> str:
        """The RDS parameter group family of the engine's major version, such as postgres16."""
        return f"postgres{self.engine_version.split('.')[0]}"


@dataclass(frozen=True)
class RoutingSettings:
    """Route 53 over the regions' load balancers (interval in seconds)."""

    domain_name: str | None  # None: no Route 53 resources, clients use the regional endpoints
    hosted_zone_id: str | None
    health_check_interval: int
    failure_threshold: int


@dataclass(frozen=True)
class MultiRegionSettings:
    """What the regions of a stack share: standby sizing, the database and routing."""

    standby: str | None  # warm-standby | pilot-light under active-passive, None under active-active
    standby_capacity: Capacity
    database: DatabaseSettings
    routing: RoutingSettings


def parse_multi_region(read: Reader, topology: str, environment: str, regions: tuple[str, ...]) -> MultiRegionSettings:
    """Standby, database and routing settings; active-passive with a domain has one standby (Route 53 failover pairs)."""
    standby = read.string("standby")
    if topology == "active-active":
        if standby:
            raise SettingsError("standby", standby, "must be empty under active-active: every region serves at full capacity")
        standby_mode = None
    else:
        standby_mode = choice("standby", standby or "warm-standby", STANDBY_MODES)
    routing = _parse_routing(read)
    if topology == "active-passive" and routing.domain_name and len(regions) > 2:
        # Route 53 failover records come in pairs: one PRIMARY and one SECONDARY per name.
        raise SettingsError(
            "regions", list(regions), "active-passive with domainName supports one standby region (Route 53 failover records are a pair)"
        )
    return MultiRegionSettings(
        standby=standby_mode,
        standby_capacity=parse_capacity(read, ("standbyMinSize", "standbyMaxSize", "standbyDesiredCapacity")),
        database=_parse_database(read, environment),
        routing=routing,
    )


def _parse_database(read: Reader, environment: str) -> DatabaseSettings:
    instance_class = _db_instance_class(read, "dbInstanceClass", read.string("dbInstanceClass"))
    replica_class = read.string("dbReplicaInstanceClass")
    engine_version = read.string("dbEngineVersion")
    if re.fullmatch(r"\d{2}\.\d+(\.\d+)?", engine_version):
        # Automatic minor version upgrades are on: RDS moves a pinned 16.4 to 16.8 on its own, and the next
        # `pulumi up` would ask for 16.4 again, a downgrade RDS refuses (InvalidParameterCombination). A major
        # version is a prefix the provider matches against the running version (engine_version docs).
        raise SettingsError(
            "dbEngineVersion", engine_version, f"pin only the major version ({engine_version.split('.')[0]}): RDS upgrades minor versions on its own"
        )
    if not re.fullmatch(r"\d{2}", engine_version) or int(engine_version) < 12:
        raise SettingsError("dbEngineVersion", engine_version, "expected a PostgreSQL major version 12 or newer such as 16")
    allocated = in_range("dbAllocatedStorage", read.integer("dbAllocatedStorage"), DB_ALLOCATED_STORAGE, " GiB")
    max_allocated = read.integer("dbMaxAllocatedStorage")
    if max_allocated != 0 and not allocated < max_allocated <= DB_ALLOCATED_STORAGE[1]:
        raise SettingsError(
            "dbMaxAllocatedStorage", max_allocated, f"must be above dbAllocatedStorage ({allocated}) and at most {DB_ALLOCATED_STORAGE[1]} GiB, or 0"
        )
    retention = in_range("dbBackupRetentionDays", read.integer("dbBackupRetentionDays"), DB_BACKUP_RETENTION, " days")
    minimum, source = backup_retention_minimum(environment)
    if retention < minimum:
        raise SettingsError(
            "dbBackupRetentionDays", retention, f"{environment} keeps at least {minimum} days of backups, the policy pack's minimum ({source})"
        )
    final_snapshot = read.boolean("dbFinalSnapshot")
    if environment == "prod" and not final_snapshot:
        # Turning deletion protection off is how a production stack is destroyed; what restores it must survive that.
        raise SettingsError("dbFinalSnapshot", final_snapshot, "prod keeps a final snapshot of its database")
    return DatabaseSettings(
        instance_class=instance_class,
        replica_instance_class=_db_instance_class(read, "dbReplicaInstanceClass", replica_class) if replica_class else instance_class,
        replica_multi_az=read.boolean("dbReplicaMultiAz"),
        engine_version=engine_version,
        allocated_storage=allocated,
        max_allocated_storage=max_allocated,
        backup_retention_days=retention,
        final_snapshot=final_snapshot,
        name=_identifier("dbName", read.string("dbName")),
        username=_identifier("dbUsername", read.string("dbUsername")),
        port=in_range("dbPort", read.integer("dbPort"), DB_PORT),
    )


def backup_retention_minimum(environment: str) -> tuple[int, str]:
    """(days, where the number is stated) of the backups a primary database of `environment` keeps.

    The policy pack refuses less at `pulumi preview`: its default everywhere, its production config in prod
    (policy/rules.py states both), so settings read the same numbers instead of repeating them.
    """
    if environment == "prod":
        return production_min_backup_retention_days(), f"policy/{PRODUCTION_CONFIG.name}"
    return MIN_BACKUP_RETENTION_DAYS, "policy/rules.py, the default of database-backups-retained"


def _db_instance_class(read: Reader, key: str, value: str) -> str:
    # botocore's RDS model gives the shape of a class name (DBInstanceClass), not the classes themselves.
    if not re.fullmatch(r"db\.[a-z0-9]+\.[a-z0-9]+", value) or not catalogs.rds_instance_class_shape().fits(value):
        raise SettingsError(key, value, "expected an RDS instance class such as db.r6g.large")
    return read.listed(key, value, catalogs.rds_instance_classes())


def _identifier(key: str, value: str) -> str:
    # PostgreSQL names on RDS: a letter, then letters, digits or underscores; rds* names are reserved.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", value) or value.lower().startswith("rds"):
        raise SettingsError(key, value, "expected a letter then up to 62 letters, digits or underscores, not starting with rds")
    return value


def _parse_routing(read: Reader) -> RoutingSettings:
    domain = read.string("domainName").rstrip(".").lower()
    zone = read.string("hostedZoneId")
    if domain and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        raise SettingsError("domainName", domain, "expected a DNS name such as models.example.com")
    if domain and not zone:
        raise SettingsError("hostedZoneId", zone, f"required with domainName ({domain}): the Route 53 hosted zone that holds it")
    if zone and not domain:
        raise SettingsError("domainName", domain, f"required with hostedZoneId ({zone}): the name to route")
    if zone and not re.fullmatch(r"Z[A-Z0-9]{1,31}", zone):
        raise SettingsError("hostedZoneId", zone, "expected a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    interval = read.integer("dnsHealthCheckInterval")
    if interval not in DNS_HEALTH_CHECK_INTERVALS:
        raise SettingsError("dnsHealthCheckInterval", interval, "Route 53 checks every 10 or 30 seconds")
    return RoutingSettings(
        domain_name=domain or None,
        hosted_zone_id=zone or None,
        health_check_interval=interval,
        failure_threshold=in_range("dnsFailureThreshold", read.integer("dnsFailureThreshold"), DNS_FAILURE_THRESHOLD),
    )
