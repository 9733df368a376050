"""Regional failover runbook for an active-passive stack: make a standby region the primary.

    python -m ops.failover --stack dev --to us-west-2 [--dry-run] [--outputs FILE] [--timeout SECONDS] [--poll-interval SECONDS]

Resource identifiers come from the stack outputs (`pulumi stack output --json`, or a JSON file).
Four steps, printed as [n/4]: a read-only check, then three changes, each skipped when already done, so
running it again after a success changes nothing:

  1. check that the database's master credential can be read in the region: the stack's secret is replicated
     to every region, and the replica keeps the primary secret's name; nothing is changed, and nothing
     else is done when it is missing;
  2. promote the region's database read replica to a standalone primary and wait until it is available;
  3. scale the region's autoscaling group to full capacity and wait for healthy targets;
  4. switch the Route 53 failover records: the region becomes PRIMARY, the old primary SECONDARY.

Only APIs of the target region and the global Route 53 are called: the old primary region may be down.
Exit status: 0 done, 1 a step failed or timed out, 2 refused before any change (outputs of another stack or
missing a key, wrong region, no AWS credentials, an option out of range).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

import command_line
from ops.stack import ClientFactory, Refused, aws_session, boto3_clients, read_outputs

ROUTE53_REGION = "us-east-1"  # Route 53's control plane
REGION_KEYS = ("role", "autoscalingGroupName", "targetGroupArn", "fullCapacity", "database")
CAPACITY_KEYS = ("min", "max", "desired")
DATABASE_KEYS = ("identifier", "secretName")

class StepFailed(Exception):
    """A step could not finish (timeout, unexpected AWS state); earlier steps stay done."""


@dataclass(frozen=True)
class Capacity:
    """An autoscaling group's min, max and desired number of instances."""

    min: int
    max: int
    desired: int


@dataclass(frozen=True)
class FailoverPlan:
    """Everything the runbook touches, named from the stack outputs (plan_failover)."""

    stack: str
    target: str
    old_primary: str
    database_identifier: str
    credentials_secret: str  # name of the master credential's secret, the same in every region
    autoscaling_group: str
    target_group_arn: str
    full_capacity: Capacity
    hosted_zone_id: str | None  # None: the stack has no global DNS name; clients switch endpoints themselves
    record_name: str | None
    endpoint: str


def plan_failover(stack: str, outputs: Mapping[str, Any], target: str) -> FailoverPlan:
    """Checks the stack outputs and the target region, and names every resource the steps touch."""
    missing = [key for key in ("topology", "primaryRegion", "regions") if key not in outputs]
    if missing:
        raise Refused(f"stack {stack} outputs lack {', '.join(missing)}: is it deployed with this version of the program?")
    if outputs["topology"] != "active-passive":
        raise Refused(f"stack {stack} is {outputs['topology']}, not active-passive: every region already serves, there is nothing to fail over")
    regions = outputs["regions"]
    if target not in regions:
        raise Refused(f"{target} is not a region of stack {stack} (regions: {', '.join(regions)})")
    region = regions[target]
    missing = [f"regions.{target}.{key}" for key in REGION_KEYS if key not in region]
    missing += [f"regions.{target}.fullCapacity.{key}" for key in CAPACITY_KEYS if key not in region.get("fullCapacity", {})]
    missing += [f"regions.{target}.database.{key}" for key in DATABASE_KEYS if key not in region.get("database", {})]
    if "globalDnsName" in outputs and "hostedZoneId" not in outputs:
        missing.append("hostedZoneId")
    if missing:
        raise Refused(f"stack {stack} outputs lack {', '.join(missing)}: run pulumi up with this version of the program first")
    if region["role"] != "standby":
        raise Refused(f"{target} is not a standby of stack {stack}: its role is {region['role']} (primary: {outputs['primaryRegion']})")
    capacity = region["fullCapacity"]
    return FailoverPlan(
        stack=stack,
        target=target,
        old_primary=outputs["primaryRegion"],
        database_identifier=region["database"]["identifier"],
        credentials_secret=region["database"]["secretName"],
        autoscaling_group=region["autoscalingGroupName"],
        target_group_arn=region["targetGroupArn"],
        full_capacity=Capacity(*(int(capacity[key]) for key in CAPACITY_KEYS)),
        hosted_zone_id=outputs.get("hostedZoneId"),
        record_name=outputs.get("globalDnsName"),
        endpoint=region.get("endpoint", ""),
    )


def count_healthy_targets(elbv2: Any, target_group_arn: str) -> int:
    """How many targets of the target group ELB reports `healthy` now."""
    descriptions = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    return sum(1 for d in descriptions if d["TargetHealth"]["State"] == "healthy")


@dataclass
class Failover:
    """Runs the plan's steps; with dry_run it only reads, and says what it would do."""

    plan: FailoverPlan
    clients: ClientFactory
    dry_run: bool = False
    timeout: float = 1800.0  # per wait, in seconds
    poll_interval: float = 15.0
    healthy_targets: Callable[[Any, str], int] = count_healthy_targets
    out: Callable[[str], None] = print
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def run(self) -> None:
        """Runs the four steps in order, printing `[n/4] <step>: <result>` for each.

        Raises StepFailed (a wait timed out, the credential is missing, AWS is not as expected) or botocore's
        errors; the steps already done stay done, and a second run skips them.
        """
        plan = self.plan
        self.out(f"Failover of stack {plan.stack}: {plan.target} becomes primary (was {plan.old_primary})" + (" [dry run]" if self.dry_run else ""))
        steps = [
            (f"database credential {plan.credentials_secret} in {plan.target}", self.check_credentials),
            (f"promote database {plan.database_identifier}", self.promote_database),
            (f"scale {plan.autoscaling_group} to full capacity", self.scale_fleet),
            (f"switch Route 53 {plan.record_name or '(no global DNS name)'}", self.switch_dns),
        ]
        for number, (title, step) in enumerate(steps, start=1):
            self.out(f"[{number}/{len(steps)}] {title}: {step()}")
        self.out("Dry run: nothing was changed." if self.dry_run else f"{plan.target} is the primary region of stack {plan.stack}.")

    # 1. Credential --------------------------------------------------------------------------------
    def check_credentials(self) -> str:
        """Reads the secret's description (never its value) in the target region; StepFailed when it is not there."""
        plan = self.plan
        try:
            secret = self.clients("secretsmanager", plan.target).describe_secret(SecretId=plan.credentials_secret)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            raise StepFailed(
                f"the database credential {plan.credentials_secret} has no copy in {plan.target}, so nothing there could log in "
                f"after a promotion; run pulumi up (it replicates the secret to every region) or copy the secret, then re-run"
            ) from None
        if secret.get("DeletedDate"):
            raise StepFailed(f"the database credential {plan.credentials_secret} in {plan.target} is scheduled for deletion; restore it first")
        home = secret.get("PrimaryRegion", plan.target)
        if home == plan.target:
            return "readable, the secret's primary copy"
        return f"readable, a replica of the secret in {home} (it stays readable while {home} is down)"

    # 2. Database ---------------------------------------------------------------------------------
    def _database(self) -> dict:
        rds = self.clients("rds", self.plan.target)
        return rds.describe_db_instances(DBInstanceIdentifier=self.plan.database_identifier)["DBInstances"][0]

    def promote_database(self) -> str:
        """Step 2: promotes the target's read replica and waits until it is available; what it did, as text."""
        instance = self._database()
        source = instance.get("ReadReplicaSourceDBInstanceIdentifier")
        if source is None and instance["DBInstanceStatus"] == "available":
            return "already done: a standalone primary, available"
        if self.dry_run:
            if source is None:
                return f"would wait until it is available (now {instance['DBInstanceStatus']})"
            return f"would promote it (now a replica of {source}) and wait until it is available"
        if source is not None:
            self.clients("rds", self.plan.target).promote_read_replica(DBInstanceIdentifier=self.plan.database_identifier)
        self._wait("the promoted database to become available", self._database_promoted)
        return "promoted, available"

    def _database_promoted(self) -> bool:
        instance = self._database()
        return "ReadReplicaSourceDBInstanceIdentifier" not in instance and instance["DBInstanceStatus"] == "available"

    # 3. Fleet ------------------------------------------------------------------------------------
    def scale_fleet(self) -> str:
        """Step 3: raises the target's group to full capacity (never lowering a value) and waits for healthy targets.

        Returns what it did, as text; StepFailed when the group does not exist or the wait times out.
        """
        plan, full = self.plan, self.plan.full_capacity
        autoscaling = self.clients("autoscaling", plan.target)
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[plan.autoscaling_group])["AutoScalingGroups"]
        if not groups:
            raise StepFailed(f"autoscaling group {plan.autoscaling_group} does not exist in {plan.target}")
        group = groups[0]
        now = Capacity(group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
        # Never shrink: the group may already run above full capacity.
        wanted = Capacity(max(now.min, full.min), max(now.max, full.max), max(now.desired, full.desired))
        needed = max(1, full.min)
        elbv2 = self.clients("elbv2", plan.target)
        healthy = self.healthy_targets(elbv2, plan.target_group_arn)
        change = f"min {now.min}->{wanted.min}, max {now.max}->{wanted.max}, desired {now.desired}->{wanted.desired}"
        if now == wanted and healthy >= needed:
            return f"already done: min {now.min}, max {now.max}, desired {now.desired}, {healthy} healthy target(s)"
        if self.dry_run:
            action = f"would set {change}" if now != wanted else f"at full capacity (min {now.min}, desired {now.desired})"
            return f"{action}, then wait for {needed} healthy target(s) (now {healthy})"
        if now != wanted:
            autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=plan.autoscaling_group, MinSize=wanted.min, MaxSize=wanted.max, DesiredCapacity=wanted.desired
            )
        self._wait(f"{needed} healthy target(s) in {plan.target_group_arn}", lambda: self.healthy_targets(elbv2, plan.target_group_arn) >= needed)
        return f"set {change}; {needed}+ healthy target(s)" if now != wanted else f"{needed}+ healthy target(s)"

    # 4. DNS --------------------------------------------------------------------------------------
    def _failover_records(self, route53: Any) -> dict[str, dict]:
        """The record name's A records with a failover policy, by set identifier (the region)."""
        plan = self.plan
        name = plan.record_name.rstrip(".").lower() + "."
        records: dict[str, dict] = {}
        for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=plan.hosted_zone_id):
            for record in page["ResourceRecordSets"]:
                if record["Name"].lower() == name and record["Type"] == "A" and "Failover" in record:
                    records[record["SetIdentifier"]] = record
        return records

    def switch_dns(self) -> str:
        """Step 4: makes the target PRIMARY and the old primary SECONDARY in one change batch, waits for INSYNC.

        Returns what it did, as text; skipped for a stack without a domain; StepFailed when the target has no
        failover record.
        """
        plan = self.plan
        if plan.hosted_zone_id is None or plan.record_name is None:
            return f"skipped: the stack has no global DNS name; clients switch to {plan.endpoint or plan.target} themselves"
        route53 = self.clients("route53", ROUTE53_REGION)
        records = self._failover_records(route53)
        if plan.target not in records:
            raise StepFailed(f"no failover record for {plan.target} in {plan.record_name} (hosted zone {plan.hosted_zone_id})")
        if records[plan.target]["Failover"] == "PRIMARY":
            return f"already done: {plan.target} is PRIMARY"
        demoted = sorted(region for region, record in records.items() if record["Failover"] == "PRIMARY")
        summary = f"{plan.target} PRIMARY" + "".join(f", {region} SECONDARY" for region in demoted)
        if self.dry_run:
            return f"would make {summary}"
        # One change batch: Route 53 applies it atomically, so the name never has two primaries or none.
        changes = [{"Action": "UPSERT", "ResourceRecordSet": {**records[plan.target], "Failover": "PRIMARY"}}]
        changes += [{"Action": "UPSERT", "ResourceRecordSet": {**records[region], "Failover": "SECONDARY"}} for region in demoted]
        change = route53.change_resource_record_sets(
            HostedZoneId=plan.hosted_zone_id,
            ChangeBatch={"Comment": f"failover of {plan.stack} to {plan.target}", "Changes": changes},
        )["ChangeInfo"]
        self._wait("Route 53 to apply the change", lambda: route53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC")
        return f"made {summary}"

    def _wait(self, what: str, done: Callable[[], bool]) -> None:
        deadline = self.clock() + self.timeout
        while not done():
            if self.clock() >= deadline:
                raise StepFailed(f"timed out after {self.timeout:.0f} s waiting for {what}; re-run to continue where it stopped")
            self.sleep(self.poll_interval)


# botocore's own waiters for these steps poll every 15 s (elbv2 TargetInService) or 30 s (rds DBInstanceAvailable,
# route53 ResourceRecordSetsChanged) for at most 30 minutes (botocore/data/*/waiters-2.json): the defaults. Faster
# than once a second only spends the account's API request rate, which the drills and deployments share.
TIMEOUT_SECONDS = (1, 86400)
POLL_SECONDS = (1, 300)


def main(argv: list[str] | None = None, clients: ClientFactory | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """The command line; `clients` and `sleep` replace AWS and waiting (tests). Returns the exit status."""
    parser = command_line.Parser(prog="python -m ops.failover", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="Pulumi stack name, such as dev")
    parser.add_argument("--to", required=True, dest="target", metavar="REGION", help="standby region to promote")
    parser.add_argument("--dry-run", action="store_true", help="print each step and what it would change; change nothing")
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi stack output --json)")
    parser.add_argument(
        "--timeout", type=command_line.number(*TIMEOUT_SECONDS, "seconds"), default=1800.0,
        help=f"seconds each wait may take, {TIMEOUT_SECONDS[0]}-{TIMEOUT_SECONDS[1]} (default 1800)",
    )
    parser.add_argument(
        "--poll-interval", type=command_line.number(*POLL_SECONDS, "seconds"), default=15.0,
        help=f"seconds between checks while waiting, {POLL_SECONDS[0]}-{POLL_SECONDS[1]} and at most --timeout (default 15)",
    )
    args = parser.parse_args(argv)
    if args.poll_interval > args.timeout:
        parser.error(f"argument --poll-interval: {args.poll_interval:g} is not allowed; expected at most --timeout ({args.timeout:g})")
    try:
        plan = plan_failover(args.stack, read_outputs(args.stack, args.outputs), args.target)
        clients = clients or boto3_clients(aws_session())
        Failover(plan, clients, dry_run=args.dry_run, timeout=args.timeout, poll_interval=args.poll_interval, sleep=sleep).run()
    except Refused as refusal:
        return command_line.refuse(str(refusal))
    except (StepFailed, BotoCoreError, ClientError) as failure:
        print(f"failed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    command_line.run_main(main)
