"""Monthly cost arithmetic against hand-computed values, and clear errors for unpriced types."""

from __future__ import annotations

import pytest

from report import cost, model
from report.cost import PriceError, PriceTable
from report.model import HealthCheck
from tests.report_topology import active_active_stack, active_passive_stack, azure_resources, region_resources

PRICES = PriceTable.load()


def test_formulas():
    assert cost.monthly_from_hourly(1.006, 3, 730) == pytest.approx(2203.14)
    # 2 x (0.225 x 730 + 100 GB x 0.115): Multi-AZ doubles instance and storage.
    assert cost.rds_monthly(0.225, 100, 0.115, True, 730) == pytest.approx(351.50)
    assert cost.rds_monthly(0.225, 100, 0.115, False, 730) == pytest.approx(175.75)
    # 10 M x $0.20/M + 10 M x 2 s x 0.5 GB x $0.0000166667 per GB-s
    assert cost.lambda_monthly(10_000_000, 512, 2000, 0.20, 0.0000166667) == pytest.approx(2.00 + 166.667)
    assert cost.health_check_monthly(0.50, 1.00, 2) == pytest.approx(2.50)


@pytest.mark.parametrize(
    "kind, interval, latency, options",
    [("HTTP", 30, False, 0), ("HTTPS", 30, False, 1), ("HTTPS_STR_MATCH", 30, False, 2), ("HTTPS", 10, True, 3)],
)
def test_health_check_options_are_https_string_match_fast_interval_and_latency(kind, interval, latency, options):
    check = HealthCheck(name="c", kind=kind, target_region=None, interval_seconds=interval, failure_threshold=3, measure_latency=latency)
    assert cost.health_check_options(check) == options


def test_line_items_price_every_declared_resource_split_by_region():
    resources, outputs = active_passive_stack(standby_desired=0)
    items = cost.line_items(model.build("test", resources, outputs), PRICES)
    monthly = {(item.region, item.item): item.monthly for item in items}

    assert monthly[("us-east-1", "EC2 g5.xlarge")] == pytest.approx(3 * 1.006 * 730)
    assert monthly[("us-east-1", "EBS gp3 root volumes")] == pytest.approx(300 * 0.08)
    assert monthly[("us-east-1", "NAT gateway")] == pytest.approx(3 * (0.045 * 730 + 50 * 0.045))
    assert monthly[("us-east-1", "Public IPv4 address")] == pytest.approx(3 * 0.005 * 730)
    assert monthly[("us-east-1", "Application Load Balancer")] == pytest.approx((0.0225 + 0.008) * 730)
    assert monthly[("us-east-1", "RDS primary db.r6g.large")] == pytest.approx(351.50)
    assert monthly[("us-west-2", "RDS replica db.r6g.large")] == pytest.approx(175.75)
    # arm64: 10 M x $0.20/M + 10 M x 2 s x 0.5 GB x $0.0000133334
    assert monthly[("us-east-1", "Lambda proxy-us-east-1")] == pytest.approx(2.00 + 133.334)
    assert monthly[("us-west-2", "EC2 g5.xlarge")] == 0  # pilot light: no instance runs
    assert monthly[("global", "Route 53 health checks")] == pytest.approx(2 * (0.50 + 1.00))  # HTTPS is an option
    assert monthly[("global", "Route 53 hosted zone")] == pytest.approx(0.50)
    assert monthly[("global", "Front Door Standard_AzureFrontDoor")] == pytest.approx(35.00)
    assert monthly[("azure eastus", "API Management StandardV2")] == pytest.approx(700.00)

    regions = cost.by_region(items)
    assert list(regions) == ["us-east-1", "us-west-2", "global", "azure eastus", "azure swedencentral"]
    assert sum(regions.values()) == pytest.approx(cost.total(items))


def test_regions_outside_us_east_1_scale_by_their_multiplier():
    resources, outputs = active_active_stack()
    items = cost.line_items(model.build("test", resources, outputs), PRICES)
    ec2 = {item.region: item.monthly for item in items if item.item == "EC2 g5.xlarge"}
    assert ec2["us-west-2"] == pytest.approx(ec2["us-east-1"])
    assert ec2["eu-west-1"] == pytest.approx(ec2["us-east-1"] * 1.10)


def test_an_unpriced_instance_type_names_the_type_and_the_price_file():
    topology = model.build("test", region_resources("us-east-1", "ab", instance_type="p5.48xlarge"), {})
    with pytest.raises(PriceError, match=r"'p5\.48xlarge' under ec2_instance_hourly in report/data/prices\.yaml"):
        cost.line_items(topology, PRICES)


def test_an_unpriced_region_names_the_region():
    topology = model.build("test", region_resources("ap-south-1", "ab"), {})
    with pytest.raises(PriceError, match=r"'ap-south-1' under region_multipliers"):
        cost.line_items(topology, PRICES)


def test_a_provisioned_deployment_without_a_price_is_an_error_not_a_zero():
    resources = active_active_stack()[0] + azure_resources()
    for resource in resources:
        if resource.type == model.OPENAI_DEPLOYMENT:
            resource.inputs["sku"] = {"name": "ProvisionedManaged", "capacity": 100.0}
    with pytest.raises(PriceError, match="'ProvisionedManaged'"):
        cost.line_items(model.build("test", resources, {}), PRICES)


def test_a_price_written_twice_is_refused_rather_than_the_last_one_winning(tmp_path):
    from failover.documents import UnreadableDocument

    prices = tmp_path / "prices.yaml"
    prices.write_text("date: 2026-01-01\nhours_per_month: 730\nregion_multipliers:\n  us-east-1: 1.0\n  us-east-1: 1.1\n")
    with pytest.raises(UnreadableDocument, match=r'not YAML \(line 5, column 3: mapping key "us-east-1" already defined at line 4\)'):
        PriceTable.load(prices)
