"""The drill command end to end: FIS and CloudWatch in moto, the regions' fleets and model proxies as real servers on 127.0.0.1.

Each region's fleet is a fake model server; each region's proxy is the failover gateway, the same router core
the Lambda proxy runs, trying its own region first and then the other. What the experiment would break in AWS
is broken here when moto's FIS reports the experiment running, and repaired when it reports it over.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.moto_api import state_manager

from failover.config import parse_config
from failover.fake_upstream import FakeUpstream
from failover.gateway import bind, create_app, server
from offline import PulumiMocks
from ops import drill
from ops.drill import Drill, HttpProber, Refused, main, plan_drill, sigv4_signer
from tests.failover_fakes import FAST_BREAKER

REGIONS = ("us-east-1", "us-west-2")
DRILLED = "us-east-1"
ACCOUNT = "123456789012"
SCENARIO = f"region-outage-{DRILLED}"
CHANGING_CALLS = {"StartExperiment", "StopExperiment"}
SESSION = boto3.session.Session()
# Generous enough that a loaded machine never fails a healthy region; the faults below are answers, not silence.
TIMEOUTS = {"connect": 2.0, "first_byte": 3.0, "total": 8.0, "stream_idle": 3.0, "min_attempt": 0.5}


class World:
    """Per region a fake fleet and the failover gateway in front of every region, served from one background loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.fleets: dict[str, FakeUpstream] = {}
        self.proxies: dict[str, str] = {}
        self._servers: list[tuple[Any, Any, Any]] = []

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=5)

    def __enter__(self) -> World:
        self.thread.start()
        for region in REGIONS:
            self.fleets[region] = self.call(FakeUpstream(f"fleet-{region}").start())
        for region in REGIONS:
            self.proxies[region] = self.call(self._gateway(region))
        return self

    async def _gateway(self, region: str) -> str:
        upstreams = [{"name": f"aws-{r}", "url": self.fleets[r].url, "region": r, "priority": 0} for r in REGIONS]
        config = parse_config({"topology": "active-active", "upstreams": upstreams, "timeouts": TIMEOUTS, "breaker": FAST_BREAKER})
        sock = bind("127.0.0.1", 0)
        uvicorn_server = server(create_app(config, caller_region=region))
        task = asyncio.create_task(uvicorn_server.serve(sockets=[sock]))
        while not uvicorn_server.started:
            await asyncio.sleep(0.005)
        self._servers.append((uvicorn_server, task, sock))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"

    async def _shutdown(self) -> None:
        for uvicorn_server, task, sock in self._servers:
            uvicorn_server.should_exit = True
            await task
            sock.close()
        for fleet in self.fleets.values():
            await fleet.stop()

    def __exit__(self, *exc_info: object) -> None:
        self.call(self._shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def degraded_alarm(region: str) -> str:
    return f"ha-model-serving-dev-{region}-region-degraded"


def set_alarm(region: str, state: str) -> None:
    SESSION.client("cloudwatch", region_name=region).set_alarm_state(AlarmName=degraded_alarm(region), StateValue=state, StateReason="drill test")


def stage(world: World) -> dict:
    """The composite alarms, the experiment template and the outputs `pulumi up` of the stack would leave."""
    arns = {}
    for region in REGIONS:
        alarm = cloudwatch_backends[ACCOUNT][region].put_metric_alarm(
            name=degraded_alarm(region), namespace=None, metric_name=None, comparison_operator=None, evaluation_periods=None,
            period=None, threshold=None, statistic=None, description="", dimensions=[], alarm_actions=[],
            rule=f'ALARM("ha-model-serving-dev-{region}-fleet-healthy-hosts")',
        )
        arns[region] = alarm.alarm_arn
    template = SESSION.client("fis", region_name=DRILLED).create_experiment_template(
        clientToken="stage", description="region outage", roleArn=f"arn:aws:iam::{ACCOUNT}:role/drill",
        stopConditions=[{"source": "aws:cloudwatch:alarm", "value": f"arn:aws:cloudwatch:{DRILLED}:{ACCOUNT}:alarm:mirror-of-us-west-2"}],
        # moto resolves targets named by ARN only; the stack's templates select by tag, which AWS resolves.
        targets={"servers": {"resourceType": "aws:ec2:instance", "resourceArns": [f"arn:aws:ec2:{DRILLED}:{ACCOUNT}:instance/i-0123456789abcdef0"], "selectionMode": "ALL"}},
        actions={"stop": {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "servers"}, "parameters": {"startInstancesAfterDuration": "PT1M"}}},
    )["experimentTemplate"]
    return {
        "stack": "dev",
        "environment": "dev",
        "rtoSeconds": 300,
        "drills": {
            "faultMinutes": 1,
            "scenarios": {
                SCENARIO: {"region": DRILLED, "kind": "region", "summary": "Every model server of us-east-1 stopped.", "templateId": template["id"],
                           "stopAlarmArns": [], "logGroup": "/aws/fis/ha-model-serving-dev-us-east-1"},
            },
        },
        "regions": {
            region: {"endpoint": world.fleets[region].url, "healthUrl": world.fleets[region].url + "/health",
                     "degradedAlarmArn": arns[region], "proxyUrl": world.proxies[region]}
            for region in REGIONS
        },
    }


class FaultingClients:
    """moto's clients, recording every operation; when FIS reports the experiment running, the fault happens."""

    def __init__(self, world: World, faults: dict[str, Any]) -> None:
        self.world, self.faults, self.calls = world, faults, []
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str):
        if (service, region) not in self._clients:
            client = SESSION.client(service, region_name=region)
            client.meta.events.register("before-call.*.*", lambda model, **_: self.calls.append(model.name))
            if service == "fis":
                client.meta.events.register("after-call.fis.GetExperiment", self._react)
            self._clients[(service, region)] = client
        return self._clients[(service, region)]

    def _react(self, parsed: dict, **_: Any) -> None:
        status = parsed["experiment"]["state"]["status"]
        action = self.faults.pop(status, None)
        if action:
            action(self.world)


def break_region(world: World) -> None:
    world.fleets[DRILLED].mode = "http-500"
    set_alarm(DRILLED, "ALARM")


def repair_region(world: World) -> None:
    world.fleets[DRILLED].mode = "none"
    set_alarm(DRILLED, "OK")


@pytest.fixture(scope="module")
def regions():
    with World() as world:
        yield world


@pytest.fixture
def aws_and_regions(regions):
    for fleet in regions.fleets.values():
        fleet.mode = "none"
    # Each experiment state holds for two reads, so the fault is seen by a few probe rounds.
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 2})
    try:
        with mock_aws():
            yield regions, stage(regions)
    finally:
        state_manager.unset_transition("fis::experiment")


def run_drill(outputs: dict, tmp_path: Path, capsys, clients, *extra: str) -> tuple[int, str, dict | None]:
    outputs_file, record_file = tmp_path / "outputs.json", tmp_path / "record.json"
    outputs_file.write_text(json.dumps(outputs))
    slept: list[float] = []
    status = main(
        ["--stack", "dev", "--scenario", SCENARIO, "--outputs", str(outputs_file), "--record", str(record_file), "--probe-interval", "1", *extra],
        clients=clients, prober=HttpProber(signer=None, model="any", timeout=5.0), sleep=slept.append,
    )
    # The drill waits the probe interval between rounds, and only then (moto's FIS moves on by reads, not time).
    assert set(slept) <= {1.0}
    captured = capsys.readouterr()
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    return status, captured.out + captured.err, record


def test_a_region_outage_drill_measures_detection_route_around_and_recovery(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    clients = FaultingClients(world, {"running": break_region, "completed": repair_region})

    status, printed, record = run_drill(outputs, tmp_path, capsys, clients)

    assert status == 0, printed
    assert [c for c in clients.calls if c in CHANGING_CALLS] == ["StartExperiment"]
    [experiment] = SESSION.client("fis", region_name=DRILLED).list_experiments()["experiments"]
    assert (record["experiment_id"], record["template_id"]) == (experiment["id"], outputs["drills"]["scenarios"][SCENARIO]["templateId"])
    assert record["experiment_status"] == "completed" and record["stopped_by_drill"] is None
    # The region's alarm went off while its endpoint failed; its proxy answered from the other region meanwhile.
    assert record["detected_by"] == degraded_alarm(DRILLED) and record["detected_s"] >= record["fault_visible_s"] >= 0
    assert record["routed_around_by"].startswith(f"{DRILLED} proxy (served by us-west-2)") or "us-west-2 proxy" in record["routed_around_by"]
    assert record["route_around_s"] == 0.0  # the proxy fails over within the request
    failures = {name: tally["failed"] for name, tally in record["probes"].items()}
    assert failures[f"{DRILLED} endpoint"] >= 1 and failures[f"{DRILLED} endpoint"] == record["probes_failed"]
    assert {name: count for name, count in failures.items() if name != f"{DRILLED} endpoint"} == {"us-west-2 endpoint": 0, f"{DRILLED} proxy": 0, "us-west-2 proxy": 0}
    assert record["recovered_after_fault_s"] is not None and record["fault_ended_s"] >= record["detected_s"]
    assert record["verdicts"] == {"detection": "within", "routeAround": "within", "recovery": "within"}
    assert record["resolved_targets"] == {"servers": 1}
    assert "time to route around:" in printed and f"Drill record: {tmp_path / 'record.json'}" in printed


def test_another_region_degrading_stops_the_experiment_from_the_drill_too(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions

    def break_both(world: World) -> None:
        break_region(world)
        set_alarm("us-west-2", "ALARM")

    def repair_both(world: World) -> None:
        repair_region(world)
        set_alarm("us-west-2", "OK")

    clients = FaultingClients(world, {"running": break_both, "stopped": repair_both})
    status, printed, record = run_drill(outputs, tmp_path, capsys, clients)

    assert status == 1, printed
    assert [c for c in clients.calls if c in CHANGING_CALLS] == ["StartExperiment", "StopExperiment"]
    assert record["stopped_by_drill"] == "us-west-2's region-degraded alarm went into ALARM"
    assert record["experiment_status"] == "stopped"


def test_dry_run_prints_the_plan_checks_the_steady_state_and_starts_nothing(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    clients = FaultingClients(world, {})
    status, printed, record = run_drill(outputs, tmp_path, capsys, clients, "--dry-run")
    assert status == 0 and record is None
    assert not CHANGING_CALLS & set(clients.calls)
    assert "stops when ALARM: us-west-2 region-degraded" in printed
    assert f"probes every 1 s: {DRILLED} endpoint, {DRILLED} proxy, us-west-2 endpoint, us-west-2 proxy" in printed
    assert "Dry run: nothing was started." in printed


def test_no_steady_state_no_drill(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    set_alarm("us-west-2", "ALARM")
    clients = FaultingClients(world, {})
    status, printed, _ = run_drill(outputs, tmp_path, capsys, clients)
    assert status == 2 and "no steady state: the region-degraded alarm of us-west-2 is in ALARM" in printed
    assert not CHANGING_CALLS & set(clients.calls)


def test_the_probe_bound_stops_a_drill_that_does_not_end(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    state_manager.set_transition("fis::experiment", {"progression": "manual", "times": 1000})
    clients = FaultingClients(world, {})
    status, printed, record = run_drill(outputs, tmp_path, capsys, clients, "--max-probes", "20")
    assert status == 1, printed
    assert record["probes_sent"] <= 20 and record["stopped_by_drill"] == "the drill's bound on probes or time was reached"
    assert [c for c in clients.calls if c in CHANGING_CALLS] == ["StartExperiment", "StopExperiment"]


def refusals():
    base = {
        "stack": "dev", "environment": "dev", "rtoSeconds": 300,
        "drills": {"faultMinutes": 10, "scenarios": {SCENARIO: {"region": DRILLED, "kind": "region", "summary": "", "templateId": "EXT1"}}},
        "regions": {DRILLED: {"endpoint": "http://a", "healthUrl": "http://a/health", "degradedAlarmArn": f"arn:aws:cloudwatch:{DRILLED}:{ACCOUNT}:alarm:x"}},
    }
    return [
        pytest.param(base, "az-outage-us-east-1z", f"az-outage-us-east-1z is not a drill of stack dev (drills: {SCENARIO})", id="unknown-scenario"),
        pytest.param({**base, "environment": "prod"}, SCENARIO, "production stack and the drill really breaks", id="production"),
        pytest.param({**base, "drills": {"faultMinutes": 10, "scenarios": {}}}, SCENARIO, "declares no drills (drillsEnabled is false)", id="no-drills"),
        pytest.param({"topology": "active-active"}, SCENARIO, "outputs lack environment, rtoSeconds, drills, regions", id="not-deployed"),
    ]


@pytest.mark.parametrize("outputs, scenario, message", refusals())
def test_a_bad_scenario_or_stack_is_refused_before_any_call(tmp_path, capsys, outputs, scenario, message):
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    calls: list[str] = []
    status = main(["--stack", "dev", "--scenario", scenario, "--outputs", str(outputs_file)], clients=lambda s, r: calls.append(s), prober=object())
    assert status == 2
    assert message in capsys.readouterr().err
    assert calls == []


def test_a_production_stack_runs_with_the_explicit_flag():
    outputs = refusals()[0].values[0] | {"environment": "prod"}
    assert plan_drill("prod", outputs, SCENARIO, production_confirmed=True).environment == "prod"
    with pytest.raises(Refused, match="--i-understand-this-is-production"):
        plan_drill("prod", outputs, SCENARIO)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_drill_the_stacks_declare_plans_from_their_outputs(stack):
    exported = json.loads(json.dumps(PulumiMocks().run_stack(stack).outputs))
    assert exported["stack"] == stack  # what the commands check outputs against (ops.stack.check_stack)
    for scenario, entry in exported["drills"]["scenarios"].items():
        plan = plan_drill(stack, exported, scenario, production_confirmed=True)
        assert (plan.region, plan.kind, plan.template_id, plan.rto_seconds) == (entry["region"], entry["kind"], entry["templateId"], exported["rtoSeconds"])
        assert set(plan.degraded_alarms) == set(exported["regions"])
        assert {t.name for t in plan.probes} >= {f"{region} endpoint" for region in exported["regions"]} | {f"{region} proxy" for region in exported["regions"]}
    if stack == "prod":
        [global_probe] = [t for t in plan.probes if t.kind == "global"]
        assert global_probe.url == "https://models.example.com/health"


def test_proxy_probes_are_signed_for_lambda_in_the_proxys_region():
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", aws_session_token="token")
    sign = sigv4_signer(session)
    url = "https://abc.lambda-url.us-west-2.on.aws/v1/chat/completions"
    headers = sign("POST", url, b'{"max_tokens": 1}', "us-west-2")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/lambda/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Security-Token"] == "token" and headers["X-Amz-Date"]
    # The signature covers the body: another body, another signature.
    assert sign("POST", url, b'{"max_tokens": 2}', "us-west-2")["Authorization"] != headers["Authorization"]


def test_the_record_judges_each_measure_against_the_rto():
    record = drill.DrillRecord("dev", SCENARIO, DRILLED, "region", "", "EXT1", "EXP1", "2026-01-01T00:00:00+00:00", rto_seconds=60)
    record.experiment_status, record.detected_s, record.fault_visible_s, record.routed_around_s = "completed", 40.0, 10.0, 95.0
    record.recovered_after_fault_s = 30.0
    assert record.verdicts() == {"detection": "within", "routeAround": "over", "recovery": "within"}
    assert record.route_around_s == 85.0 and not record.passed
    zone = drill.DrillRecord("dev", "az-outage-us-east-1a", DRILLED, "zone", "", "EXT2", "EXP2", "2026-01-01T00:00:00+00:00", rto_seconds=60)
    zone.experiment_status, zone.recovered_after_fault_s, zone.resolved_targets = "completed", 5.0, {"servers-us-east-1a": 1, "server-group": 1}
    # A zone the region absorbs: no region alarm, no broken answer.
    assert zone.verdicts() == {"detection": "region not degraded", "routeAround": "not interrupted", "recovery": "within"} and zone.passed


def test_only_an_answer_from_outside_the_fault_counts_as_routed_around():
    endpoint, proxy, glob = (drill.ProbeTarget(f"{DRILLED} endpoint", "endpoint", "http://e", DRILLED),
                        drill.ProbeTarget(f"{DRILLED} proxy", "proxy", "http://p", DRILLED),
                        drill.ProbeTarget("global", "global", "http://g", None))

    def outcome(target, ok, served_by=None):
        return drill.ProbeResult(target, ok, "200" if ok else "503", served_by)

    def elsewhere(kind, result, others):
        plan = drill.DrillPlan("dev", "dev", "x", DRILLED, kind, "", "EXT1", 10, 300, {}, (endpoint, proxy, glob))
        return Drill(plan, clients=None, prober=None)._answered_elsewhere(result, [result, *others])

    failing_east = outcome(endpoint, False)
    # A region fault: the proxy answering from the faulted region itself, or DNS while that region still answers, is not a way around.
    assert not elsewhere("region", outcome(proxy, True, DRILLED), [failing_east])
    assert elsewhere("region", outcome(proxy, True, "us-west-2"), [failing_east])
    assert elsewhere("region", outcome(glob, True), [failing_east])
    assert not elsewhere("region", outcome(glob, True), [outcome(endpoint, True, DRILLED)])
    # A zone fault: the region answers again on every entry point at once.
    assert elsewhere("zone", outcome(endpoint, True, DRILLED), [outcome(proxy, True, DRILLED), outcome(glob, True)])
    assert not elsewhere("zone", outcome(endpoint, True, DRILLED), [outcome(proxy, False), outcome(glob, True)])


def test_records_are_found_by_stack_and_kind_newest_first(tmp_path):
    def write(started_at: str, scenario: str, kind: str) -> Path:
        path = drill.drill_records.default_path("prod", scenario, started_at)
        target = tmp_path / path.relative_to(drill.drill_records.RECORDS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"started_at": started_at, "scenario": scenario, "kind": kind}))
        return target

    write("2026-03-01T10:00:00+00:00", "region-outage-us-east-1", "region")
    newest = write("2026-03-02T09:00:00+00:00", "region-isolation-eu-west-1", "region")
    write("2026-03-03T09:00:00+00:00", "az-outage-us-east-1a", "zone")
    assert newest.name == "20260302T090000Z-region-isolation-eu-west-1.json"
    path, record = drill.drill_records.latest("prod", "region", records=tmp_path)
    assert (path, record["scenario"]) == (newest, "region-isolation-eu-west-1")
    assert drill.drill_records.latest("dev", "region", records=tmp_path) is None


def test_a_record_that_is_not_one_is_refused_naming_its_file(tmp_path):
    from failover.documents import UnreadableDocument

    path = tmp_path / "prod" / "20260301T100000Z-region-outage-us-east-1.json"
    path.parent.mkdir()
    path.write_text('{"kind": "region", ')  # cut short, as an interrupted copy leaves it
    with pytest.raises(UnreadableDocument) as refused:
        drill.drill_records.latest("prod", "region", records=tmp_path)
    assert str(refused.value) == f"{path}: not JSON (line 1, column 20: Expecting property name enclosed in double quotes); expected {drill.drill_records.RECORD_EXPECTED}"


def test_an_error_in_the_middle_of_a_drill_stops_the_experiment_before_reporting_it(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions

    def throttled(world: World) -> None:
        break_region(world)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetExperiment")

    clients = FaultingClients(world, {"running": throttled})
    status, printed, record = run_drill(outputs, tmp_path, capsys, clients)
    assert status == 1 and "failed: An error occurred (ThrottlingException)" in printed and record is None
    assert [c for c in clients.calls if c in CHANGING_CALLS] == ["StartExperiment", "StopExperiment"]
    assert "stopped the experiment: the drill was interrupted: ClientError" in printed


def test_a_probe_budget_smaller_than_two_rounds_is_refused(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    clients = FaultingClients(world, {})
    status, printed, _ = run_drill(outputs, tmp_path, capsys, clients, "--max-probes", "5")
    assert status == 2 and "--max-probes 5 leaves no room for a drill" in printed
    assert not CHANGING_CALLS & set(clients.calls)


def test_a_drill_whose_targets_resolve_to_nothing_does_not_pass(aws_and_regions, tmp_path, capsys):
    world, outputs = aws_and_regions
    fis = SESSION.client("fis", region_name=DRILLED)
    template_id = outputs["drills"]["scenarios"][SCENARIO]["templateId"]
    # As AWS sees a template whose tags match nothing: every target resolves empty and is skipped.
    fis.update_experiment_template(id=template_id, targets={"servers": {"resourceType": "aws:ec2:instance", "resourceTags": {"stack": "other"}, "selectionMode": "ALL"}})
    status, printed, record = run_drill(outputs, tmp_path, capsys, FaultingClients(world, {}))
    assert status == 1 and record["resolved_targets"] == {} and record["experiment_status"] == "completed"
    assert "no target resolved: the experiment broke nothing" in printed
