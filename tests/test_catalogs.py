"""The catalogs settings check names against: read from botocore and the dated data files, whole and current."""

from __future__ import annotations

import datetime
import importlib.util
import json
from pathlib import Path

import pytest

from components import catalogs
from components.settings import SCHEMA


def test_aws_regions_are_every_partitions_regions_without_pseudo_regions():
    regions = catalogs.aws_regions()
    assert {"us-east-1", "us-west-2", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= regions.names
    assert not {name for name in regions.names if name.endswith("-global")}
    assert "botocore" in regions.source


@pytest.mark.parametrize(
    "region, partition",
    [("us-east-1", "aws"), ("us-east-9", "aws"), ("cn-northwest-1", "aws-cn"), ("us-gov-east-1", "aws-us-gov"), ("us-isob-east-1", "aws-iso-b"), ("mars-1", None), ("aws-global", None)],
)
def test_partition_follows_botocores_region_patterns_listed_or_not(region, partition):
    assert catalogs.partition_of(region) == partition


def test_ec2_instance_types_are_botocores_enumeration():
    types = catalogs.ec2_instance_types()
    assert {"g5.xlarge", "t3.large", "p5.48xlarge", "t4g.micro"} <= types.names and len(types.names) > 500
    assert "g5.xlage" not in types


@pytest.mark.parametrize("name, fits", [("db.r6g.large", True), ("db.t4g.micro", True), ("db.r5.large.tpc2.mem2x", True), ("db.r6g", False), ("r6g.large", False), ("db.serverless", False)])
def test_rds_class_shape_is_botocores(name, fits):
    assert catalogs.rds_instance_class_shape().fits(name) is fits


def test_rds_classes_are_db_plus_an_ec2_instance_type():
    classes = catalogs.rds_instance_classes()
    assert {"db.r6g.large", "db.t4g.micro", "db.m7g.2xlarge"} <= classes.names
    assert "db.r6g.lage" not in classes


@pytest.mark.parametrize("name", ["azure-locations.json", "alb-tls-policies.json"])
def test_data_files_say_where_their_names_come_from_when_and_how_to_refresh_them(name):
    document = json.loads((catalogs.DATA / name).read_text())
    assert "https://" in document["source"] and document["refresh"].split()[0] in ("az", "aws")
    datetime.date.fromisoformat(document["retrieved"])
    assert document["names"] == sorted(set(document["names"])) and len(document["names"]) > 10


def test_azure_locations_are_programmatic_names():
    locations = catalogs.azure_locations()
    assert {"swedencentral", "eastus2", "westeurope", "norwayeast"} <= locations.names
    assert all(name == name.lower() and " " not in name for name in locations.names)


def test_every_tls_policy_moto_models_is_in_the_catalog():
    # moto emulates ELB's DescribeSslPolicies with its own list, kept apart from ours. Read from its
    # file alone: importing moto.elbv2 would load the whole ELB emulator for one dictionary.
    path = Path(importlib.util.find_spec("moto").origin).parent / "elbv2" / "ssl_policies.py"
    spec = importlib.util.spec_from_file_location("moto_ssl_policies", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert len(module.SSL_POLICIES) > 10
    assert set(module.SSL_POLICIES) <= catalogs.alb_tls_policies().names


def test_every_catalogued_default_is_listed():
    defaults = {setting.key: setting.default for setting in SCHEMA}
    assert set(defaults["regions"]) <= catalogs.aws_regions().names
    assert defaults["instanceType"] in catalogs.ec2_instance_types()
    assert defaults["dbInstanceClass"] in catalogs.rds_instance_classes()
    assert defaults["sslPolicy"] in catalogs.alb_tls_policies()
    assert set(defaults["azureLocations"]) <= catalogs.azure_locations().names
