"""Availability, RTO and RPO arithmetic, checked against hand-computed values."""

from __future__ import annotations

import pytest

from report import availability, model, render
from report.availability import Cause, CommonMode, SlaError, SlaTable
from report.generate import topology_of
from report.render import downtime, percent
from tests.report_topology import active_active_stack, active_passive_stack, azure_resources, replica_lag_alarm

SLAS = SlaTable.load()


def test_series_multiplies_and_has_no_sla_when_a_part_has_none():
    assert availability.series([0.9999, 0.9995]) == pytest.approx(0.99940005, abs=1e-12)
    assert availability.series([0.9999, None]) is None


def test_parallel_multiplies_unavailabilities():
    assert availability.parallel([0.99, 0.99]) == pytest.approx(0.9999, abs=1e-12)
    assert availability.parallel([0.9998, 0.9998, 0.9998]) == pytest.approx(1 - 8e-12, abs=1e-15)
    # A part without an SLA adds nothing to its copies.
    assert availability.parallel([None, 0.9]) == pytest.approx(0.9)


@pytest.mark.parametrize(
    "instances, zones, expected",
    [
        (0, 3, 0.0),
        (1, 2, 0.995),  # one instance: the instance-level SLA
        (2, 2, 0.9999),  # 1 - 0.005^2 = 0.999975, capped at the region-level SLA
        (2, 1, 0.995),  # one zone: capped at the instance-level SLA
    ],
)
def test_fleet_is_instances_in_parallel_capped_by_the_region_or_instance_sla(instances, zones, expected):
    assert availability.fleet_availability(instances, zones, 0.995, 0.9999) == pytest.approx(expected)


def test_downtime_and_recovery_formulas():
    assert availability.downtime_minutes_per_month(0.999) == pytest.approx(43.8)  # 0.1 % of 730 h x 60
    assert availability.detection_seconds(30, 3) == 90
    assert availability.detection_seconds(10, 2) == 20
    assert availability.scale_up_seconds(0, 3, 90, 600, 15, 2) == 720  # 90 + 600 + 15 x 2
    assert availability.scale_up_seconds(1, 3, 90, 600, 15, 2) == 720  # missing instances launch together
    assert availability.scale_up_seconds(3, 3, 90, 600, 15, 2) == 0
    assert availability.recovery_time_seconds(90, 60, 720) == 870


def test_active_passive_serves_from_the_primary_and_recovers_in_detection_plus_ttl_plus_scale_up():
    resources, outputs = active_passive_stack(standby_desired=0)
    estimate = availability.estimate(model.build("test", resources, outputs), SLAS)

    # The primary alone: ALB 99.99 % x fleet 99.99 % (3 instances, 3 AZs) x RDS Multi-AZ 99.95 %,
    # then Route 53 100 % and the common-mode term in series.
    assert estimate.across.availability == pytest.approx(0.9999 * 0.9999 * 0.9995)
    assert estimate.composite == pytest.approx(0.999300109995 * estimate.common_mode.availability)
    recovery = estimate.recovery
    assert recovery.automated
    assert (recovery.detection_seconds, recovery.dns_ttl_seconds, recovery.scale_up_seconds) == (90, 60, 720)
    assert recovery.rto_seconds == 870
    assert recovery.standby_mode == "pilot-light"
    assert any("alias" in note for note in recovery.notes)


@pytest.mark.parametrize("standby, mode, scale_up", [(0, "pilot-light", 720), (1, "warm", 720), (3, "hot", 0)])
def test_standby_mode_follows_the_standby_capacity(standby, mode, scale_up):
    resources, outputs = active_passive_stack(standby_desired=standby)
    recovery = availability.recovery(model.build("test", resources, outputs), SLAS)
    assert (recovery.standby_mode, recovery.scale_up_seconds) == (mode, scale_up)


def test_active_active_puts_regions_in_parallel_and_needs_no_scale_up():
    resources, outputs = active_active_stack()
    estimate = availability.estimate(model.build("test", resources, outputs), SLAS)

    region = 0.9999 * 0.9999  # ALB x fleet
    assert [path.availability for path in estimate.regions] == pytest.approx([region] * 3)
    assert estimate.across.availability == pytest.approx(1 - (1 - region) ** 3, abs=1e-15)
    assert estimate.composite == pytest.approx((1 - (1 - region) ** 3) * estimate.common_mode.availability, abs=1e-15)
    assert estimate.recovery.rto_seconds == 90 + 60
    assert estimate.recovery.standby_mode == "none"


def test_rpo_is_the_documented_lag_or_the_replica_lag_alarm_bound():
    resources, outputs = active_passive_stack()
    assert availability.data_loss(model.build("test", resources, outputs), SLAS).rpo_seconds == 5
    bounded = availability.data_loss(model.build("test", resources + [replica_lag_alarm(30.0)], outputs), SLAS)
    assert bounded.rpo_seconds == 30 and "db-replica-lag" in bounded.bound


def test_no_replica_and_no_routing_mean_no_rpo_and_manual_failover():
    resources, outputs = active_active_stack()
    plain = [r for r in resources if not r.type.startswith("aws:route53/")]
    estimate = availability.estimate(model.build("test", plain, outputs), SLAS)
    assert estimate.data_loss.rpo_seconds is None
    assert not estimate.recovery.automated
    assert estimate.dns is None


def test_azure_path_is_front_door_then_gateway_then_accounts_in_parallel():
    topology = model.build("test", active_active_stack()[0] + azure_resources("StandardV2"), {"topology": "active-active"})
    estimate = availability.estimate(topology, SLAS)
    assert estimate.azure_composite == pytest.approx(0.9999 * 0.9995 * (1 - 0.001**2))


def test_a_gateway_sku_without_sla_leaves_the_path_without_one():
    topology = model.build("test", active_active_stack()[0] + azure_resources("Developer"), {"topology": "active-active"})
    estimate = availability.estimate(topology, SLAS)
    assert estimate.azure_composite is None
    assert percent(estimate.azure_composite) == "no SLA"


def test_an_unknown_gateway_sku_names_the_sku_and_the_sla_file():
    topology = model.build("test", active_active_stack()[0] + azure_resources("Isolated"), {"topology": "active-active"})
    with pytest.raises(SlaError, match=r"'Isolated'.*report/data/sla\.yaml"):
        availability.estimate(topology, SLAS)


@pytest.mark.parametrize(
    "value, text",
    [(0.9949005, "99.49 %"), (0.999300109995, "99.93 %"), (0.99995, "99.995 %"), (1 - 8e-12, "99.9999999992 %"), (1.0, "100 %")],
)
def test_percent_shows_the_significant_digits_of_the_unavailability(value, text):
    assert percent(value) == text


def test_downtime_reads_in_minutes_or_seconds():
    assert downtime(0.999) == "43.8 min"
    assert downtime(0.99999) == "26 s"
    assert downtime(1 - 8e-12) == "< 1 s"


def test_active_passive_detection_waits_on_the_primary_check_only():
    resources, outputs = active_passive_stack()
    for resource in resources:
        if resource.name == "health-us-west-2":
            resource.inputs["failureThreshold"] = 10.0  # a slow standby check: 300 s
    recovery = availability.recovery(model.build("test", resources, outputs), SLAS)
    assert recovery.detection_seconds == 90


def test_records_without_health_checks_do_not_fail_over_on_their_own():
    resources, outputs = active_passive_stack()
    for resource in resources:
        if resource.type == model.DNS_RECORD:
            resource.inputs.pop("healthCheckId")
            resource.inputs["aliases"][0]["evaluateTargetHealth"] = False
    recovery = availability.recovery(model.build("test", resources, outputs), SLAS)
    assert not recovery.automated
    assert any("failover is manual" in note for note in recovery.notes)


# --- shared parts, the common-mode term and what a drill implies -----------------------------------------------

COMMON = CommonMode("test", (Cause("rollout", "bad rollout", 2, 45), Cause("provider", "provider event", 0.5, 120)), regional_failures_per_year=2)


def test_common_mode_is_the_minutes_its_causes_take_a_year():
    assert COMMON.minutes_per_year == 2 * 45 + 0.5 * 120 == 150
    assert COMMON.availability == pytest.approx(1 - 150 / (365 * 24 * 60))
    assert availability.common_mode_availability(10**9) == 0.0
    shipped = CommonMode.load()
    assert shipped.minutes_per_year == sum(c.events_per_year * c.minutes_per_event for c in shipped.causes) > 0


def test_the_shared_terms_are_in_series_with_the_regions_in_parallel():
    resources, outputs = active_active_stack()
    estimate = availability.estimate(model.build("test", resources, outputs), SLAS, COMMON)
    region = 0.9999 * 0.9999
    assert [part.label for part in estimate.terms] == ["Route 53 DNS", "Common mode (every region at once)", "Regions in parallel"]
    assert estimate.composite == pytest.approx(1.0 * COMMON.availability * (1 - (1 - region) ** 3), abs=1e-15)
    assert estimate.dominant.label == "Common mode (every region at once)"


def test_prods_figure_follows_the_common_mode_assumption_and_never_beats_it():
    prod = topology_of("prod")
    figures = []
    for events in (0.0, 1.0, 4.0):
        assumption = CommonMode("test", (Cause("rollout", "bad rollout", events, 60),), 2)
        estimate = availability.estimate(prod, SLAS, assumption)
        assert estimate.composite <= assumption.availability
        figures.append(estimate.composite)
    # No common mode left only the regions in parallel: the old, many-nines claim.
    assert figures[0] == pytest.approx(estimate.across.availability, abs=1e-15) and figures[0] > figures[1] > figures[2]
    assert figures[2] == pytest.approx(estimate.across.availability * (1 - 240 / (365 * 24 * 60)), abs=1e-12)
    # The shipped assumption: the common mode, not the regions, is what prod loses most to.
    assert availability.estimate(prod, SLAS).dominant.label.startswith("Common mode")
    assert availability.estimate(topology_of("dev"), SLAS).dominant.label == "Primary region us-east-1 alone"


def test_a_drill_implies_the_shared_terms_times_what_its_route_around_costs():
    resources, outputs = active_active_stack()
    estimate = availability.estimate(model.build("test", resources, outputs), SLAS, COMMON)
    record = {"scenario": "region-outage-us-east-1", "started_at": "2026-03-01T10:00:00+00:00", "fault_visible_s": 12.0, "route_around_s": 90.0}
    evidence = availability.drill_evidence(estimate, 3, "a.json", record)
    # 2 failures per region a year x 3 regions x 90 s each, out of a 365-day year.
    assert evidence.implied == pytest.approx(COMMON.availability * (1 - 2 * 3 * 90 / (365 * 24 * 3600)), abs=1e-15)
    assert availability.drill_evidence(estimate, 3, "b.json", {**record, "route_around_s": None}).implied is None
    untouched = availability.drill_evidence(estimate, 3, "c.json", {**record, "fault_visible_s": None, "route_around_s": None})
    assert untouched.implied == pytest.approx(COMMON.availability) and not untouched.interrupted


def test_the_availability_page_shows_the_common_mode_the_dominant_term_and_the_drill():
    resources, outputs = active_active_stack()
    topology = model.build("test", resources, {**outputs, "rtoSeconds": 120})
    estimate = availability.estimate(topology, SLAS, COMMON)
    record = {"scenario": "region-outage-us-east-1", "started_at": "2026-03-01T10:00:00+00:00", "fault_visible_s": 12.0, "route_around_s": 90.0}
    page = render.availability_page(topology, estimate, SLAS, availability.drill_evidence(estimate, 3, "a.json", record))
    assert "| shared | every region | Common mode: bad rollout (2/year x 45 min) |" in page
    assert "| **Common mode (every region at once)** | 99.971 % | 12.5 min |" in page  # 150 min a year
    assert "Stated RTO (`rtoSeconds`): 120 s (2.0 min); the estimate below is over it." in page
    assert "Clients were routed around in 90 s." in page and f"next to the SLA-based **{percent(estimate.composite)}**" in page
    assert "No drill record yet" in render.availability_page(topology, estimate, SLAS, None)


def test_a_bad_common_mode_file_names_the_cause(tmp_path):
    bad = tmp_path / "common_mode.yaml"
    bad.write_text("date: x\ncauses:\n  rollout: {what: w, events_per_year: -1, minutes_per_event: 5}\ndrill: {regional_failures_per_year: {value: 2}}\n")
    with pytest.raises(ValueError, match="rollout needs events_per_year and minutes_per_event of 0 or more"):
        CommonMode.load(bad)
