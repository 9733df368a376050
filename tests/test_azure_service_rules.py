"""Azure rules no schema expresses, kept by the components that compose the resources (docs/service-rules.md, Azure)."""

from __future__ import annotations

import re
from pathlib import Path

from azure_stacks import premium

ROOT = Path(__file__).resolve().parent.parent

ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
PROFILE = "azure-native:cdn:Profile"
POOL_MEMBER_PRIORITY = (0, 100)  # BackendPoolItem.priority in the 2024-05-01 API
ORIGIN_PRIORITY = (1, 5)  # AFDOrigin.priority


def test_front_door_profile_is_deleted_before_a_new_tier_replaces_it(prod):
    # pulumi-azure-native replaces a profile whose sku.name changes (provider/pkg/gen/replacement.go);
    # the new one keeps the name, which Azure refuses while the old one exists.
    (profile,) = prod.of_type(PROFILE)
    assert profile.delete_before_replace is True
    others = [r for r in prod.resources if r.type.startswith("azure-native:") and r.type != PROFILE and r.delete_before_replace]
    assert not others, "only the profile needs it: other replacements get new names or are created next to the old"


def test_role_assignments_are_auto_named_and_name_their_principal_type(prod):
    # A replacement (new principal or scope, both force a new assignment) creates a new GUID next to
    # the old one; a fixed GUID would collide. principalType spares Entra ID's replication delay.
    assignments = prod.of_type(ROLE_ASSIGNMENT)
    assert assignments
    for assignment in assignments:
        assert "roleAssignmentName" not in assignment.inputs
        assert assignment["principalType"] == "ServicePrincipal"


def test_priorities_fit_both_pool_members_and_front_door_origins():
    run = premium("active-passive")
    members = [m for b in run.of_type("azure-native:apimanagement:Backend") if b["type"] == "Pool" for m in b["pool"]["services"]]
    origins = run.of_type("azure-native:cdn:AFDOrigin")
    assert members and len(origins) == 4
    assert all(POOL_MEMBER_PRIORITY[0] <= m["priority"] <= POOL_MEMBER_PRIORITY[1] for m in members)
    assert all(ORIGIN_PRIORITY[0] <= o["priority"] <= ORIGIN_PRIORITY[1] for o in origins)


def test_the_resource_group_stays_when_the_primary_location_changes(prod):
    # pulumi-azure-native replaces a group whose location changes (replacement.go), under the same name,
    # which Azure refuses while the group exists; a group's location is only where its metadata lives.
    (group,) = prod.of_type("azure-native:resources:ResourceGroup")
    assert group.name == "azure", "a logical name with the location in it would be a new group for a new location"
    assert group.ignore_changes == ("location",)


def test_each_watched_resource_has_one_diagnostic_setting(prod):
    # Azure allows five per resource, and one destination of a kind per category across them.
    targets = [setting["resourceUri"] for setting in prod.of_type("azure-native:monitor:DiagnosticSetting")]
    assert len(targets) == len(set(targets)) == 4


def azure_rules_section() -> str:
    text = (ROOT / "docs" / "service-rules.md").read_text()
    start = text.index("## Azure")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_service_rules_cover_every_azure_resource_type_prod_declares(prod):
    section = azure_rules_section()
    declared = {r.type.removeprefix("azure-native:") for r in prod.resources if r.type.startswith("azure-native:")}
    assert len(declared) >= 20
    missing = sorted(kind for kind in declared if f"`{kind}`" not in section)
    assert not missing, f"docs/service-rules.md (Azure) says nothing about {missing}"


def test_every_test_the_azure_rules_cite_exists():
    cited = set(re.findall(r"`(test_\w+)`", azure_rules_section()))
    defined = {name for path in (ROOT / "tests").glob("test_*.py") for name in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    assert cited and not cited - defined, sorted(cited - defined)


def test_the_readme_replaces_exactly_prods_name_suffixes(prod):
    readme = (ROOT / "README.md").read_text()
    replaced = {urn for urn in re.findall(r"--replace '([^']+)'", readme) if "ha-model-serving:azure:" in urn}
    suffixes = {s.urn for s in prod.of_type("random:index/randomString:RandomString") if "ha-model-serving:azure:" in s.urn}
    assert suffixes and replaced == suffixes
