"""Failover drill: run one of a stack's fault-injection experiments and measure what clients see.

    python -m ops.drill --stack dev --scenario region-outage-us-east-1 [--dry-run] [--outputs FILE]
                        [--i-understand-this-is-production] [--probe-interval S] [--max-probes N]
                        [--recovery-timeout S] [--model NAME] [--record FILE]

The scenarios, their experiment templates and the stack's stated RTO come from the stack outputs
(`pulumi stack output --json`, or `--outputs FILE`). Before anything starts, every region's
region-degraded alarm must be out of ALARM and every entry point must answer (steady state). Then it
starts the experiment and, every probe interval until the fault has ended and the service is back:

  - probes every entry point once: the global DNS name's and each region's health URL (GET), and a
    one-token chat completion through each region's model proxy (function URL, SigV4-signed);
  - reads every region's region-degraded alarm and the experiment's state;
  - stops the experiment itself when an alarm that means "stop now" goes into ALARM (the template's own
    stop conditions do the same inside AWS; this is the second, independent guard).

It writes a drill record (JSON, default drill-records/<stack>/<time>-<scenario>.json) with the time to
detect, to route around and to recover, the errors its probes saw, and each against the stated RTO.
The probe load is bounded: at most --max-probes requests (the steady-state check included), and no
longer than the fault plus --recovery-timeout. An error or Ctrl-C during the drill stops the experiment
before the command reports it.

Exit status: 0 every measure within the RTO, 1 one missed it or a call failed, 2 refused before the experiment
started (unknown scenario, outputs of another stack or missing a key, production without
--i-understand-this-is-production, no AWS credentials, an option out of range, no steady state).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError

import command_line
from failover.router import UPSTREAM_HEADER
from ops import drill_records
from ops.stack import ClientFactory, Refused, aws_session, boto3_clients, read_outputs

PRODUCTION_FLAG = "--i-understand-this-is-production"
ZONE, REGION, DATABASE = "zone", "region", "database"  # scenario kinds, as components/drills.py exports them
TERMINAL = frozenset({"completed", "stopped", "failed", "cancelled"})
# The model proxy names each upstream it may serve from: aws-<region>, or azure (components/model_proxy.py).
WITHIN, OVER, NOT_OBSERVED = "within", "over", "not observed"
# A zone or database fault the region absorbs raises no region alarm and may break no answer: both are the goal.
NOT_INTERRUPTED, NOT_DEGRADED = "not interrupted", "region not degraded"
PASSING = frozenset({WITHIN, NOT_INTERRUPTED, NOT_DEGRADED})

Signer = Callable[[str, str, bytes, str], Mapping[str, str]]  # (method, url, body, region) -> headers


@dataclass(frozen=True)
class ProbeTarget:
    """One entry point clients use."""

    name: str  # e.g. "global", "us-east-1 endpoint", "us-east-1 proxy"
    kind: str  # global, endpoint or proxy
    url: str
    region: str | None  # the region it belongs to; None for the global name


@dataclass(frozen=True)
class ProbeResult:
    """One probe's answer: whether it was good (2xx), the status or error, and the region that served it."""

    target: ProbeTarget
    ok: bool
    detail: str  # the status code, or what failed
    served_by: str | None  # the region (or "azure") that answered, when the answer says so


@dataclass(frozen=True)
class DrillPlan:
    """Everything a drill touches, from the stack outputs (plan_drill); fault in minutes, RTO in seconds."""

    stack: str
    environment: str
    scenario: str
    region: str
    kind: str  # zone, region or database
    summary: str
    template_id: str
    fault_minutes: int
    rto_seconds: int
    degraded_alarms: Mapping[str, str]  # region -> its region-degraded alarm ARN
    probes: tuple[ProbeTarget, ...]

    @property
    def guard_regions(self) -> tuple[str, ...]:
        """Regions whose degraded alarm means "stop now": the others always; the drilled one unless its whole region is the fault."""
        return tuple(r for r in self.degraded_alarms if r != self.region or self.kind != REGION)


def alarm_name(arn: str) -> str:
    """arn:aws:cloudwatch:<region>:<account>:alarm:<name> -> <name>."""
    _, sep, name = arn.partition(":alarm:")
    if not sep or not name:
        raise Refused(f"{arn} is not a CloudWatch alarm ARN")
    return name


def plan_drill(stack: str, outputs: Mapping[str, Any], scenario: str, production_confirmed: bool = False) -> DrillPlan:
    """Checks the outputs, the scenario and the production guard, and names everything the drill touches."""
    missing = [key for key in ("environment", "rtoSeconds", "drills", "regions") if key not in outputs]
    if missing:
        raise Refused(f"stack {stack} outputs lack {', '.join(missing)}: run pulumi up with this version of the program first")
    scenarios = outputs["drills"].get("scenarios") or {}
    if not scenarios:
        raise Refused(f"stack {stack} declares no drills (drillsEnabled is false)")
    if scenario not in scenarios:
        raise Refused(f"{scenario} is not a drill of stack {stack} (drills: {', '.join(sorted(scenarios))})")
    if outputs["environment"] == "prod" and not production_confirmed:
        raise Refused(f"stack {stack} is a production stack and the drill really breaks {scenario}; pass {PRODUCTION_FLAG} to run it")
    drill, regions = scenarios[scenario], outputs["regions"]
    missing = [f"regions.{name}.{key}" for name, region in regions.items() for key in ("healthUrl", "endpoint", "degradedAlarmArn") if key not in region]
    if missing:
        raise Refused(f"stack {stack} outputs lack {', '.join(missing)}: run pulumi up with this version of the program first")
    for region in regions.values():
        alarm_name(region["degradedAlarmArn"])
    return DrillPlan(
        stack=stack,
        environment=outputs["environment"],
        scenario=scenario,
        region=drill["region"],
        kind=drill["kind"],
        summary=drill["summary"],
        template_id=drill["templateId"],
        fault_minutes=int(outputs["drills"]["faultMinutes"]),
        rto_seconds=int(outputs["rtoSeconds"]),
        degraded_alarms={name: region["degradedAlarmArn"] for name, region in regions.items()},
        probes=probe_targets(outputs),
    )


def probe_targets(outputs: Mapping[str, Any]) -> tuple[ProbeTarget, ...]:
    """The global DNS name (when the stack has one), then per region its endpoint and its model proxy."""
    regions = outputs["regions"]
    targets: list[ProbeTarget] = []
    if outputs.get("globalDnsName"):
        # The same health path and scheme as the regional endpoints, on the global name.
        first = next(iter(regions.values()))
        path = first["healthUrl"][len(first["endpoint"]) :]
        targets.append(ProbeTarget("global", "global", f"{urlsplit(first['endpoint']).scheme}://{outputs['globalDnsName']}{path}", None))
    for name, region in regions.items():
        targets.append(ProbeTarget(f"{name} endpoint", "endpoint", region["healthUrl"], name))
        if region.get("proxyUrl"):
            targets.append(ProbeTarget(f"{name} proxy", "proxy", region["proxyUrl"].rstrip("/") + "/v1/chat/completions", name))
    return tuple(targets)


def sigv4_signer(session: boto3.session.Session) -> Signer:
    """Signs proxy probes as the function URLs' AWS_IAM auth wants: SigV4 for service lambda in the URL's region.

    `session` has credentials (ops.stack.aws_session); they are read afresh for each probe, so refreshed ones are used.
    """
    credentials = session.get_credentials()

    def sign(method: str, url: str, body: bytes, region: str) -> Mapping[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
        SigV4Auth(credentials.get_frozen_credentials(), "lambda", region).add_auth(request)
        return dict(request.headers.items())

    return sign


class HttpProber:
    """Sends one probe per target; a probe fails on a non-2xx answer, a timeout or a broken connection."""

    def __init__(self, signer: Signer | None, model: str, timeout: float = 10.0) -> None:
        self._signer = signer
        self._body = json.dumps({"model": model, "messages": [{"role": "user", "content": "drill probe"}], "max_tokens": 1}).encode()
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)), follow_redirects=False)

    def probe(self, target: ProbeTarget) -> ProbeResult:
        """One request to `target`: GET for an endpoint, a SigV4-signed one-token chat completion for a proxy.

        Never raises for the target's faults: a non-2xx answer, a timeout or a broken connection is a failed result.
        """
        try:
            if target.kind == "proxy":
                headers = dict(self._signer("POST", target.url, self._body, target.region or "")) if self._signer else {"content-type": "application/json"}
                response = self._client.post(target.url, content=self._body, headers=headers)
            else:
                response = self._client.get(target.url)
        except httpx.HTTPError as error:
            return ProbeResult(target, False, f"{type(error).__name__}: {error}", None)
        upstream = response.headers.get(UPSTREAM_HEADER)
        served_by = upstream.removeprefix("aws-") if upstream else (target.region if target.kind == "endpoint" else None)
        return ProbeResult(target, 200 <= response.status_code < 300, str(response.status_code), served_by)

    def close(self) -> None:
        """Closes the prober's connections."""
        self._client.close()


@dataclass
class TargetTally:
    """One probe target's count of probes sent and failed, and when (seconds into the drill) failures were seen."""

    sent: int = 0
    failed: int = 0
    first_failure_s: float | None = None
    last_failure_s: float | None = None
    last_detail: str | None = None


@dataclass
class DrillRecord:
    """What one drill measured; seconds are relative to the experiment's start unless the name says otherwise."""

    stack: str
    scenario: str
    region: str
    kind: str
    summary: str
    template_id: str
    experiment_id: str
    started_at: str  # UTC, ISO 8601
    rto_seconds: int
    experiment_status: str | None = None
    experiment_reason: str | None = None
    stopped_by_drill: str | None = None
    fault_ended_s: float | None = None
    detected_s: float | None = None
    detected_by: str | None = None
    fault_visible_s: float | None = None
    routed_around_s: float | None = None
    routed_around_by: str | None = None
    recovered_after_fault_s: float | None = None
    # Resources FIS resolved per target once the experiment ran: a zone without servers resolves none.
    resolved_targets: dict[str, int] | None = None
    probes_sent: int = 0
    probes_failed: int = 0
    probes: dict[str, TargetTally] = field(default_factory=dict)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    @property
    def route_around_s(self) -> float | None:
        """From the first answer the fault broke to the first answer from elsewhere: what a client waited."""
        if self.fault_visible_s is None or self.routed_around_s is None:
            return None
        return round(self.routed_around_s - self.fault_visible_s, 1)

    def verdicts(self) -> dict[str, str]:
        """Each measure against the stated RTO."""

        def judge(seconds: float | None) -> str:
            return NOT_OBSERVED if seconds is None else (WITHIN if seconds <= self.rto_seconds else OVER)

        route = NOT_INTERRUPTED if self.fault_visible_s is None else judge(self.route_around_s)
        if self.kind == REGION:
            detection = judge(self.detected_s)
        else:
            detection = NOT_DEGRADED if self.detected_s is None else OVER
        return {"detection": detection, "routeAround": route, "recovery": judge(self.recovered_after_fault_s)}

    @property
    def broke_something(self) -> bool:
        """Whether FIS resolved at least one resource to act on (a drill of an empty zone breaks nothing)."""
        return bool(self.resolved_targets) and sum(self.resolved_targets.values()) > 0

    @property
    def passed(self) -> bool:
        """The experiment ran its course on real targets, nothing had to stop it, and every measure met the RTO."""
        return (
            self.experiment_status == "completed"
            and self.broke_something
            and self.stopped_by_drill is None
            and set(self.verdicts().values()) <= PASSING
        )

    def to_json(self) -> dict[str, Any]:
        """The record as written to its JSON file: every field, `route_around_s` and the verdicts."""
        document = asdict(self)
        document["route_around_s"] = self.route_around_s
        document["verdicts"] = self.verdicts()
        return document


@dataclass
class Drill:
    """Runs the plan's experiment; with dry_run it only reads, and says what it would do."""

    plan: DrillPlan
    clients: ClientFactory
    prober: Any  # HttpProber or anything with probe(target) -> ProbeResult
    dry_run: bool = False
    probe_interval: float = 5.0
    max_probes: int = 2000
    recovery_timeout: float = 900.0
    out: Callable[[str], None] = print
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    def run(self) -> DrillRecord | None:
        """Prints the plan, checks the steady state, then (unless a dry run) runs the experiment and returns its record.

        Raises Refused, before anything is started, when a region-degraded alarm is in ALARM, an entry point
        does not answer or `max_probes` leaves no room; a dry run returns None. An error or Ctrl-C during the
        experiment stops it before the exception propagates.
        """
        plan = self.plan
        self.out(f"Drill {plan.scenario} of stack {plan.stack}" + (" [dry run]" if self.dry_run else ""))
        self.out(f"  {plan.summary}")
        self.out(f"  experiment template {plan.template_id} in {plan.region}, fault {plan.fault_minutes} min, stated RTO {plan.rto_seconds} s")
        self.out(f"  stops when ALARM: {', '.join(f'{r} region-degraded' for r in plan.guard_regions)} (and the template's own stop conditions)")
        self.out(f"  probes every {self.probe_interval:g} s: {', '.join(t.name for t in plan.probes)}")
        self.out(f"  bounds: at most {self.max_probes} probe requests, {plan.fault_minutes * 60 + self.recovery_timeout:.0f} s in all")
        if self.max_probes < 2 * len(plan.probes):
            raise Refused(f"--max-probes {self.max_probes} leaves no room for a drill: the steady-state check alone sends {len(plan.probes)}")
        states = self._alarm_states()
        in_alarm = sorted(region for region, state in states.items() if state == "ALARM")
        if in_alarm:
            raise Refused(f"no steady state: the region-degraded alarm of {', '.join(in_alarm)} is in ALARM; a drill now would measure nothing")
        failing = [result for result in self._probe_round() if not result.ok]
        if failing:
            raise Refused("no steady state: " + "; ".join(f"{r.target.name} ({r.target.url}) answered {r.detail}" for r in failing))
        self.out("  steady state: every region-degraded alarm out of ALARM, every entry point answering")
        if self.dry_run:
            self.out("Dry run: nothing was started.")
            return None
        return self._execute()

    def _execute(self) -> DrillRecord:
        plan = self.plan
        fis = self.clients("fis", plan.region)
        experiment = fis.start_experiment(
            clientToken=str(uuid.uuid4()), experimentTemplateId=plan.template_id, tags={"stack": plan.stack, "started-by": "ops.drill"}
        )["experiment"]
        record = DrillRecord(
            stack=plan.stack, scenario=plan.scenario, region=plan.region, kind=plan.kind, summary=plan.summary,
            template_id=plan.template_id, experiment_id=experiment["id"], started_at=self.now().isoformat(timespec="seconds"),
            rto_seconds=plan.rto_seconds, probes={target.name: TargetTally() for target in plan.probes},
        )
        self._note(record, 0.0, f"experiment {record.experiment_id} started")
        try:
            self._watch(fis, record)
        except BaseException as interruption:
            # An error or Ctrl-C must not leave the fault running unwatched: stop it, then report what happened.
            if record.experiment_status is None:
                record.stopped_by_drill = f"the drill was interrupted: {type(interruption).__name__}: {interruption}"
                self._stop(fis, record, record.timeline[-1][0])
            raise
        return record

    def _watch(self, fis: Any, record: DrillRecord) -> None:
        plan = self.plan
        start, bound = self.clock(), plan.fault_minutes * 60 + self.recovery_timeout
        # The steady-state check already spent one round of the probe budget.
        budget = self.max_probes - len(plan.probes)
        states: dict[str, str] = {}
        status = "pending"
        while True:
            elapsed = round(self.clock() - start, 1)
            results = self._probe_round()
            self._tally(record, elapsed, results)
            states = self._watch_alarms(record, elapsed, states)
            current = fis.get_experiment(id=record.experiment_id)["experiment"]["state"]
            if current["status"] != status:
                status = current["status"]
                self._note(record, elapsed, f"experiment {status}: {current.get('reason', '')}".rstrip(": "))
            if record.resolved_targets is None and status not in ("pending", "initiating"):
                record.resolved_targets = self._resolved_targets(fis, record.experiment_id)
                counts = ", ".join(f"{name} {count}" for name, count in record.resolved_targets.items()) or "none"
                self._note(record, elapsed, f"targets resolved: {counts}")
            if status in TERMINAL and record.fault_ended_s is None:
                record.fault_ended_s, record.experiment_status, record.experiment_reason = elapsed, status, current.get("reason")
            guard = next((r for r in plan.guard_regions if states.get(r) == "ALARM"), None)
            if guard and status not in TERMINAL and record.stopped_by_drill is None:
                record.stopped_by_drill = f"{guard}'s region-degraded alarm went into ALARM"
                self._stop(fis, record, elapsed)
            if record.fault_ended_s is not None and states.get(plan.region) != "ALARM" and all(r.ok for r in results):
                record.recovered_after_fault_s = round(elapsed - record.fault_ended_s, 1)
                self._note(record, elapsed, "every entry point answers and the region-degraded alarm is out of ALARM: recovered")
                break
            if record.probes_sent + len(plan.probes) > budget or elapsed >= bound:
                if status not in TERMINAL:
                    record.stopped_by_drill = "the drill's bound on probes or time was reached"
                    self._stop(fis, record, elapsed)
                self._note(record, elapsed, "drill bound reached before recovery")
                break
            self.sleep(self.probe_interval)

    @staticmethod
    def _resolved_targets(fis: Any, experiment_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for page in fis.get_paginator("list_experiment_resolved_targets").paginate(experimentId=experiment_id):
            for target in page["resolvedTargets"]:
                counts[target["targetName"]] = counts.get(target["targetName"], 0) + 1
        return dict(sorted(counts.items()))

    def _stop(self, fis: Any, record: DrillRecord, elapsed: float) -> None:
        fis.stop_experiment(id=record.experiment_id)
        self._note(record, elapsed, f"stopped the experiment: {record.stopped_by_drill}")

    def _probe_round(self) -> list[ProbeResult]:
        with ThreadPoolExecutor(max_workers=len(self.plan.probes)) as pool:
            return list(pool.map(self.prober.probe, self.plan.probes))

    def _tally(self, record: DrillRecord, elapsed: float, results: list[ProbeResult]) -> None:
        plan = self.plan
        for result in results:
            tally = record.probes[result.target.name]
            tally.sent += 1
            record.probes_sent += 1
            if not result.ok:
                tally.failed += 1
                record.probes_failed += 1
                tally.last_failure_s, tally.last_detail = elapsed, result.detail
                if tally.first_failure_s is None:
                    tally.first_failure_s = elapsed
                    self._note(record, elapsed, f"{result.target.name} failed: {result.detail}")
        if record.fault_visible_s is None and any(not r.ok and self._faulted(r.target) for r in results):
            record.fault_visible_s = elapsed
        if record.fault_visible_s is not None and record.routed_around_s is None:
            elsewhere = next((r for r in results if self._answered_elsewhere(r, results)), None)
            if elsewhere is not None:
                record.routed_around_s, record.routed_around_by = elapsed, f"{elsewhere.target.name} (served by {elsewhere.served_by or 'another region'})"
                self._note(record, elapsed, f"routed around: {record.routed_around_by}")

    def _faulted(self, target: ProbeTarget) -> bool:
        """Where the fault shows first: the drilled region's endpoint for a region fault, any entry point otherwise."""
        return target.region == self.plan.region if self.plan.kind == REGION else True

    def _answered_elsewhere(self, result: ProbeResult, results: list[ProbeResult]) -> bool:
        """A success from outside the fault: another region for a region fault, the region's other zones or new primary otherwise."""
        if not result.ok:
            return False
        if self.plan.kind != REGION:
            # Answers from the drilled region again, every one of its entry points at once.
            return all(r.ok for r in results if r.target.region in (self.plan.region, None))
        if result.target.kind == "global":
            # DNS answers with some region; while the drilled region's endpoint fails in the same round, not that one.
            return any(not r.ok for r in results if r.target.kind == "endpoint" and r.target.region == self.plan.region)
        return result.target.kind == "proxy" and result.served_by not in (None, self.plan.region)

    def _alarm_states(self) -> dict[str, str]:
        """Each region's region-degraded alarm state, read in that region."""
        states = {}
        for region, arn in self.plan.degraded_alarms.items():
            name = alarm_name(arn)
            found = self.clients("cloudwatch", region).describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm", "MetricAlarm"])
            alarms = found.get("CompositeAlarms", []) + found.get("MetricAlarms", [])
            if not alarms:
                raise Refused(f"alarm {name} does not exist in {region}: is the stack deployed?")
            states[region] = alarms[0]["StateValue"]
        return states

    def _watch_alarms(self, record: DrillRecord, elapsed: float, before: dict[str, str]) -> dict[str, str]:
        states = self._alarm_states()
        for region, state in states.items():
            if state != before.get(region, "OK"):
                self._note(record, elapsed, f"{region} region-degraded alarm: {state}")
        own = states.get(self.plan.region)
        if own == "ALARM" and record.detected_s is None:
            record.detected_s, record.detected_by = elapsed, alarm_name(self.plan.degraded_alarms[self.plan.region])
        return states

    def _note(self, record: DrillRecord, elapsed: float, event: str) -> None:
        record.timeline.append((elapsed, event))
        self.out(f"[{elapsed:7.1f} s] {event}")


def summary(record: DrillRecord) -> list[str]:
    """The record in a few lines, each measure with its verdict against the stated RTO."""
    verdicts = record.verdicts()

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:g} s"

    return [
        f"Drill {record.scenario} of stack {record.stack}: experiment {record.experiment_status or 'not finished'}"
        + (f", stopped by the drill: {record.stopped_by_drill}" if record.stopped_by_drill else "")
        + ("" if record.broke_something else ", but no target resolved: the experiment broke nothing (are the stack's resources tagged?)"),
        f"  time to detect:       {seconds(record.detected_s):>8}  {verdicts['detection']} (RTO {record.rto_seconds} s)"
        + (f"  by {record.detected_by}" if record.detected_by else ""),
        f"  time to route around: {seconds(record.route_around_s):>8}  {verdicts['routeAround']}"
        + (f"  by {record.routed_around_by}" if record.routed_around_by else ""),
        f"  time to recover:      {seconds(record.recovered_after_fault_s):>8}  {verdicts['recovery']} (after the fault ended)",
        f"  probe errors: {record.probes_failed} of {record.probes_sent}"
        + "".join(f"; {name} {tally.failed}/{tally.sent}" for name, tally in record.probes.items() if tally.failed),
    ]


def write_record(record: DrillRecord, path: Path | None) -> Path:
    """Writes `record` as JSON to `path`, by default drill-records/<stack>/<time>-<scenario>.json; returns the path."""
    path = path or drill_records.default_path(record.stack, record.scenario, record.started_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_json(), indent=2) + "\n")
    return path


# A probe round reads every region's alarm and the experiment, and probes every entry point: faster than once a
# second measures nothing more (an alarm changes state at most once per period, 10 s at the shortest: PutMetricAlarm
# Period is 10, 20, 30 or a multiple of 60, botocore's cloudwatch service model) and spends the account's API
# request rate. At most a minute apart, the shortest RTO the settings accept (rtoSeconds), so every measure can be
# judged against it.
PROBE_INTERVAL_SECONDS = (1, 60)
RECOVERY_TIMEOUT_SECONDS = (0, 86400)
MAX_PROBES = (1, 100_000)


def main(argv: list[str] | None = None, clients: ClientFactory | None = None, prober: Any = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """The command line; `clients`, `prober` and `sleep` replace AWS, the probes and waiting (tests). Returns the exit status."""
    parser = command_line.Parser(prog="python -m ops.drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="Pulumi stack name, such as dev")
    parser.add_argument("--scenario", required=True, help="a drill of the stack, such as region-outage-us-east-1 (pulumi stack output drills)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and check the steady state; start nothing")
    parser.add_argument("--outputs", type=Path, help="stack outputs as JSON (default: pulumi stack output --json)")
    parser.add_argument(PRODUCTION_FLAG, dest="production", action="store_true", help="allow a drill on a production stack")
    parser.add_argument(
        "--probe-interval", type=command_line.number(*PROBE_INTERVAL_SECONDS, "seconds"), default=5.0,
        help=f"seconds between probe rounds, {PROBE_INTERVAL_SECONDS[0]}-{PROBE_INTERVAL_SECONDS[1]} (default 5)",
    )
    parser.add_argument(
        "--max-probes", type=command_line.number(*MAX_PROBES, "probe requests", whole=True), default=2000,
        help=f"most probe requests the drill sends, {MAX_PROBES[0]}-{MAX_PROBES[1]} (default 2000)",
    )
    parser.add_argument(
        "--recovery-timeout", type=command_line.number(*RECOVERY_TIMEOUT_SECONDS, "seconds"), default=900.0,
        help=f"seconds to wait for recovery after the fault, {RECOVERY_TIMEOUT_SECONDS[0]}-{RECOVERY_TIMEOUT_SECONDS[1]} (default 900)",
    )
    parser.add_argument("--model", default="any", help="model name for the proxy probes' one-token completion (default any)")
    parser.add_argument("--record", type=Path, help="where to write the drill record (default drill-records/<stack>/<time>-<scenario>.json)")
    args = parser.parse_args(argv)
    if not args.model.strip():
        parser.error(f"argument --model: {args.model!r} is not allowed; expected the name of a model the proxies serve")
    try:
        plan = plan_drill(args.stack, read_outputs(args.stack, args.outputs), args.scenario, args.production)
        if clients is None or prober is None:
            session = aws_session()
            clients = clients or boto3_clients(session)
            prober = prober or HttpProber(sigv4_signer(session), args.model)
        drill = Drill(
            plan, clients, prober, dry_run=args.dry_run, probe_interval=args.probe_interval,
            max_probes=args.max_probes, recovery_timeout=args.recovery_timeout, sleep=sleep,
        )
        record = drill.run()
    except Refused as refusal:
        return command_line.refuse(str(refusal))
    except (BotoCoreError, ClientError) as failure:
        print(f"failed: {failure}", file=sys.stderr)
        return 1
    finally:
        if hasattr(prober, "close"):
            prober.close()
    if record is None:
        return 0
    path = write_record(record, args.record)
    for line in summary(record):
        print(line)
    print(f"Drill record: {path}")
    return 0 if record.passed else 1


if __name__ == "__main__":
    command_line.run_main(main)
