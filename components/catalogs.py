"""Catalogs of the names AWS and Azure accept, for settings to check names against before any resource.

Each catalog comes from the best-kept source there is, read once per process:

| Catalog | Source |
| --- | --- |
| AWS regions, and the partition of each | botocore's endpoint data (`partitions.json`), through botocore's loader |
| EC2 instance types | the `InstanceType` enumeration of botocore's EC2 service model |
| RDS DB instance classes | `db.` + an EC2 instance type: botocore's RDS model enumerates no classes, only the `DBInstanceClass` pattern |
| Azure locations, ALB TLS policies | dated files in `components/catalog_data/`: source, date and refresh command inside |

A catalog is only as new as its source: upgrading botocore, or refreshing a data file, brings new names in.
Until then a stack names a real but newer one in its `unlistedNames` setting (see components/settings/reading.py).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders

DATA = Path(__file__).resolve().parent / "catalog_data"


@dataclass(frozen=True)
class Catalog:
    """The names a service accepts for one kind of thing.

    what: the kind, as messages name it ("AWS region"); source: where the names come from, with its version or date.
    """

    what: str
    source: str
    names: frozenset[str]

    def __contains__(self, name: object) -> bool:
        return name in self.names


@functools.cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@functools.cache
def _partitions() -> tuple[dict[str, Any], ...]:
    return tuple(_loader().load_data("partitions")["partitions"])


def partition_of(region: str) -> str | None:
    """The partition (aws, aws-cn, aws-us-gov, ...) whose region name pattern `region` fits, listed or not; None if none."""
    for partition in _partitions():
        if re.fullmatch(partition["regionRegex"], region):
            return partition["id"]
    return None


@functools.cache
def aws_regions() -> Catalog:
    """Every region of every partition (not the partitions' pseudo-regions such as aws-global)."""
    names = {name for partition in _partitions() for name in partition["regions"] if re.fullmatch(partition["regionRegex"], name)}
    return Catalog("AWS region", f"botocore {botocore.__version__}'s partitions.json", frozenset(names))


@functools.cache
def _ec2_instance_type_names() -> frozenset[str]:
    return frozenset(_loader().load_service_model("ec2", "service-2")["shapes"]["InstanceType"]["enum"])


@functools.cache
def ec2_instance_types() -> Catalog:
    """Every EC2 instance type in the `InstanceType` enumeration of the installed botocore's EC2 model."""
    return Catalog("EC2 instance type", f"botocore {botocore.__version__}'s EC2 model (InstanceType)", _ec2_instance_type_names())


@functools.cache
def rds_instance_classes() -> Catalog:
    """`db.<EC2 instance type>`: RDS names each class after the EC2 instance type it runs on (db.r6g.large on r6g.large).

    botocore's RDS model has no enumeration to check against, only `rds_instance_class_shape()`. The few
    RDS-only families without an EC2 namesake (db.x2g) are not listed: a stack vouches for them itself.
    """
    return Catalog(
        "RDS DB instance class",
        f"db. + botocore {botocore.__version__}'s EC2 instance types",
        frozenset(f"db.{name}" for name in _ec2_instance_type_names()),
    )


@dataclass(frozen=True)
class TextShape:
    """What a service model says a string must look like: length bounds and a pattern (None: any)."""

    min_length: int
    max_length: int
    pattern: str | None

    def fits(self, value: str) -> bool:
        """Whether `value` has an allowed length and matches the whole pattern."""
        return self.min_length <= len(value) <= self.max_length and (self.pattern is None or re.fullmatch(self.pattern, value) is not None)


@functools.cache
def rds_instance_class_shape() -> TextShape:
    """The `DBInstanceClass` shape of botocore's RDS model (5-30 characters, db.<family>.<size>)."""
    shape = _loader().load_service_model("rds", "service-2")["shapes"]["DBInstanceClass"]
    return TextShape(shape.get("min", 0), shape.get("max", 255), shape.get("pattern"))


def _data_file(name: str) -> Catalog:
    document = json.loads((DATA / name).read_text())
    return Catalog(document["catalog"], f"the list of {document['retrieved']} in components/catalog_data/{name}", frozenset(document["names"]))


@functools.cache
def azure_locations() -> Catalog:
    """Physical Azure public-cloud locations, as Azure Resource Manager lists them (programmatic names, lowercase)."""
    return _data_file("azure-locations.json")


@functools.cache
def alb_tls_policies() -> Catalog:
    """Predefined security policies an Application Load Balancer's HTTPS listener accepts."""
    return _data_file("alb-tls-policies.json")
