"""ReplicatedDatabase: a private, encrypted, SSL-only primary and a cross-region replica in every other region."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from components.database import DatabaseRegion, ReplicatedDatabase, ReplicatedDatabaseArgs
from policy import rules
from components.settings import SettingsError
from tests.settings_helpers import parse

DB = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"
INCARNATION = "random:index/randomId:RandomId"
# RDS for PostgreSQL master passwords (CreateDBInstance, MasterUserPassword): 8-128 characters, none of these.
RDS_PASSWORD_FORBIDDEN = set("/'\"@ ")


def databases(run):
    primary = run.one(DB, region=run.outputs["primaryRegion"])
    replicas = {db.region: db for db in run.of_type(DB) if db.region != primary.region}
    return primary, replicas


def declared_key(run, arn: str):
    return next(key for key in run.of_type(KEY) if key.state["arn"] == arn)


def test_every_other_region_has_a_replica_of_the_primary_encrypted_with_its_own_regions_key(prod):
    primary, replicas = databases(prod)
    assert set(replicas) == {"us-west-2", "eu-west-1"}
    for region, replica in replicas.items():
        assert replica["replicateSourceDb"] == primary.state["arn"]
        assert primary.urn in replica.dependencies
        key = declared_key(prod, replica["kmsKeyId"])
        assert key.region == region and replica["kmsKeyId"].startswith(f"arn:aws:kms:{region}:")
        assert replica["storageEncrypted"] is True
        # Engine, version, storage and master user come from the source; setting them on a replica is an error.
        assert not {"engine", "engineVersion", "username", "dbName", "password", "manageMasterUserPassword", "allocatedStorage"} & set(replica.inputs)


def test_primary_is_multi_az_encrypted_backed_up_and_protected_in_prod(prod):
    primary, _ = databases(prod)
    assert primary.region == "us-east-1"
    # Only the major version: RDS applies minor versions itself, and the provider matches the prefix.
    assert primary["engine"] == "postgres" and primary["engineVersion"] == "16" and primary["autoMinorVersionUpgrade"] is True
    assert primary["multiAz"] is True
    assert primary["storageEncrypted"] is True
    assert declared_key(prod, primary["kmsKeyId"]).region == "us-east-1"
    assert primary["backupRetentionPeriod"] == 14
    assert primary["deletionProtection"] is True
    assert primary["iamDatabaseAuthenticationEnabled"] is True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_database_manages_its_own_password_so_every_one_can_be_a_replica_source(stack, dev, prod):
    """RDS creates no read replica of a source whose password it manages; after a failover any region is the source."""
    run = {"dev": dev, "prod": prod}[stack]
    primary, replicas = databases(run)
    password = run.one(PASSWORD)
    assert not any("manageMasterUserPassword" in db or "masterUserSecretKmsKeyId" in db for db in run.of_type(DB))
    # The stack's own password, passed as a Pulumi secret; replicas take it from their source.
    assert primary["password"] == password.state["result"] and "password" in primary.secret_inputs
    assert all("password" not in replica for replica in replicas.values())
    assert rules.replicated_databases_own_their_password([(db.type, db.inputs) for db in run.of_type(DB)]) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_replica_given_a_new_source_is_replaced_not_updated(stack, dev, prod):
    """After a failover the old primary is declared a replica of the new one: an update is refused by RDS."""
    run = {"dev": dev, "prod": prod}[stack]
    primary, replicas = databases(run)
    assert replicas
    for replica in replicas.values():
        assert replica.replace_on_changes == ("replicateSourceDb",) and replica.delete_before_replace, replica.name
    assert primary.replace_on_changes == () and "replicateSourceDb" not in primary.inputs


def test_the_generated_password_is_one_rds_accepts(prod):
    password = prod.one(PASSWORD)
    assert 8 <= password["length"] <= 128
    assert not RDS_PASSWORD_FORBIDDEN & set(password["overrideSpecial"])
    assert password.get("special", True) is not False and password["minNumeric"] >= 1


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_credential_secret_is_in_every_region_under_that_regions_key(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    primary, replicas = databases(run)
    secret = run.one(SECRET)
    assert secret.region == primary.region
    assert declared_key(run, secret["kmsKeyId"]).region == primary.region
    assert {replica["region"]: declared_key(run, replica["kmsKeyId"]).region for replica in secret["replicas"]} == {
        region: region for region in replicas
    }
    version = run.one(SECRET_VERSION)
    assert version["secretId"] == secret.id and "secretString" in version.secret_inputs
    value = json.loads(version["secretString"])
    assert value == {"engine": "postgres", "username": primary["username"], "password": primary["password"], "dbname": primary["dbName"], "port": primary["port"]}
    # Exported per region, one name: a replica secret keeps its primary's name.
    exported = {region: values["database"]["secretName"] for region, values in run.outputs["regions"].items()}
    assert set(exported.values()) == {secret.state["name"]} and set(exported) == {primary.region, *replicas}


def test_a_protected_stack_leaves_a_final_snapshot_of_its_own_incarnation_and_keeps_what_restores_it(prod):
    primary, _ = databases(prod)
    incarnation = prod.one(INCARNATION)
    assert primary["skipFinalSnapshot"] is False
    # A fixed identifier would exist already after the first destroy (DBSnapshotAlreadyExists on the second).
    assert primary["finalSnapshotIdentifier"] == f"ha-model-serving-prod-us-east-1-final-{incarnation.state['hex']}"
    assert "keepers" not in incarnation.inputs  # lives exactly as long as the stack
    # The snapshot's key stays in the account; its password stays recoverable for the longest window.
    assert all(key.retain_on_delete for key in prod.of_type(KEY) if key.name.startswith("database-"))
    secret = prod.one(SECRET)
    assert secret["recoveryWindowInDays"] == 30 and "name" not in secret and secret["namePrefix"] == "ha-model-serving-prod-database-"


def test_dev_database_can_be_deleted_without_a_final_snapshot_and_leaves_nothing_behind(dev):
    assert len(dev.of_type(DB)) == 2
    for db in dev.of_type(DB):
        assert db["deletionProtection"] is False
        assert db["skipFinalSnapshot"] is True
        assert "finalSnapshotIdentifier" not in db.inputs
    assert not any(key.retain_on_delete for key in dev.of_type(KEY))
    secret = dev.one(SECRET)
    assert secret["recoveryWindowInDays"] == 0 and "name" not in secret


def regional_database(deletion_protection: bool, **settings) -> ReplicatedDatabase:
    """A two-region database with the given settings, declared inside a mocks run."""
    regions = {
        region: DatabaseRegion(
            provider=aws.Provider(f"aws-{region}", region=region),
            vpc_id=f"vpc-{region}",
            isolated_subnet_ids=[f"subnet-{region}-a", f"subnet-{region}-b"],
            client_security_group_ids={"fleet": f"sg-fleet-{region}"},
        )
        for region in ("us-east-1", "us-west-2")
    }
    return ReplicatedDatabase(
        "db",
        ReplicatedDatabaseArgs(
            identifier_prefix="svc-test", primary_region="us-east-1", regions=regions,
            settings=parse(**settings).multi_region.database, deletion_protection=deletion_protection,
        ),
    )


def test_lifting_deletion_protection_to_destroy_a_stack_keeps_its_final_snapshot_keys_and_credential(pulumi_mocks):
    """The README destroys prod with deletionProtection false, then `up`, then `destroy`: Pulumi deletes with that last up's inputs."""
    run = pulumi_mocks.run(lambda: regional_database(deletion_protection=False, dbFinalSnapshot=True))
    primary = run.one(DB, region="us-east-1")
    assert primary["deletionProtection"] is False
    assert primary["skipFinalSnapshot"] is False and primary["finalSnapshotIdentifier"].startswith("svc-test-us-east-1-final-")
    assert all(key.retain_on_delete for key in run.of_type(KEY))
    assert run.one(SECRET)["recoveryWindowInDays"] == 30


def test_a_production_stack_cannot_drop_its_final_snapshot():
    with pytest.raises(SettingsError, match="dbFinalSnapshot.*prod keeps a final snapshot"):
        parse(environment="prod", dbBackupRetentionDays=14, dbFinalSnapshot=False)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_database_is_publicly_accessible(stack, dev, prod):
    run = {"dev": dev, "prod": prod}[stack]
    assert run.of_type(DB)
    assert all(db["publiclyAccessible"] is False for db in run.of_type(DB))


def test_each_database_lives_in_its_regions_isolated_subnets_and_ssl_only_parameter_group(prod):
    for db in prod.of_type(DB):
        subnet_group = prod.one(SUBNET_GROUP, region=db.region)
        assert db["dbSubnetGroupName"] == subnet_group.state["name"]
        subnets = [prod.by_id(subnet_id) for subnet_id in subnet_group["subnetIds"]]
        assert len(subnets) == 3 and {s["tags"]["tier"] for s in subnets} == {"isolated"} and {s.region for s in subnets} == {db.region}
        parameters = prod.one(PARAMETER_GROUP, region=db.region)
        assert db["parameterGroupName"] == parameters.state["name"]
        assert parameters["family"] == "postgres16"
        assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in parameters["parameters"]
        assert prod.one(KEY, name=f"database-{db.region}", region=db.region)["enableKeyRotation"] is True


def test_database_port_is_reachable_only_from_the_model_servers_of_its_region(prod):
    for db in prod.of_type(DB):
        (group_id,) = db["vpcSecurityGroupIds"]
        database_group = prod.by_id(group_id)
        assert database_group.region == db.region
        servers = next(sg for sg in prod.of_type(SG, db.region) if sg.name == f"fleet-{db.region}-servers")
        ingress = [rule for rule in prod.of_type(INGRESS) if rule["securityGroupId"] == group_id]
        assert [(r["referencedSecurityGroupId"], r["fromPort"], r["toPort"], r.region) for r in ingress] == [
            (servers.id, 5432, 5432, db.region)
        ]
        assert not any("cidrIpv4" in r or "cidrIpv6" in r for r in ingress)
        # Nothing may leave the database group.
        assert not [rule for rule in prod.of_type(EGRESS) if rule["securityGroupId"] == group_id]


def test_replica_instance_class_follows_the_primary_unless_configured(pulumi_mocks, dev):
    assert {db["instanceClass"] for db in dev.of_type(DB)} == {"db.t4g.micro"}
    run = pulumi_mocks.run_stack("dev", dbReplicaInstanceClass="db.t4g.small", dbPort=6432)
    primary, replicas = databases(run)
    assert primary["instanceClass"] == "db.t4g.micro"
    assert replicas["us-west-2"]["instanceClass"] == "db.t4g.small"
    assert {db["port"] for db in run.of_type(DB)} == {6432}
    assert {rule["fromPort"] for rule in run.of_type(INGRESS) if rule.name.startswith("database-")} == {6432}


def test_stack_exports_each_regions_database_endpoint_and_role(prod):
    exported = {region: values["database"] for region, values in prod.outputs["regions"].items()}
    assert {region: d["role"] for region, d in exported.items()} == {"us-east-1": "primary", "us-west-2": "replica", "eu-west-1": "replica"}
    for region, d in exported.items():
        db = prod.one(DB, region=region)
        assert d["endpoint"] == db.state["endpoint"] and d["endpoint"].endswith(".rds.amazonaws.com:5432")
        assert d["identifier"] == f"ha-model-serving-prod-{region}"
        assert d["arn"] == db.state["arn"]


def test_every_client_security_group_gets_the_database_port_and_nothing_else(pulumi_mocks):
    """Client groups are an input: another part of the stack (a model proxy) is added by name."""
    settings = parse().multi_region.database

    def program():
        regions = {}
        for region in ("us-east-1", "us-west-2"):
            regions[region] = DatabaseRegion(
                provider=aws.Provider(f"aws-{region}", region=region),
                vpc_id=f"vpc-{region}",
                isolated_subnet_ids=[f"subnet-{region}-a", f"subnet-{region}-b"],
                client_security_group_ids={"fleet": f"sg-fleet-{region}", "model-proxy": f"sg-proxy-{region}"},
            )
        database = ReplicatedDatabase(
            "db",
            ReplicatedDatabaseArgs(
                identifier_prefix="svc-test", primary_region="us-east-1", regions=regions, settings=settings, deletion_protection=False
            ),
        )
        pulumi.export("roles", database.roles)

    run = pulumi_mocks.run(program)
    assert run.outputs["roles"] == {"us-east-1": "primary", "us-west-2": "replica"}
    for region in ("us-east-1", "us-west-2"):
        group = run.one(SG, region=region)
        assert group["vpcId"] == f"vpc-{region}"
        ingress = run.of_type(INGRESS, region)
        assert sorted(r["referencedSecurityGroupId"] for r in ingress) == [f"sg-fleet-{region}", f"sg-proxy-{region}"]
        assert all(r["securityGroupId"] == group.id and r["fromPort"] == r["toPort"] == 5432 for r in ingress)
        egress = run.of_type(EGRESS, region)
        assert sorted(r["securityGroupId"] for r in egress) == [f"sg-fleet-{region}", f"sg-proxy-{region}"]
        assert all(r["referencedSecurityGroupId"] == group.id and r["fromPort"] == 5432 for r in egress)
    for resource in run.resources:
        if resource.type.startswith("aws:"):
            assert resource.name.endswith(resource.region) or f"-{resource.region}-" in resource.name, resource.name
