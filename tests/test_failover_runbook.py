"""The failover runbook, end to end against moto: promote, scale, switch; a re-run changes nothing; bad targets are refused."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.rds.models import RDSBackend

from offline import PulumiMocks
from ops import failover
from ops.failover import Failover, Refused, StepFailed, main, plan_failover, read_outputs

PRIMARY, STANDBY = "us-east-1", "us-west-2"
DOMAIN = "models.dev.example.com"
MOTO_AMI = "ami-12c6146b"  # one of the images moto's EC2 offers in every region
CHANGING_CALLS = {"PromoteReadReplica", "UpdateAutoScalingGroup", "ChangeResourceRecordSets"}
SECRET_NAME = "ha-model-serving-dev-database-20250101000000000000000001"
CREDENTIAL = json.dumps({"engine": "postgres", "username": "model_admin", "password": "staged-in-moto-only", "dbname": "models", "port": 5432})
# One session for every test: it loads each service's API model once.
SESSION = boto3.session.Session()


@pytest.fixture
def aws(monkeypatch):
    promote = RDSBackend.promote_read_replica

    def promote_and_detach(self, db_kwargs):
        # RDS detaches a promoted replica from its source; moto 5.2 keeps ReadReplicaSourceDBInstanceIdentifier.
        database = promote(self, db_kwargs)
        database.source_db_instance_identifier = None
        return database

    monkeypatch.setattr(RDSBackend, "promote_read_replica", promote_and_detach)
    with mock_aws():
        yield


class RecordingClients:
    """boto3 clients per (service, region) that remember every API operation they call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._clients: dict[tuple[str, str], object] = {}

    def __call__(self, service: str, region: str):
        if (service, region) not in self._clients:
            client = SESSION.client(service, region_name=region)
            client.meta.events.register("before-call.*.*", lambda model, **_: self.calls.append(model.name))
            self._clients[(service, region)] = client
        return self._clients[(service, region)]


def stage_dev_stack(with_dns: bool = True, replicate_secret: bool = True) -> dict:
    """What `pulumi up` of an active-passive, pilot-light stack leaves behind, and its outputs."""
    # The master credential: a secret in the primary region, replicated to the standby (moto models replication).
    replicas = {"AddReplicaRegions": [{"Region": STANDBY}]} if replicate_secret else {}
    SESSION.client("secretsmanager", region_name=PRIMARY).create_secret(Name=SECRET_NAME, SecretString=CREDENTIAL, **replicas)
    east, west = SESSION.client("rds", region_name=PRIMARY), SESSION.client("rds", region_name=STANDBY)
    primary = east.create_db_instance(
        DBInstanceIdentifier=f"ha-model-serving-dev-{PRIMARY}", Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="model_admin", MasterUserPassword="staged-in-moto-only", BackupRetentionPeriod=1,
    )["DBInstance"]
    replica = west.create_db_instance_read_replica(
        DBInstanceIdentifier=f"ha-model-serving-dev-{STANDBY}", SourceDBInstanceIdentifier=primary["DBInstanceArn"], DBInstanceClass="db.t4g.micro"
    )["DBInstance"]

    ec2 = SESSION.client("ec2", region_name=STANDBY)
    vpc_id = ec2.create_vpc(CidrBlock="10.120.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.120.0.0/20", AvailabilityZone=f"{STANDBY}a")["Subnet"]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName="fleet-server", LaunchTemplateData={"ImageId": MOTO_AMI, "InstanceType": "t3.large"})
    target_group_arn = SESSION.client("elbv2", region_name=STANDBY).create_target_group(
        Name="fleet-us-west-2-tg", Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    SESSION.client("autoscaling", region_name=STANDBY).create_auto_scaling_group(
        AutoScalingGroupName="fleet-us-west-2-servers", LaunchTemplate={"LaunchTemplateName": "fleet-server", "Version": "1"},
        MinSize=0, MaxSize=2, DesiredCapacity=0, VPCZoneIdentifier=subnet_id, TargetGroupARNs=[target_group_arn],
    )

    outputs = {
        "stack": "dev",
        "environment": "dev",
        "topology": "active-passive",
        "primaryRegion": PRIMARY,
        "regions": {
            region: {
                "endpoint": f"http://fleet-{region}-lb.{region}.elb.amazonaws.com",
                "role": role,
                "autoscalingGroupName": f"fleet-{region}-servers",
                "targetGroupArn": target_group_arn if region == STANDBY else f"arn:aws:elasticloadbalancing:{region}:123456789012:targetgroup/tg/1",
                "fullCapacity": {"min": 1, "max": 2, "desired": 1},
                "database": {
                    "identifier": db["DBInstanceIdentifier"], "arn": db["DBInstanceArn"], "role": db_role, "endpoint": "staged:5432", "secretName": SECRET_NAME,
                },
            }
            for region, role, db, db_role in ((PRIMARY, "primary", primary, "primary"), (STANDBY, "standby", replica, "replica"))
        },
    }
    if with_dns:
        route53 = SESSION.client("route53", region_name="us-east-1")
        zone_id = route53.create_hosted_zone(Name="dev.example.com", CallerReference="stage")["HostedZone"]["Id"].split("/")[-1]
        changes = []
        for region, kind in ((PRIMARY, "PRIMARY"), (STANDBY, "SECONDARY")):
            check_id = route53.create_health_check(
                CallerReference=f"stage-{region}",
                HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": f"fleet-{region}-lb.{region}.elb.amazonaws.com", "Port": 80, "ResourcePath": "/health"},
            )["HealthCheck"]["Id"]
            changes.append({"Action": "CREATE", "ResourceRecordSet": {
                "Name": DOMAIN, "Type": "A", "SetIdentifier": region, "Failover": kind, "HealthCheckId": check_id,
                "AliasTarget": {"HostedZoneId": "Z1H1FL5HABSF5", "DNSName": f"fleet-{region}-lb.{region}.elb.amazonaws.com", "EvaluateTargetHealth": True},
            }})
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
        outputs.update(globalDnsName=DOMAIN, hostedZoneId=zone_id)
    return outputs


def failover_records(outputs: dict) -> dict[str, dict]:
    records = SESSION.client("route53", region_name="us-east-1").list_resource_record_sets(HostedZoneId=outputs["hostedZoneId"])["ResourceRecordSets"]
    return {r["SetIdentifier"]: r for r in records if r.get("SetIdentifier")}


def standby_state(outputs: dict) -> dict:
    database = SESSION.client("rds", region_name=STANDBY).describe_db_instances(DBInstanceIdentifier=f"ha-model-serving-dev-{STANDBY}")["DBInstances"][0]
    group = SESSION.client("autoscaling", region_name=STANDBY).describe_auto_scaling_groups(AutoScalingGroupNames=["fleet-us-west-2-servers"])["AutoScalingGroups"][0]
    targets = SESSION.client("elbv2", region_name=STANDBY).describe_target_health(TargetGroupArn=outputs["regions"][STANDBY]["targetGroupArn"])
    return {
        "replica_of": database.get("ReadReplicaSourceDBInstanceIdentifier"),
        "database_status": database["DBInstanceStatus"],
        "capacity": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]),
        "healthy": sorted(t["Target"]["Id"] for t in targets["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"),
        "dns": {region: (r["Failover"], r["AliasTarget"]["DNSName"], r["HealthCheckId"]) for region, r in failover_records(outputs).items()}
        if "hostedZoneId" in outputs else None,
    }


def run_runbook(outputs: dict, tmp_path: Path, capsys, *extra: str) -> tuple[int, str, list[str]]:
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    clients = RecordingClients()
    slept: list[float] = []
    status = main(["--stack", "dev", "--to", STANDBY, "--outputs", str(outputs_file), "--poll-interval", "1", "--timeout", "5", *extra], clients=clients, sleep=slept.append)
    captured = capsys.readouterr()
    assert set(slept) <= {1.0}
    return status, captured.out + captured.err, clients.calls


def test_failover_promotes_the_replica_scales_the_fleet_and_makes_the_region_primary(aws, tmp_path, capsys):
    outputs = stage_dev_stack()
    before = standby_state(outputs)
    assert before["replica_of"] and before["capacity"] == (0, 2, 0) and before["healthy"] == []

    status, printed, calls = run_runbook(outputs, tmp_path, capsys)

    assert status == 0, printed
    after = standby_state(outputs)
    assert after["replica_of"] is None and after["database_status"] == "available"
    assert after["capacity"] == (1, 2, 1) and len(after["healthy"]) == 1
    # Failover types swapped; alias targets and health checks untouched.
    assert after["dns"] == {
        PRIMARY: ("SECONDARY", *before["dns"][PRIMARY][1:]),
        STANDBY: ("PRIMARY", *before["dns"][STANDBY][1:]),
    }
    assert [c for c in calls if c in CHANGING_CALLS] == ["PromoteReadReplica", "UpdateAutoScalingGroup", "ChangeResourceRecordSets"]
    assert f"{STANDBY} is the primary region of stack dev" in printed
    # The promoted region reads the credential from its own replica of the secret, by the same name.
    assert f"a replica of the secret in {PRIMARY}" in printed
    assert SESSION.client("secretsmanager", region_name=STANDBY).get_secret_value(SecretId=SECRET_NAME)["SecretString"] == CREDENTIAL


def test_a_region_without_a_copy_of_the_credential_is_not_promoted(aws, tmp_path, capsys):
    outputs = stage_dev_stack(replicate_secret=False)
    before = standby_state(outputs)

    status, printed, calls = run_runbook(outputs, tmp_path, capsys)

    assert status == 1
    assert f"{SECRET_NAME} has no copy in {STANDBY}" in printed
    assert not CHANGING_CALLS & set(calls), calls
    assert standby_state(outputs) == before


def test_second_run_reports_every_step_done_and_changes_nothing(aws, tmp_path, capsys):
    outputs = stage_dev_stack()
    assert run_runbook(outputs, tmp_path, capsys)[0] == 0
    after_first = standby_state(outputs)

    status, printed, calls = run_runbook(outputs, tmp_path, capsys)

    assert status == 0
    assert standby_state(outputs) == after_first
    assert not CHANGING_CALLS & set(calls), calls
    steps = [line.split(": ")[1] for line in printed.splitlines() if line.startswith("[")]
    assert steps[0].startswith("readable") and steps[1:] == ["already done"] * 3


def test_dry_run_describes_every_step_and_changes_nothing(aws, tmp_path, capsys):
    outputs = stage_dev_stack()
    before = standby_state(outputs)

    status, printed, calls = run_runbook(outputs, tmp_path, capsys, "--dry-run")

    assert status == 0
    assert standby_state(outputs) == before
    assert not CHANGING_CALLS & set(calls), calls
    steps = [line for line in printed.splitlines() if line.startswith("[")]
    assert len(steps) == 4 and "readable" in steps[0] and all("would" in step for step in steps[1:]), printed
    assert "would set min 0->1, max 2->2, desired 0->1" in steps[2]
    assert f"would make {STANDBY} PRIMARY, {PRIMARY} SECONDARY" in steps[3]
    assert "nothing was changed" in printed


def test_without_a_global_dns_name_only_the_database_and_fleet_move(aws, tmp_path, capsys):
    outputs = stage_dev_stack(with_dns=False)
    status, printed, calls = run_runbook(outputs, tmp_path, capsys)
    assert status == 0
    assert standby_state(outputs)["capacity"] == (1, 2, 1)
    assert "ChangeResourceRecordSets" not in calls
    assert f"clients switch to http://fleet-{STANDBY}-lb" in printed


def minimal_outputs() -> dict:
    return {
        "stack": "dev",
        "topology": "active-passive",
        "primaryRegion": PRIMARY,
        "regions": {
            region: {"role": role, "autoscalingGroupName": "g", "targetGroupArn": "arn", "fullCapacity": {"min": 1, "max": 2, "desired": 1},
                     "database": {"identifier": f"db-{region}", "role": "replica", "secretName": SECRET_NAME}}
            for region, role in ((PRIMARY, "primary"), (STANDBY, "standby"))
        },
    }


def refusal_cases():
    base = minimal_outputs()
    missing_group = json.loads(json.dumps(base))
    del missing_group["regions"][STANDBY]["autoscalingGroupName"]
    missing_zone = {**base, "globalDnsName": DOMAIN}
    missing_secret = json.loads(json.dumps(base))
    del missing_secret["regions"][STANDBY]["database"]["secretName"]
    return [
        pytest.param(base, PRIMARY, f"{PRIMARY} is not a standby of stack dev: its role is primary", id="primary"),
        pytest.param(base, "eu-west-1", "eu-west-1 is not a region of stack dev", id="unknown-region"),
        pytest.param({**base, "topology": "active-active"}, STANDBY, "is active-active, not active-passive", id="active-active"),
        pytest.param(missing_group, STANDBY, f"lack regions.{STANDBY}.autoscalingGroupName", id="missing-group"),
        pytest.param(missing_secret, STANDBY, f"lack regions.{STANDBY}.database.secretName", id="missing-secret"),
        pytest.param(missing_zone, STANDBY, "lack hostedZoneId", id="missing-zone"),
        pytest.param({"topology": "active-passive"}, STANDBY, "lack primaryRegion, regions", id="not-deployed"),
    ]


@pytest.mark.parametrize("outputs, target, message", refusal_cases())
def test_bad_target_or_outputs_are_refused_before_any_call(tmp_path, capsys, outputs, target, message):
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    clients = RecordingClients()
    status = main(["--stack", "dev", "--to", target, "--outputs", str(outputs_file)], clients=clients)
    assert status == 2
    assert message in capsys.readouterr().err
    assert clients.calls == []


def test_waiting_for_healthy_targets_is_bounded_and_says_what_it_waited_for():
    class Autoscaling:
        def describe_auto_scaling_groups(self, **_):
            return {"AutoScalingGroups": [{"MinSize": 0, "MaxSize": 2, "DesiredCapacity": 0}]}

        def update_auto_scaling_group(self, **_):
            pass

    now = [0.0]
    runbook = Failover(
        plan_failover("dev", minimal_outputs(), STANDBY), lambda service, region: Autoscaling(), timeout=600, poll_interval=30,
        healthy_targets=lambda elbv2, arn: 0, sleep=lambda seconds: now.__setitem__(0, now[0] + seconds), clock=lambda: now[0],
    )
    with pytest.raises(StepFailed, match=r"timed out after 600 s waiting for 1 healthy target\(s\) in arn; re-run"):
        runbook.scale_fleet()
    assert now[0] == 600


def test_the_runbook_reads_the_outputs_the_stack_exports():
    run = PulumiMocks().run_stack("dev", domainName=DOMAIN, hostedZoneId="Z0123456789DEV")
    exported = json.loads(json.dumps(run.outputs))
    plan = plan_failover("dev", exported, STANDBY)
    standby = exported["regions"][STANDBY]
    assert (plan.old_primary, plan.database_identifier, plan.autoscaling_group, plan.target_group_arn) == (
        PRIMARY, standby["database"]["identifier"], standby["autoscalingGroupName"], standby["targetGroupArn"]
    )
    assert plan.full_capacity == failover.Capacity(min=1, max=2, desired=1)
    assert plan.credentials_secret == standby["database"]["secretName"] == exported["regions"][PRIMARY]["database"]["secretName"]
    assert (plan.hosted_zone_id, plan.record_name) == ("Z0123456789DEV", DOMAIN)


def test_outputs_come_from_the_pulumi_cli_unless_a_file_is_given():
    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        return type("Completed", (), {"stdout": '{"topology": "active-passive"}'})()

    assert read_outputs("prod", None, run=fake_run) == {"topology": "active-passive"}
    assert seen == [["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", "prod"]]

    def missing_cli(command, **kwargs):
        raise FileNotFoundError(command[0])

    with pytest.raises(Refused, match="pulumi CLI is not installed"):
        read_outputs("prod", None, run=missing_cli)
