"""ReplicatedDatabase: the model registry and configuration store, a PostgreSQL primary with a read replica in every other region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.firewall import allow_tcp
from components.settings import DatabaseSettings

TYPE = "ha-model-serving:aws:ReplicatedDatabase"
PRIMARY, REPLICA = "primary", "replica"


@dataclass(frozen=True)
class DatabaseRegion:
    """What the database needs from one region of the stack."""

    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    isolated_subnet_ids: Sequence[pulumi.Input[str]]
    # Security groups allowed to reach the database port, keyed by a stable client name ("fleet", "model-proxy").
    client_security_group_ids: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class ReplicatedDatabaseArgs:
    # Prefix of RDS identifiers, unique per stack within the account: "<project>-<stack>".
    identifier_prefix: str
    primary_region: str
    regions: Mapping[str, DatabaseRegion]
    settings: DatabaseSettings
    deletion_protection: bool


class ReplicatedDatabase(pulumi.ComponentResource):
    """Per region a customer-managed KMS key, subnet group, security group and SSL-only parameter group;
    the primary (Multi-AZ) in the primary region and a cross-region read replica in each other region.

    Spans regions, so each child is created through the provider of its own region.
    """

    def __init__(self, name: str, args: ReplicatedDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(TYPE, name, None, opts)
        self.keys: dict[str, aws.kms.Key] = {}
        self.security_groups: dict[str, aws.ec2.SecurityGroup] = {}
        self.subnet_groups: dict[str, aws.rds.SubnetGroup] = {}
        self.parameter_groups: dict[str, aws.rds.ParameterGroup] = {}
        for region, where in args.regions.items():
            self._regional_foundation(f"{name}-{region}", region, where, args.settings)

        self.primary = self._primary(f"{name}-{args.primary_region}", args)
        self.replicas: dict[str, aws.rds.Instance] = {
            region: self._replica(f"{name}-{region}", region, args)
            for region in args.regions
            if region != args.primary_region
        }
        self.instances: dict[str, aws.rds.Instance] = {args.primary_region: self.primary, **self.replicas}
        self.roles: dict[str, str] = {region: PRIMARY if region == args.primary_region else REPLICA for region in args.regions}
        self.endpoints = {region: instance.endpoint for region, instance in self.instances.items()}
        self.register_outputs({"endpoints": self.endpoints, "roles": self.roles})

    def _in(self, where: DatabaseRegion, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=where.provider, **extra)

    def _regional_foundation(self, name: str, region: str, where: DatabaseRegion, settings: DatabaseSettings) -> None:
        opts = self._in(where)
        self.keys[region] = aws.kms.Key(
            name,
            description=f"{name}: database storage and master user secret",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=opts,
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
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            deletion_protection=args.deletion_protection,
        )

    def _primary(self, name: str, args: ReplicatedDatabaseArgs) -> aws.rds.Instance:
        settings, region = args.settings, args.primary_region
        identifier = f"{args.identifier_prefix}-{region}"
        return aws.rds.Instance(
            name,
            identifier=identifier,
            engine="postgres",
            engine_version=settings.engine_version,
            instance_class=settings.instance_class,
            allocated_storage=settings.allocated_storage,
            storage_type="gp3",
            db_name=settings.name,
            username=settings.username,
            # RDS generates and rotates the password in Secrets Manager; it never passes through config or state.
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self.keys[region].arn,
            multi_az=True,
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=f"{identifier}-final" if args.deletion_protection else None,
            **self._common(region, args),
            opts=self._in(args.regions[region]),
        )

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
            opts=self._in(args.regions[region], depends_on=[self.primary]),
        )
