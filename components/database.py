"""ReplicatedDatabase: the model registry and configuration store, a PostgreSQL primary with a read replica in every other region.

Rules from the providers that shape it (docs/service-rules.md lists them with their sources):
- RDS creates no read replica of a source whose master password RDS manages in Secrets Manager
  (RDS User Guide, "Password management with Amazon RDS and AWS Secrets Manager", Limitations), and
  after a failover any region may become a source: the stack owns the credential instead, a generated
  password in a Secrets Manager secret replicated to every region of the stack.
- A final snapshot identifier must be unused (RDS DeleteDBInstance: DBSnapshotAlreadyExists), so
  each incarnation of the stack gets its own, kept in state.
- A snapshot is only as restorable as its KMS key: keys of a stack that keeps final snapshots are
  left in the account on destroy instead of being scheduled for deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.firewall import allow_tcp
from components.settings import DatabaseSettings

TYPE = "ha-model-serving:aws:ReplicatedDatabase"
PRIMARY, REPLICA = "primary", "replica"
ENGINE = "postgres"
# RDS for PostgreSQL master passwords: 8-128 printable ASCII characters except /, ', ", @ and space
# (CreateDBInstance, MasterUserPassword). The special characters used are a subset that also needs no
# quoting in a connection URI's password part beyond percent-encoding.
PASSWORD_LENGTH = 40
PASSWORD_SPECIALS = "!#%*()-_=+[]{}<>:?"
# Secrets Manager keeps a deleted secret this many days (7-30) before it is gone for good.
PROTECTED_SECRET_RECOVERY_DAYS = 30


@dataclass(frozen=True)
class DatabaseCredentials:
    """Where the master credential lives: one secret, readable in every region of the stack.

    `secret_name` is the same in the primary region and in every replica region (a replica secret keeps
    its primary's name), so a client or the failover runbook reads it with the name and its own region.
    """

    secret_name: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    home_region: str
    replica_regions: tuple[str, ...]


@dataclass(frozen=True)
class DatabaseRegion:
    """What the database needs from one region of the stack."""

    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    isolated_subnet_ids: Sequence[pulumi.Input[str]]
    # Security groups allowed to reach the database port, keyed by a stable client name ("fleet", "model-proxy").
    client_security_group_ids: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class RegionalDatabase:
    """The database as one region of the stack sees it: its own instance, the primary or a replica, and the credential."""

    instance: aws.rds.Instance
    role: str  # PRIMARY or REPLICA
    # The master credential's secret: the same name in every region (a replica secret keeps its primary's name).
    secret_name: pulumi.Output[str]


@dataclass(frozen=True)
class ReplicatedDatabaseArgs:
    """Where the database lives and how it is configured.

    regions: every region of the stack, the primary's included, with its isolated subnets and client
    security groups (DatabaseRegion); deletion_protection: on the primary and every replica.
    """

    # Prefix of RDS identifiers, unique per stack within the account: "<project>-<stack>".
    identifier_prefix: str
    primary_region: str
    regions: Mapping[str, DatabaseRegion]
    settings: DatabaseSettings
    deletion_protection: bool


class ReplicatedDatabase(pulumi.ComponentResource):
    """Per region a customer-managed KMS key, subnet group, security group and SSL-only parameter group;
    the primary (Multi-AZ) in the primary region and a cross-region read replica in each other region;
    the master credential (a generated password) in a secret of the primary region replicated to every other.

    Spans regions, so each child is created through the provider of its own region.
    """

    def __init__(self, name: str, args: ReplicatedDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.keys: dict[str, aws.kms.Key] = {}
        self.security_groups: dict[str, aws.ec2.SecurityGroup] = {}
        self.subnet_groups: dict[str, aws.rds.SubnetGroup] = {}
        self.parameter_groups: dict[str, aws.rds.ParameterGroup] = {}
        for region, where in args.regions.items():
            self._regional_foundation(f"{name}-{region}", region, where, args)

        # One value per incarnation of the stack, kept in state: a destroy and a new `up` get a new one.
        self.incarnation = random.RandomId(f"{name}-incarnation", byte_length=4, opts=pulumi.ResourceOptions(parent=self))
        self.password = random.RandomPassword(
            f"{name}-master-password",
            length=PASSWORD_LENGTH,
            override_special=PASSWORD_SPECIALS,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.credentials, self.secret = self._credentials(name, args)
        self.primary = self._primary(f"{name}-{args.primary_region}", args)
        self.replicas: dict[str, aws.rds.Instance] = {
            region: self._replica(f"{name}-{region}", region, args)
            for region in args.regions
            if region != args.primary_region
        }
        self.instances: dict[str, aws.rds.Instance] = {args.primary_region: self.primary, **self.replicas}
        self.roles: dict[str, str] = {region: PRIMARY if region == args.primary_region else REPLICA for region in args.regions}
        self.endpoints = {region: instance.endpoint for region, instance in self.instances.items()}
        self.register_outputs({"endpoints": self.endpoints, "roles": self.roles, "secret_name": self.credentials.secret_name})

    def in_region(self, region: str) -> RegionalDatabase:
        """The instance and role of `region` (one of the regions the database was given; KeyError otherwise)."""
        return RegionalDatabase(instance=self.instances[region], role=self.roles[region], secret_name=self.credentials.secret_name)

    def _in(self, where: DatabaseRegion, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=where.provider, **extra)

    def _regional_foundation(self, name: str, region: str, where: DatabaseRegion, args: ReplicatedDatabaseArgs) -> None:
        settings = args.settings
        opts = self._in(where)
        self.keys[region] = aws.kms.Key(
            name,
            description=f"{name}: database storage, snapshots and the master credential's secret",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            # A final snapshot encrypted with this key outlives the stack; so must the key, or the snapshot
            # cannot be restored once the key's deletion window ends.
            opts=self._in(where, retain_on_delete=keeps_final_snapshots(args)),
        )
        self.subnet_groups[region] = aws.rds.SubnetGroup(
            name,
            subnet_ids=list(where.isolated_subnet_ids),
            description="Isolated subnets: no route to or from the internet",
            opts=opts,
        )
        self.parameter_groups[region] = aws.rds.ParameterGroup(
            name,
            family=settings.parameter_group_family,
            description="PostgreSQL that accepts TLS connections only",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            opts=opts,
        )
        security_group = aws.ec2.SecurityGroup(
            name,
            vpc_id=where.vpc_id,
            description="Database: its port from the application security groups of this region only",
            tags={"Name": name},
            opts=opts,
        )
        # The relation "client may reach the database" is owned here, on both ends: ingress on the database, egress on the client.
        for client, client_group_id in where.client_security_group_ids.items():
            allow_tcp(
                f"{name}-from-{client}", direction="ingress", security_group_id=security_group.id,
                port=settings.port, peer_group_id=client_group_id, description=f"from {client}", opts=opts,
            )
            allow_tcp(
                f"{name}-{client}-to-database", direction="egress", security_group_id=client_group_id,
                port=settings.port, peer_group_id=security_group.id, description="to the database", opts=opts,
            )
        self.security_groups[region] = security_group

    def _common(self, region: str, args: ReplicatedDatabaseArgs) -> dict:
        """What primary and replicas share: private, encrypted, SSL-only, IAM authentication, backups."""
        settings = args.settings
        return dict(
            db_subnet_group_name=self.subnet_groups[region].name,
            vpc_security_group_ids=[self.security_groups[region].id],
            parameter_group_name=self.parameter_groups[region].name,
            kms_key_id=self.keys[region].arn,
            storage_encrypted=True,
            publicly_accessible=False,
            iam_database_authentication_enabled=True,
            port=settings.port,
            max_allocated_storage=settings.max_allocated_storage,
            # A promoted replica must already have backups: it becomes the primary during a failover.
            backup_retention_period=settings.backup_retention_days,
            copy_tags_to_snapshot=True,
            # RDS moves the instance to new minor versions on its own; settings pin only the major version,
            # so the next `up` never asks RDS for a downgrade it refuses.
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            deletion_protection=args.deletion_protection,
        )

    def _primary(self, name: str, args: ReplicatedDatabaseArgs) -> aws.rds.Instance:
        settings, region = args.settings, args.primary_region
        identifier = f"{args.identifier_prefix}-{region}"
        keep = keeps_final_snapshots(args)
        return aws.rds.Instance(
            name,
            identifier=identifier,
            engine=ENGINE,
            engine_version=settings.engine_version,
            instance_class=settings.instance_class,
            allocated_storage=settings.allocated_storage,
            storage_type="gp3",
            db_name=settings.name,
            username=settings.username,
            # The stack's own credential (a Pulumi secret), never RDS-managed: a source whose password RDS
            # manages cannot have read replicas, and every region may become the source after a failover.
            password=self.password.result,
            multi_az=True,
            skip_final_snapshot=not keep,
            final_snapshot_identifier=pulumi.Output.concat(identifier, "-final-", self.incarnation.hex) if keep else None,
            **self._common(region, args),
            opts=self._in(args.regions[region], depends_on=[self.secret_version]),
        )

    def _credentials(self, name: str, args: ReplicatedDatabaseArgs) -> tuple[DatabaseCredentials, aws.secretsmanager.Secret]:
        """The master credential in a secret of the primary region, replicated to every other region under its own key."""
        home = args.primary_region
        replica_regions = tuple(region for region in args.regions if region != home)
        secret = aws.secretsmanager.Secret(
            f"{name}-{home}-credentials",
            # A prefix, not a name: Secrets Manager holds a deleted secret's name for its recovery window, so a
            # fixed name would block the next incarnation of the stack. The generated name is kept in state.
            name_prefix=f"{args.identifier_prefix}-database-",
            description=f"Master credential of the {args.identifier_prefix} databases (every region)",
            kms_key_id=self.keys[home].arn,
            # Each replica is encrypted with its own region's key (a KMS key never leaves its region).
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=region, kms_key_id=self.keys[region].arn) for region in replica_regions],
            recovery_window_in_days=PROTECTED_SECRET_RECOVERY_DAYS if keeps_final_snapshots(args) else 0,
            opts=self._in(args.regions[home]),
        )
        settings = args.settings
        self.secret_version = aws.secretsmanager.SecretVersion(
            f"{name}-{home}-credentials",
            secret_id=secret.id,
            # The shape Secrets Manager's RDS rotation functions read; the host differs per region and comes
            # from the stack outputs.
            secret_string=pulumi.Output.json_dumps(
                {"engine": ENGINE, "username": settings.username, "password": self.password.result, "dbname": settings.name, "port": settings.port}
            ),
            opts=self._in(args.regions[home]),
        )
        credentials = DatabaseCredentials(secret_name=secret.name, secret_arn=secret.arn, home_region=home, replica_regions=replica_regions)
        return credentials, secret

    def _replica(self, name: str, region: str, args: ReplicatedDatabaseArgs) -> aws.rds.Instance:
        settings = args.settings
        return aws.rds.Instance(
            name,
            identifier=f"{args.identifier_prefix}-{region}",
            # Cross-region replication names its source by ARN; engine, version, storage and user come from it.
            replicate_source_db=self.primary.arn,
            instance_class=settings.replica_instance_class,
            multi_az=settings.replica_multi_az,
            # RDS takes no final snapshot of a read replica: its data lives on in the primary.
            skip_final_snapshot=True,
            **self._common(region, args),
            # RDS cannot make a standalone instance (an old primary, after a failover) or another source's replica
            # follow a new source, and the provider would try it as an update ("cannot elect new source database
            # for replication", hashicorp/terraform-provider-aws#4419, #16054): a new source means a new replica,
            # deleted first since the identifier is fixed.
            opts=self._in(args.regions[region], depends_on=[self.primary], replace_on_changes=["replicateSourceDb"], delete_before_replace=True),
        )


def keeps_final_snapshots(args: ReplicatedDatabaseArgs) -> bool:
    """Whether the primary leaves a final snapshot, and with it its keys and its password's secret (`dbFinalSnapshot`).

    Not tied to deletion protection: the way to destroy a protected stack is to lift its protection with an
    `up` first, and Pulumi deletes with the inputs and options of that last `up`.
    """
    return args.settings.final_snapshot
