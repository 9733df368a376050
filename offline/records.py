"""Canonical records of what each stack declares, and the identity every resource keeps across changes.

From the project root:

    venv/bin/python -m offline.records dev prod > records.json        every resource and output of the stacks
    venv/bin/python -m offline.records --compare before.json after.json   exit 1 if the cloud would see a difference
    venv/bin/python -m offline.records --identities dev prod          rewrite offline/identities/<stack>.txt

A resource's identity is the URN under which a deployed stack's state holds it. Pulumi looks a
resource's old state up by its URN, which spells out the types of its whole parent chain, then by
its aliases, and a child also by its parent's matched alias; a resource found under none of them is
created and the one left unclaimed deleted, which for a database or a load balancer is a
replacement (pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases). `Identities`
repeats that lookup (pulumi/pulumi pkg/resource/deploy/step_generator.go: generateAliases,
collapseAliasToUrn, inheritedChildAlias) against the identities listed in
offline/identities/<stack>.txt, so tests/test_records.py fails when a change would rename or
re-parent a resource without an alias.

A record keys each resource by its identity and names its parent, provider and dependencies by
theirs: wrapping components in a new component (with aliases) leaves every cloud resource's inputs,
provider, region, dependencies and options as they were, and `compare` reports the rest (new
components, the parents and aliases of what moved) as structure, which no deployment acts on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pulumi

import command_line
from failover.documents import UnreadableDocument, load_json
from offline import runner
from offline.runner import BAD_STACK_INPUT, PROJECT, ROOT, Declared, PulumiMocks, Run, engine_urn

IDENTITIES = Path(__file__).resolve().parent / "identities"


def _parts(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of urn:pulumi:<stack>::<project>::<parent types$type>::<name>."""
    prefix, project, qualified_type, name = urn.split("::", 3)
    return prefix.removeprefix("urn:pulumi:"), project, qualified_type, name


class Identities:
    """Resolves each registration of one run to the identity listed for it, as the engine would.

    Registrations are resolved in the order the program made them (a parent before its children);
    `known` is the set of identities a deployed stack may hold. `resolve` returns None for a
    resource found under none of them: one `pulumi up` would create.
    """

    def __init__(self, stack: str, known: Iterable[str], project: str = PROJECT):
        self.stack, self.project, self.known = stack, project, frozenset(known)
        # URN -> the identity it matched through an alias; what its children's inherited aliases start from.
        self.matched_alias: dict[str, str] = {}

    def resolve(self, resource: Declared) -> str | None:
        """The listed identity `resource` claims: its own URN, else the first of its aliases listed; None if neither."""
        if resource.urn in self.known:
            return resource.urn
        for candidate in self.aliases(resource):
            if candidate in self.known:
                self.matched_alias[resource.urn] = candidate
                return candidate
        return None

    def aliases(self, resource: Declared) -> list[str]:
        """Every URN the engine would try for `resource` after its own (generateAliases)."""
        own = [self._collapse(resource, spec) for spec in resource.aliases]
        found = list(own)
        parent_alias = self.matched_alias.get(resource.parent_urn or "")
        if parent_alias is not None:
            parent_name = _parts(resource.parent_urn)[3]
            found.append(self._inherited(resource.type, resource.name, parent_name, parent_alias))
            for alias in own:
                found.append(self._inherited(_parts(alias)[2].split("$")[-1], _parts(alias)[3], parent_name, parent_alias))
        return list(dict.fromkeys(found))

    def _collapse(self, resource: Declared, spec: dict[str, Any]) -> str:
        """An alias spec as a URN (collapseAliasToUrn): unset fields are the resource's own."""
        if spec.get("urn"):
            return spec["urn"]
        parent = spec.get("parentUrn") or None
        if parent is None:
            parent = resource.parent_urn
        else:
            # A parent that was itself found through an alias had that alias's URN then.
            parent = self.matched_alias.get(parent, parent)
        if spec.get("noParent"):
            parent = None
        return engine_urn(
            spec.get("stack") or self.stack, spec.get("project") or self.project, parent, spec.get("type") or resource.type, spec.get("name") or resource.name
        )

    def _inherited(self, type_: str, name: str, parent_name: str, parent_alias: str) -> str:
        """A child's URN under its parent's old identity (inheritedChildAlias): a name that starts with
        the parent's name is taken to be derived from it, and starts with the old parent's name instead."""
        if name.startswith(parent_name):
            name = _parts(parent_alias)[3] + name[len(parent_name) :]
        stack, project, _, _ = _parts(parent_alias)
        return engine_urn(stack, project, parent_alias, type_, name)


@dataclass(frozen=True)
class Resolution:
    """A run's resources against the listed identities: what one `pulumi up` would do to their identities."""

    identity: dict[str, str | None]  # URN -> identity, None where the resource would be created
    listed: frozenset[str]

    @property
    def created(self) -> list[str]:
        """URNs of the resources no listed identity matches."""
        return sorted(urn for urn, identity in self.identity.items() if identity is None)

    @property
    def deleted(self) -> list[str]:
        """Listed identities no resource claims."""
        return sorted(self.listed - set(self.identity.values()))

    @property
    def claimed_twice(self) -> list[str]:
        """Listed identities two resources claim (the engine refuses that: a duplicate alias)."""
        claimed = Counter(identity for identity in self.identity.values() if identity is not None)
        return sorted(identity for identity, count in claimed.items() if count > 1)


def resolve(run: Run, stack: str, listed: Iterable[str]) -> Resolution:
    """Each resource of `run` matched to the identity it keeps among `listed` (None: a pulumi up would create it)."""
    identities = Identities(stack, listed)
    return Resolution(identity={resource.urn: identities.resolve(resource) for resource in run.resources}, listed=identities.known)


def listed_identities(stack: str, directory: Path = IDENTITIES) -> frozenset[str]:
    """The identities offline/identities/<stack>.txt lists, one URN a line; empty when there is no list."""
    path = directory / f"{stack}.txt"
    return frozenset(line for line in path.read_text().splitlines() if line.strip()) if path.is_file() else frozenset()


def identities_of(run: Run, stack: str, listed: Iterable[str]) -> list[str]:
    """The identities to list after `run`: listed ones its resources still claim, and the URNs of new ones."""
    resolution = resolve(run, stack, listed)
    return sorted(identity or urn for urn, identity in resolution.identity.items())


def _canonical(value: Any) -> Any:
    """Plain JSON for a resolved input or output: archives and assets by path and content hash."""
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, (pulumi.FileArchive, pulumi.FileAsset)):
        path = Path(value.path).resolve()
        shown = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        return {type(value).__name__: shown, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    if isinstance(value, (pulumi.StringAsset, pulumi.RemoteAsset, pulumi.RemoteArchive)):
        return {type(value).__name__: getattr(value, "text", None) or getattr(value, "uri", None)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"no canonical record for {type(value).__name__}: {value!r}")


def nearest_dependencies(direct: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each resource's dependencies less those another of its dependencies already waits for.

    What the engine orders by is what a resource waits for, directly or through others: passing a
    resource group's name where a service in that group was already passed adds an edge and changes
    no order. The nearest dependencies (the transitive reduction) say the same in one canonical form.
    """
    reachable: dict[str, frozenset[str]] = {}

    def reach(node: str) -> frozenset[str]:
        if node not in reachable:
            reachable[node] = frozenset()  # a cycle (the engine would refuse one) cannot recurse forever
            found: set[str] = set()
            for dependency in direct.get(node, ()):
                found |= {dependency, *reach(dependency)}
            reachable[node] = frozenset(found)
        return reachable[node]

    return {node: {d for d in deps if not any(d in reach(other) for other in deps if other != d)} for node, deps in direct.items()}


def stack_records(run: Run, stack: str, listed: Iterable[str] = ()) -> dict[str, Any]:
    """One stack's record: its cloud resources and providers, its components, and its outputs.

    Every resource is keyed by its identity (its URN when nothing is listed) and refers to its
    parent, provider and nearest dependencies by theirs. Cloud resources and providers ("resources") carry
    everything Pulumi compares or acts on; components ("components") carry only where they sit.
    """
    resolution = resolve(run, stack, listed)
    identity = {urn: found or urn for urn, found in resolution.identity.items()}

    def named(urn: str | None) -> str | None:
        # The stack itself is every top-level resource's parent; it is not listed.
        return identity.get(urn, None) if urn else None

    nearest = nearest_dependencies({identity[r.urn]: {named(urn) or urn for urn in r.dependencies} for r in run.resources})
    resources: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for resource in run.resources:
        key = identity[resource.urn]
        common = {"type": resource.type, "name": resource.name, "parent": named(resource.parent_urn), "aliases": list(resource.aliases)}
        if not resource.custom:
            components[key] = {**common, "urn": resource.urn}
            continue
        resources[key] = {
            **common,
            "provider": named(resource.provider_urn),
            "region": resource.region,
            "inputs": _canonical(resource.inputs),
            "secretInputs": sorted(resource.secret_inputs),
            "dependencies": sorted(nearest[key]),
            "protect": resource.protect,
            "retainOnDelete": resource.retain_on_delete,
            "deleteBeforeReplace": resource.delete_before_replace,
            "ignoreChanges": sorted(resource.ignore_changes),
            "replaceOnChanges": sorted(resource.replace_on_changes),
        }
    return {
        "resources": dict(sorted(resources.items())),
        "components": dict(sorted(components.items())),
        "outputs": _canonical(run.outputs),
        "secretOutputs": sorted(run.secret_outputs),
    }


# Where a resource sits in the program: moving it (with an alias) changes these and nothing the cloud sees.
STRUCTURE_FIELDS = frozenset({"parent", "aliases", "urn"})


@dataclass(frozen=True)
class Difference:
    """One difference between two records: `cloud` when a deployment would act on it, else only the program's structure."""

    cloud: bool
    text: str

    def __str__(self) -> str:
        return f"{'cloud' if self.cloud else 'structure'}: {self.text}"


_ABSENT = object()
SHOWN_CHANGES = 5  # value changes spelled out per difference; the rest are counted
SHOWN_CHARS = 80  # of each old or new value, as JSON


def value_changes(was: Any, now: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) of each value that differs between two records' entries, such as
    ("inputs.tags.environment", "dev", "prod"); a key on one side only is compared with _ABSENT."""
    if isinstance(was, dict) and isinstance(now, dict):
        return [
            change
            for key in sorted(set(was) | set(now), key=str)
            for change in value_changes(was.get(key, _ABSENT), now.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
        ]
    if isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        return [change for index, (old, new) in enumerate(zip(was, now)) for change in value_changes(old, new, f"{path}[{index}]")]
    return [] if was == now else [(path or "value", was, now)]


def _shown(value: Any) -> str:
    text = "(absent)" if value is _ABSENT else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _spelled_out(changes: list[tuple[str, Any, Any]]) -> str:
    shown = [f"{path}: {_shown(old)} -> {_shown(new)}" for path, old, new in changes[:SHOWN_CHANGES]]
    if len(changes) > SHOWN_CHANGES:
        shown.append(f"and {len(changes) - SHOWN_CHANGES} more")
    return "; ".join(shown)


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Difference]:
    """What differs between two records, one entry per resource, component or output; empty when nothing does.

    A changed entry names the fields that differ and spells out the first SHOWN_CHANGES values that changed,
    each by its path, old and new value (JSON, at most SHOWN_CHARS characters each).

    A resource or output added, removed or changed is a cloud difference; so is any field of a cloud
    resource but where it sits (STRUCTURE_FIELDS). Components have nothing in the cloud: adding one,
    or moving one under another, is structure, as is a cloud resource's new parent or alias. Records
    key resources by identity, so a move without an alias shows as a resource removed and one added.
    """
    found: list[Difference] = []
    for stack in sorted(set(before) | set(after)):
        old, new = before.get(stack, {}), after.get(stack, {})
        for section in ("resources", "components", "outputs"):
            was, now = old.get(section, {}), new.get(section, {})
            in_cloud = section != "components"
            for key in sorted(set(was) | set(now)):
                if key not in now or key not in was:
                    found.append(Difference(in_cloud, f"{stack} {section}: {'removed' if key not in now else 'added'} {key}"))
                elif was[key] != now[key]:
                    fields = sorted(f for f in set(was[key]) | set(now[key]) if was[key].get(f) != now[key].get(f)) if isinstance(now[key], dict) else ["value"]
                    changes = _spelled_out(value_changes(was[key], now[key]))
                    found.append(Difference(in_cloud and not set(fields) <= STRUCTURE_FIELDS, f"{stack} {section}: {key} differs in {', '.join(fields)} ({changes})"))
        if old.get("secretOutputs") != new.get("secretOutputs"):
            found.append(Difference(True, f"{stack} secretOutputs: {old.get('secretOutputs')} -> {new.get('secretOutputs')}"))
    return found


RECORDS_EXPECTED = "a records file: what `python -m offline.records STACK` prints, each stack's resources, components and outputs"


def load_records(path: str) -> dict[str, Any]:
    """A records file as `python -m offline.records STACK ...` writes it; UnreadableDocument naming the file when it is not one."""
    records = load_json(path, path, RECORDS_EXPECTED, kind=dict)
    for stack, record in records.items():
        if not isinstance(record, dict) or "resources" not in record:
            raise UnreadableDocument(path, f"its entry {stack!r} holds no resources", RECORDS_EXPECTED)
    return records


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (2: one `refused:` line for a stack, setting or file that is bad input)."""
    parser = command_line.Parser(prog="python -m offline.records", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", nargs="*", help="stacks to record (Pulumi.<stack>.yaml), or with --compare two record files")
    parser.add_argument("--compare", action="store_true", help="print what differs between two record files; exit 1 if the cloud would see it")
    parser.add_argument("--identities", action="store_true", help=f"rewrite {IDENTITIES.relative_to(ROOT)}/<stack>.txt from the stacks as they are")
    args = parser.parse_args(argv)
    if args.compare:
        if len(args.stacks) != 2:
            parser.error("--compare takes two record files")
        try:
            before, after = (load_records(path) for path in args.stacks)
        except UnreadableDocument as unreadable:
            return command_line.refuse(str(unreadable))
        differences = compare(before, after)
        print("\n".join(map(str, differences)) or "identical")
        cloud = sum(difference.cloud for difference in differences)
        if differences:
            print(f"{cloud} of {len(differences)} differences would change what the cloud holds or what the stack exports")
        return 1 if cloud else 0
    if not args.stacks:
        parser.error("name at least one stack")
    try:
        for stack in args.stacks:
            runner.stack_file(stack)  # every stack known before the first one runs
        runs = {stack: PulumiMocks().run_stack(stack) for stack in args.stacks}
    except (*BAD_STACK_INPUT, OSError) as error:
        return command_line.refuse(command_line.one_line(error))
    if args.identities:
        IDENTITIES.mkdir(exist_ok=True)
        for stack, run in runs.items():
            identities = identities_of(run, stack, listed_identities(stack))
            (IDENTITIES / f"{stack}.txt").write_text("".join(f"{urn}\n" for urn in identities))
            print(f"{IDENTITIES.relative_to(ROOT)}/{stack}.txt: {len(identities)} identities")
        return 0
    json.dump({stack: stack_records(run, stack, listed_identities(stack)) for stack, run in runs.items()}, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    command_line.run_main(main)
