"""The topology report end to end: checked-in files are current, diagrams show what is declared, the command fails clearly."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from report import __main__ as command
from report import diagram, model
from report.cost import PriceError
from report.generate import COMMAND, OUTPUT, README, ROOT, generate
from tests.report_topology import active_passive_stack

STACKS = ["dev", "prod"]


@pytest.fixture(scope="module")
def generated():
    return generate(STACKS)


def test_checked_in_report_files_are_current(generated):
    _, files = generated
    assert README in files and OUTPUT / "comparison.md" in files
    for path, text in files.items():
        on_disk = (ROOT / path).read_text() if (ROOT / path).exists() else None
        assert on_disk == text, f"{path} is stale; regenerate with: {COMMAND}"


def test_the_prod_program_reads_as_three_active_regions_of_three_zones(generated):
    topology = generated[0][1].topology
    assert (topology.stack, topology.mode, topology.primary_region) == ("prod", "active-active", "us-east-1")
    assert [region.name for region in topology.regions] == ["us-east-1", "eu-west-1", "us-west-2"]
    for region in topology.regions:
        assert len(region.zones) == 3 and region.nat_zones == region.zones
        assert region.load_balancers[0].zones == region.zones
        (fleet,) = region.fleets
        assert (fleet.instance_type, fleet.desired, fleet.zones) == ("g5.xlarge", 3, region.zones)
        assert fleet.per_zone() == {zone: 1 for zone in region.zones}


@pytest.mark.parametrize("stack", STACKS)
def test_svg_is_well_formed_and_shows_every_declared_region_and_zone(generated, stack):
    summaries, files = generated
    topology = next(summary.topology for summary in summaries if summary.topology.stack == stack)
    texts = {element.text for element in ElementTree.fromstring(files[OUTPUT / stack / "topology.svg"]).iter("{http://www.w3.org/2000/svg}text")}
    for region in topology.regions:
        assert f"{region.name} ({topology.role(region.name)})" in texts
        assert set(region.zones) <= texts
    mermaid = files[OUTPUT / stack / "topology.mmd"]
    assert mermaid.startswith("flowchart TB\n")
    assert all(f'subgraph {region.name.replace("-", "_")}[' in mermaid for region in topology.regions)


def test_prod_costs_more_than_dev_and_buys_more_availability(generated):
    dev, prod = generated[0]
    assert prod.monthly > dev.monthly
    assert prod.estimate.composite > dev.estimate.composite


def test_diagrams_draw_databases_routing_lambda_and_azure_when_declared():
    topology = model.build("synthetic", *active_passive_stack())
    texts = [element.text for element in ElementTree.fromstring(diagram.svg(topology)).iter("{http://www.w3.org/2000/svg}text")]
    for expected in (
        "Route 53: failover-primary, failover-secondary records",
        "RDS primary db.r6g.large Multi-AZ",
        "RDS replica db.r6g.large Single-AZ",
        "asynchronous replication",
        "Lambda proxy-us-east-1: 512 MB, 60 s",
        "API Management",
        "swedencentral: 1 deployment(s)",
    ):
        assert expected in texts
    mermaid = diagram.mermaid(topology)
    assert "us_east_1_db_db_us_east_1 -. async .-> us_west_2_db_db_us_west_2" in mermaid
    assert "fd_front_door --> apim_gateway" in mermaid and "apim_gateway --> aoai_openai_swedencentral" in mermaid


def test_command_rejects_a_stack_without_a_stack_file(capsys):
    assert command.main(["dev", "staging"]) == 2
    assert capsys.readouterr().err.startswith("refused: no stack staging: there is no Pulumi.staging.yaml in ")


def test_command_reports_a_missing_price_and_writes_nothing(monkeypatch, capsys):
    def unpriced(stacks):
        raise PriceError("no price for 'p5.48xlarge' under ec2_instance_hourly in report/data/prices.yaml; add it with its source")

    monkeypatch.setattr(command, "generate", unpriced)
    assert command.main(["dev"]) == 1
    assert "'p5.48xlarge'" in capsys.readouterr().err
