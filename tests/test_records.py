"""offline/records.py: no change renames or re-parents a deployed resource without an alias, and records compare runs.

offline/identities/<stack>.txt lists the URNs a deployed stack holds; offline/records.py looks each
resource of a run up in it the way the Pulumi engine does (own URN, its aliases, its parent's alias).
"""

from __future__ import annotations

import json

import pulumi
import pytest

from offline import Declared, Run, records
from offline.records import Identities, nearest_dependencies, compare, identities_of, listed_identities, resolve, stack_records
from offline.runner import engine_urn

REGENERATE = "venv/bin/python -m offline.records --identities dev prod"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_keeps_the_identity_its_deployed_stack_holds(stack, request):
    run: Run = request.getfixturevalue(stack)
    resolution = resolve(run, stack, listed_identities(stack))
    assert resolution.listed, f"offline/identities/{stack}.txt is missing; write it with {REGENERATE}"
    assert not resolution.created and not resolution.deleted and not resolution.claimed_twice, (
        f"`pulumi up` of {stack} would create {resolution.created}, delete {resolution.deleted} and find "
        f"{resolution.claimed_twice} claimed twice. A renamed or re-parented resource needs "
        f"aliases=[pulumi.Alias(...)] naming where it was; a resource added or removed on purpose is "
        f"recorded with {REGENERATE}"
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_records_name_every_resource_by_its_identity(stack, request):
    run: Run = request.getfixturevalue(stack)
    records = stack_records(run, stack, listed_identities(stack))
    assert set(records["resources"]) | set(records["components"]) == listed_identities(stack)
    # Parents, providers and dependencies are identities too, so a move under a new component leaves them as they were.
    named = set(records["resources"]) | set(records["components"])
    for record in records["resources"].values():
        assert record["parent"] is None or record["parent"] in named
        assert record["provider"] is None or record["provider"] in named
        assert set(record["dependencies"]) <= named


class Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Box", name, None, opts)
        self.register_outputs({})


def _program(wrapped: bool, alias: bool):
    """A component with a child, at top level or (with or without an alias) moved into a new wrapper."""

    def program():
        opts = None
        if wrapped:
            wrapper = Box("wrapper")
            opts = pulumi.ResourceOptions(parent=wrapper, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)] if alias else None)
        inner = Box("inner", opts)
        Box("inner-child", pulumi.ResourceOptions(parent=inner))

    return program


def test_a_component_moved_under_a_new_parent_keeps_its_and_its_childrens_identity_through_one_alias(pulumi_mocks):
    before = pulumi_mocks.run(_program(wrapped=False, alias=False))
    listed = identities_of(before, "test", ())
    after = pulumi_mocks.run(_program(wrapped=True, alias=True))
    resolution = resolve(after, "test", listed)

    inner, child = (next(r for r in after.resources if r.name == name) for name in ("inner", "inner-child"))
    assert resolution.identity[inner.urn] == engine_urn("test", "ha-model-serving", None, "test:index:Box", "inner") != inner.urn
    # The child names no alias: it inherits its parent's old identity, as the engine computes it.
    assert resolution.identity[child.urn] == "urn:pulumi:test::ha-model-serving::test:index:Box$test:index:Box::inner-child" != child.urn
    assert resolution.created == [next(r.urn for r in after.resources if r.name == "wrapper")]
    assert resolution.deleted == [] and resolution.claimed_twice == []


def test_a_move_without_an_alias_creates_and_deletes_the_moved_resources(pulumi_mocks):
    before = pulumi_mocks.run(_program(wrapped=False, alias=False))
    resolution = resolve(pulumi_mocks.run(_program(wrapped=True, alias=False)), "test", identities_of(before, "test", ()))
    assert sorted(urn.rsplit("::", 1)[1] for urn in resolution.created) == ["inner", "inner-child", "wrapper"]
    assert sorted(urn.rsplit("::", 1)[1] for urn in resolution.deleted) == ["inner", "inner-child"]


def test_a_child_named_after_its_renamed_parent_is_found_under_the_old_parents_name():
    # inheritedChildAlias: "new-db" under "new" was "old-db" under "old".
    identities = Identities("test", ["urn:pulumi:test::p::t:Box::old", "urn:pulumi:test::p::t:Box$t:Db::old-db"], project="p")
    stack_urn = "urn:pulumi:test::p::pulumi:pulumi:Stack::p-test"
    parent = _declared("t:Box", "new", engine_urn("test", "p", None, "t:Box", "new"), stack_urn, aliases=({"name": "old"},))
    child = _declared("t:Db", "new-db", "urn:pulumi:test::p::t:Box$t:Db::new-db", parent.urn)
    assert identities.resolve(parent) == "urn:pulumi:test::p::t:Box::old"
    assert identities.resolve(child) == "urn:pulumi:test::p::t:Box$t:Db::old-db"


def _declared(type_: str, name: str, urn: str, parent: str, aliases: tuple = ()) -> Declared:
    return Declared(type=type_, name=name, urn=urn, id="", inputs={}, state={}, parent_urn=parent, provider_urn=None, region=None, custom=False, aliases=aliases)


def test_dependencies_another_dependency_already_waits_for_are_left_out():
    # The service waits for its group; a logger naming both waits for nothing more than one naming the service.
    direct = {"group": set(), "service": {"group"}, "insights": {"group"}, "logger": {"group", "service", "insights"}}
    assert nearest_dependencies(direct) == {"group": set(), "service": {"group"}, "insights": {"group"}, "logger": {"service", "insights"}}


def test_compare_tells_what_the_cloud_would_see_from_where_resources_sit_in_the_program():
    before = {
        "dev": {
            "resources": {"a": {"inputs": {"x": 1}, "parent": None, "aliases": []}, "b": {"inputs": {}}, "d": {"inputs": {}, "parent": None, "aliases": []}},
            "components": {"n": {"parent": None, "aliases": []}},
            "outputs": {"o": 1},
            "secretOutputs": [],
        }
    }
    after = {
        "dev": {
            "resources": {"a": {"inputs": {"x": 2}, "parent": None, "aliases": []}, "c": {"inputs": {}}, "d": {"inputs": {}, "parent": "w", "aliases": [{"noParent": True}]}},
            "components": {"n": {"parent": "w", "aliases": [{"noParent": True}]}, "w": {"parent": None, "aliases": []}},
            "outputs": {"o": 1},
            "secretOutputs": [],
        }
    }
    assert compare(before, before) == []
    assert [str(d) for d in compare(before, after)] == [
        "cloud: dev resources: a differs in inputs (inputs.x: 1 -> 2)",
        "cloud: dev resources: removed b",
        "cloud: dev resources: added c",
        'structure: dev resources: d differs in aliases, parent (aliases: [] -> [{"noParent": true}]; parent: null -> "w")',
        'structure: dev components: n differs in aliases, parent (aliases: [] -> [{"noParent": true}]; parent: null -> "w")',
        "structure: dev components: added w",
    ]


def test_compare_names_each_changed_value_by_its_path_with_old_and_new_bounded(tmp_path, capsys):
    policy = {"Statement": [{"Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/" + "k" * 200}]}
    was = {"inputs": {"tags": {"environment": "dev"}, "rules": [{"port": 80}, {"port": 443}], "policy": policy, **{f"n{i}": i for i in range(3)}}}
    now = {"inputs": {"tags": {"environment": "prod", "owner": "ops"}, "rules": [{"port": 80}, {"port": 8443}], "policy": {"Statement": []}, **{f"n{i}": i + 1 for i in range(3)}}}
    before = {"dev": {"resources": {"r": was}, "components": {}, "outputs": {"stack": "dev", "regions": {"us-east-1": {"endpoint": "http://a"}}}, "secretOutputs": []}}
    after = {"dev": {"resources": {"r": now}, "components": {}, "outputs": {"stack": "prod", "regions": {"us-east-1": {"endpoint": "http://b"}}}, "secretOutputs": []}}
    [resource, regions, stack] = [str(d) for d in compare(before, after)]
    assert resource.startswith("cloud: dev resources: r differs in inputs (inputs.n0: 0 -> 1; inputs.n1: 1 -> 2; inputs.n2: 2 -> 3; ")
    assert "inputs.rules[1].port: 443 -> 8443" in resource and resource.endswith("; and 2 more)")  # the two tags: five shown, the rest counted
    changes = {path: (old, new) for path, old, new in records.value_changes(was, now)}
    assert changes["inputs.rules[1].port"] == (443, 8443) and changes["inputs.tags.environment"] == ("dev", "prod")
    assert changes["inputs.tags.owner"][1] == "ops" and "inputs.rules[0].port" not in changes
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps(after))
    assert records.main(["--compare", str(tmp_path / "before.json"), str(tmp_path / "after.json")]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert 'cloud: dev outputs: regions differs in us-east-1 (us-east-1.endpoint: "http://a" -> "http://b")' in printed
    assert 'cloud: dev outputs: stack differs in value (value: "dev" -> "prod")' in printed
    long_value = resource.split("inputs.policy.Statement: ", 1)[1].split(" -> ", 1)[0]
    assert long_value.startswith('[{"Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/kkk') and long_value.endswith("...") and len(long_value) == 80
