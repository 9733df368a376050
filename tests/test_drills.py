"""Failover drills: the settings that bound them, the experiment templates both stacks declare, and the relay of peer alarms."""

from __future__ import annotations

import pytest

from tests.settings_helpers import parse, rejected


def test_drills_are_on_by_default_with_a_bounded_fault_and_a_stated_rto():
    drills = parse().drills
    assert (drills.enabled, drills.fault_minutes, drills.rto_seconds) == (True, 10, 900)


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("drillFaultMinutes", {"drillFaultMinutes": 0}, "between 1 and 60 minutes"),
        ("drillFaultMinutes", {"drillFaultMinutes": 61}, "between 1 and 60 minutes"),
        ("drillLogRetentionDays", {"drillLogRetentionDays": 10}, "allowed values are 1, 3, 5"),
        ("rtoSeconds", {"rtoSeconds": 30}, "between 60 and 86400 seconds"),
        # 16 servers over 3 zones puts 6 in one zone, one more than an FIS stop-instances target holds.
        ("maxSize", {"maxSize": 16, "azCount": 3}, "at most 5 model servers (AWS FIS stops at most 5 instances per target"),
        ("maxSize", {"maxSize": 11, "availabilityZones": ["us-east-1=us-east-1a,us-east-1b"]}, "11 over 2 zones puts up to 6"),
    ],
)
def test_bad_drill_setting_is_rejected_with_its_key(key, overrides, fragment):
    assert fragment in str(rejected(key, **overrides))


def test_a_fleet_too_large_for_fis_targets_is_fine_without_drills():
    assert parse(maxSize=16, azCount=3, drillsEnabled=False).fleet.capacity.max_size == 16
