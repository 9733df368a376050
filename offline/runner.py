"""Pulumi mocks that record what a program declares, for tests and offline reports.

`PulumiMocks().run(fn)` runs `fn` under `pulumi.runtime.set_mocks`, waits for every
resource registration, and returns a `Declared` record of each resource: type
token, name, resolved inputs, parent, provider and region. `run_stack("prod")`
runs `__main__.py` with that stack file's settings and also returns the stack's
resolved outputs. Data-source calls the program makes are answered here, per
region of the provider they go through.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks_module
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
ACCOUNT = "123456789012"
ZONE_LETTERS = "abcdef"


@dataclass
class Declared:
    """One resource as the program declared it."""

    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    parent_urn: str | None
    provider_urn: str | None
    region: str | None
    dependencies: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.inputs

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)


@dataclass
class Run:
    resources: list[Declared]
    outputs: dict[str, Any]

    def of_type(self, token: str, region: str | None = None) -> list[Declared]:
        return [r for r in self.resources if r.type == token and (region is None or r.region == region)]

    def one(self, token: str, name: str | None = None, region: str | None = None) -> Declared:
        found = [r for r in self.of_type(token, region) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {token} named {name} in {region}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        return next(r for r in self.resources if r.urn == urn)

    def by_id(self, resource_id: str) -> Declared:
        return next(r for r in self.resources if r.id == resource_id)

    def children(self, parent: Declared, token: str | None = None) -> list[Declared]:
        return [r for r in self.resources if r.parent_urn == parent.urn and (token is None or r.type == token)]

    def descendants(self, ancestor: Declared) -> list[Declared]:
        found, frontier = [], [ancestor.urn]
        while frontier:
            urn = frontier.pop()
            for r in self.resources:
                if r.parent_urn == urn:
                    found.append(r)
                    frontier.append(r.urn)
        return found

    @property
    def regions(self) -> set[str]:
        return {r.region for r in self.resources if r.region}


def _computed_state(token: str, name: str, inputs: dict[str, Any], region: str | None, resource_id: str) -> dict[str, Any]:
    """Outputs a real provider computes that the program reads (ARNs, DNS names, versions)."""
    region = region or "us-east-1"
    service = token.split(":")[1].split("/")[0] if ":" in token else "mock"
    state: dict[str, Any] = {
        "arn": f"arn:aws:{service}:{region}:{ACCOUNT}:{name}/{resource_id}",
        "name": inputs.get("name", f"{name}-{resource_id[-7:]}"),
    }
    if token == "aws:lb/loadBalancer:LoadBalancer":
        state["arn_suffix"] = f"app/{name}/{resource_id}"
        state["dns_name"] = f"{name}-{resource_id[-6:]}.{region}.elb.amazonaws.com"
        state["zone_id"] = "Z35SXDOTRQ7X7K"
    elif token == "aws:lb/targetGroup:TargetGroup":
        state["arn_suffix"] = f"targetgroup/{name}/{resource_id}"
    elif token == "aws:ec2/launchTemplate:LaunchTemplate":
        state["latest_version"] = 1
    elif token == "aws:rds/instance:Instance":
        identifier = inputs.get("identifier", f"{name}-{resource_id[-7:]}")
        state["identifier"] = identifier
        state["arn"] = f"arn:aws:rds:{region}:{ACCOUNT}:db:{identifier}"
        state["address"] = f"{identifier}.abcdefghijkl.{region}.rds.amazonaws.com"
        state["endpoint"] = f"{state['address']}:{int(inputs.get('port', 5432))}"
    elif token == "aws:route53/record:Record":
        state["fqdn"] = inputs.get("name")
    return state


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and data-source calls like a small, consistent AWS account."""

    def __init__(self) -> None:
        self.provider_regions: dict[str, str] = {}  # provider reference "urn::id" -> region
        self.counter = 0

    def region_of(self, provider_ref: str | None) -> str | None:
        return self.provider_regions.get(provider_ref or "")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.counter += 1
        resource_id = f"{args.name}-id-{self.counter:05d}"
        if args.typ.startswith("pulumi:providers:"):
            return resource_id, dict(args.inputs)
        state = _computed_state(args.typ, args.name, args.inputs, self.region_of(args.provider), resource_id)
        return resource_id, {**state, **args.inputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        region = self.region_of(args.provider) or "us-east-1"
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{letter}" for letter in ZONE_LETTERS]
            return {"names": names, "zone_ids": [f"{region[:2]}{region[-1]}-az{i}" for i in range(len(names))], "id": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dns_suffix": "amazonaws.com", "id": "aws", "reverse_dns_prefix": "com.amazonaws"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"account_id": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "id": ACCOUNT, "user_id": "AIDTEST"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        raise NotImplementedError(f"the offline mocks do not answer {args.token}; add it to offline/runner.py")


class RecordingMonitor(pulumi_mocks_module.MockMonitor):
    """Keeps what the plain mock monitor drops: each registration's parent, provider and dependencies."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registrations: list[tuple[Any, str]] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        if request.type.startswith("pulumi:providers:"):
            region = self.resources[response.urn].state.get("region")
            if region:
                self.mocks.provider_regions[f"{response.urn}::{response.id}"] = region
        self.registrations.append((request, response.urn))
        return response

    def declared(self) -> list[Declared]:
        records = []
        region_by_urn = {ref.rsplit("::", 1)[0]: region for ref, region in self.mocks.provider_regions.items()}
        for request, urn in self.registrations:
            registration = self.resources[urn]
            provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else None
            records.append(
                Declared(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    id=registration.id,
                    inputs=_plain(pulumi.runtime.rpc.deserialize_properties(request.object)) if request.object else {},
                    state=registration.state,
                    parent_urn=request.parent or None,
                    provider_urn=provider_urn,
                    region=region_by_urn.get(provider_urn or ""),
                    dependencies=list(request.dependencies),
                )
            )
        # Children inherit their parent's provider: resolve the region through the parent chain.
        by_urn = {record.urn: record for record in records}
        for record in records:
            if record.region is None and record.type.startswith("pulumi:providers:"):
                record.region = record.inputs.get("region")
            cursor = record
            while record.region is None and cursor.parent_urn in by_urn:
                cursor = by_urn[cursor.parent_urn]
                record.region = cursor.region
        return records


def _plain(value: Any) -> Any:
    """Drops Pulumi's internal markers so tests compare plain Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _stack_config(stack: str, overrides: dict[str, Any]) -> dict[str, str]:
    """Stack file values as the Pulumi CLI passes them: strings, with arrays and objects as JSON."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw.update({f"{PROJECT}:{key}": value for key, value in overrides.items()})
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


class PulumiMocks:
    def run(self, program: Callable[[], Any], config: dict[str, str] | None = None, stack: str = "test") -> Run:
        mocks = RecordingMocks()
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_all_config(config or {})
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        _sync_await(run_pulumi_func(program))
        root = runtime_settings.get_root_resource()
        outputs = {name: _sync_await(pulumi.Output.from_input(value).future()) for name, value in getattr(root, "outputs", {}).items()}
        return Run(resources=monitor.declared(), outputs=outputs)

    def run_stack(self, stack: str, **overrides: Any) -> Run:
        """Runs __main__.py with Pulumi.<stack>.yaml plus any overridden settings (by key without namespace)."""
        return self.run(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            config=_stack_config(stack, overrides),
            stack=stack,
        )

