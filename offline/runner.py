"""Pulumi mocks that record what a program declares, for tests and offline reports.

`PulumiMocks().run(fn)` runs `fn` under `pulumi.runtime.set_mocks`, waits for every
resource registration, and returns a `Declared` record of each resource: type
token, name, resolved inputs, parent, provider and region. `run_stack("prod")`
runs `__main__.py` with that stack file's settings and also returns the stack's
resolved outputs. Data-source calls the program makes are answered here, per
region of the provider they go through. Every resource's inputs are checked
against its provider SDK's schema (offline/schema.py), with no opt-out.

URNs are built as the engine builds them, and mock ids from each resource's type
and name, so two runs of the same program record the same values
(offline/records.py compares runs).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import runpy
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks_module
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

import proxy_package
from components.settings.reading import SettingsError
from failover.documents import UnreadableDocument, check_kind, load_yaml
from offline.schema import check_inputs

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
ACCOUNT = "123456789012"
AZURE_SUBSCRIPTION = "00000000-0000-4000-8000-00000000a2e0"
AZURE_TENANT = "00000000-0000-4000-8000-0000000077e1"
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
    # Inputs the program marked secret (their values above are unwrapped).
    secret_inputs: frozenset[str] = frozenset()
    # Left in the cloud, not deleted, when the stack is destroyed (the retain_on_delete option).
    retain_on_delete: bool = False
    # Whether a replacement deletes this resource before creating its successor (delete_before_replace).
    delete_before_replace: bool = False
    # Inputs whose changes Pulumi leaves alone (ignore_changes).
    ignore_changes: tuple[str, ...] = ()
    # Inputs whose change replaces the resource instead of updating it (replace_on_changes).
    replace_on_changes: tuple[str, ...] = ()
    # False for a component resource, which only groups others and has nothing in the cloud.
    custom: bool = True
    # The earlier identities it claims (the aliases option), as the SDK sends them to the engine:
    # {"urn": ...} or a spec such as {"name": ..., "noParent": True} (offline/records.py resolves them).
    aliases: tuple[dict[str, Any], ...] = ()
    # Refused by `pulumi destroy` and by replacements (the protect option).
    protect: bool = False
    # Its inputs passed the provider SDK's schema check (offline/schema.py) when it was registered.
    schema_checked: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.inputs

    def get(self, key: str, default: Any = None) -> Any:
        """The input `key`, or `default` when the resource does not set it."""
        return self.inputs.get(key, default)


@dataclass
class Run:
    """What one offline run declared: every resource in registration order, the stack outputs, and which are secret."""

    resources: list[Declared]
    outputs: dict[str, Any]
    # Names of the stack outputs Pulumi would store encrypted.
    secret_outputs: frozenset[str] = frozenset()

    def of_type(self, token: str, region: str | None = None) -> list[Declared]:
        """Resources of type `token`, in `region` when given."""
        return [r for r in self.resources if r.type == token and (region is None or r.region == region)]

    def one(self, token: str, name: str | None = None, region: str | None = None) -> Declared:
        """The one resource of type `token` (named `name`, in `region`, when given); AssertionError unless exactly one."""
        found = [r for r in self.of_type(token, region) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {token} named {name} in {region}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Declared:
        """The resource with that URN; StopIteration when there is none."""
        return next(r for r in self.resources if r.urn == urn)

    def by_id(self, resource_id: str) -> Declared:
        """The resource with that mock id; StopIteration when there is none."""
        return next(r for r in self.resources if r.id == resource_id)

    def children(self, parent: Declared, token: str | None = None) -> list[Declared]:
        """The resources whose parent is `parent` (of type `token`, when given)."""
        return [r for r in self.resources if r.parent_urn == parent.urn and (token is None or r.type == token)]

    def descendants(self, ancestor: Declared) -> list[Declared]:
        """Every resource under `ancestor`, at any depth."""
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
        """The AWS regions resources were declared in, through their providers."""
        return {r.region for r in self.resources if r.region}


def _computed_state(token: str, name: str, inputs: dict[str, Any], region: str | None, resource_id: str) -> dict[str, Any]:
    """Outputs a real provider computes that the program reads (ARNs, DNS names, versions)."""
    region = region or "us-east-1"
    service = token.split(":")[1].split("/")[0] if ":" in token else "mock"
    state: dict[str, Any] = {
        "arn": f"arn:aws:{service}:{region}:{ACCOUNT}:{name}/{resource_id}",
        # A name_prefix gets a unique suffix from the provider, as a name left out gets one from Pulumi.
        "name": inputs.get("name", f"{inputs.get('namePrefix', f'{name}-')}{resource_id[-7:]}"),
    }
    if token == "aws:lb/loadBalancer:LoadBalancer":
        state["arn_suffix"] = f"app/{name}/{resource_id}"
        state["dns_name"] = f"{name}-{resource_id[-6:]}.{region}.elb.amazonaws.com"
        state["zone_id"] = "Z35SXDOTRQ7X7K"
    elif token == "aws:lb/targetGroup:TargetGroup":
        state["arn_suffix"] = f"targetgroup/{name}/{resource_id}"
    elif token == "aws:ec2/launchTemplate:LaunchTemplate":
        state["latest_version"] = 1
    elif token == "aws:lambda/functionUrl:FunctionUrl":
        state["function_url"] = f"https://{resource_id}.lambda-url.{region}.on.aws/"
    elif token == "aws:rds/instance:Instance":
        identifier = inputs.get("identifier", f"{name}-{resource_id[-7:]}")
        state["identifier"] = identifier
        state["arn"] = f"arn:aws:rds:{region}:{ACCOUNT}:db:{identifier}"
        state["address"] = f"{identifier}.abcdefghijkl.{region}.rds.amazonaws.com"
        state["endpoint"] = f"{state['address']}:{int(inputs.get('port', 5432))}"
    elif token == "aws:route53/record:Record":
        state["fqdn"] = inputs.get("name")
    elif token in ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"):
        # As CloudWatch spells alarm ARNs; commands that read stack outputs take the alarm name from them.
        alarm = inputs.get("alarmName") or inputs.get("name") or f"{name}-{resource_id[-7:]}"
        state["name"] = alarm
        state["arn"] = f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{alarm}"
    return state


# Per Azure resource type, the input that names it (what the real provider returns as `name`).
_AZURE_NAME_INPUTS = {
    "resources:ResourceGroup": "resourceGroupName",
    "cognitiveservices:Account": "accountName",
    "cognitiveservices:Deployment": "deploymentName",
    "apimanagement:ApiManagementService": "serviceName",
    "apimanagement:Backend": "backendId",
    "apimanagement:Api": "apiId",
    "apimanagement:ApiOperation": "operationId",
    "apimanagement:Subscription": "sid",
    "cdn:Profile": "profileName",
    "cdn:AFDEndpoint": "endpointName",
    "cdn:AFDOriginGroup": "originGroupName",
    "cdn:AFDOrigin": "originName",
    "cdn:Route": "routeName",
}

# ARM resource types of top-level resources whose ids programs take apart (as Azure spells them).
_ARM_TYPES = {
    "apimanagement:ApiManagementService": "Microsoft.ApiManagement/service",
    "cognitiveservices:Account": "Microsoft.CognitiveServices/accounts",
    "cdn:Profile": "Microsoft.Cdn/profiles",
    "operationalinsights:Workspace": "Microsoft.OperationalInsights/workspaces",
    "applicationinsights:Component": "Microsoft.Insights/components",
    "monitor:ActionGroup": "Microsoft.Insights/actionGroups",
}

# Inputs that name a resource's parents, outermost first.
_AZURE_PARENT_INPUTS = ("accountName", "serviceName", "apiId", "profileName", "endpointName", "originGroupName")


def _azure_resource(token: str, name: str, inputs: dict[str, Any], serial: int, incarnation: str = "") -> tuple[str, dict[str, Any]]:
    """An ARM resource id and the state Azure returns: the inputs plus what the service computes.

    A resource given no name is auto-named as Pulumi does: its logical name and a suffix, which a
    later incarnation of the stack draws anew.
    """
    kind = token.removeprefix("azure-native:")
    name_input = _AZURE_NAME_INPUTS.get(kind, "")
    auto_suffix = hashlib.sha256(f"{incarnation}/{name}".encode()).hexdigest()[:8] if incarnation else f"{serial:08d}"
    resource_name = inputs.get(name_input, f"{name}{auto_suffix}")
    group = f"/subscriptions/{AZURE_SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName', resource_name)}"
    if kind == "resources:ResourceGroup":
        resource_id = group
    elif kind == "authorization:RoleAssignment":
        resource_id = f"{inputs['scope']}/providers/Microsoft.Authorization/roleAssignments/{serial:08d}-0000-4000-8000-000000000000"
    else:
        # Child resources (a deployment of an account, an origin of a group) sit under their parents' names.
        parents = [inputs[key] for key in _AZURE_PARENT_INPUTS if key in inputs and key != name_input]
        arm_type = _ARM_TYPES.get(kind) if not parents else None
        resource_id = (
            f"{group}/providers/{arm_type}/{resource_name}"
            if arm_type
            else "/".join([f"{group}/providers/{kind.replace(':', '/')}", *parents, resource_name])
        )
    state: dict[str, Any] = {**inputs, "name": resource_name}
    if kind == "cognitiveservices:Account":
        state["properties"] = {**inputs.get("properties", {}), "endpoint": f"https://{inputs['properties']['customSubDomainName']}.openai.azure.com/"}
    elif kind == "apimanagement:ApiManagementService":
        service = inputs["serviceName"]
        state["gatewayUrl"] = f"https://{service}.azure-api.net"
        state["gatewayRegionalUrl"] = f"https://{service}-{inputs['location']}-01.regional.azure-api.net"
        state["identity"] = {**inputs["identity"], "principalId": f"{serial:08d}-0000-4000-8000-00000000a9e1", "tenantId": AZURE_TENANT}
        state["additionalLocations"] = [
            {**location, "gatewayRegionalUrl": f"https://{service}-{location['location']}-01.regional.azure-api.net"}
            for location in inputs.get("additionalLocations", [])
        ]
    elif kind == "applicationinsights:Component":
        state["connectionString"] = f"InstrumentationKey=key-{serial:08d};IngestionEndpoint=https://{inputs['location']}-0.in.applicationinsights.azure.com/"
    elif kind == "cdn:Profile":
        state["frontDoorId"] = f"{serial:08d}-0000-4000-8000-00000000fd1d"
    elif kind == "cdn:AFDEndpoint":
        state["hostName"] = f"{inputs['endpointName']}-{serial:08d}.z01.azurefd.net"
    return resource_id, state


# What pulumi-random draws from, per flag of RandomString and RandomPassword (each defaults to on).
_RANDOM_ALPHABETS = {"lower": string.ascii_lowercase, "upper": string.ascii_uppercase, "numeric": string.digits, "special": "!@#$%&*()-_=+[]{}<>:?"}


def _random_state(token: str, name: str, inputs: dict[str, Any], incarnation: str) -> dict[str, Any]:
    """What pulumi-random computes: a value of the requested length and alphabet.

    Derived from the stack's incarnation, the resource's name and its inputs (keepers included), so
    a run repeats itself, while a change of keepers or another incarnation (a stack destroyed and
    created again) draws a new value, as real creations would.
    """
    seed = hashlib.sha256(f"{incarnation}/{name}/{json.dumps(inputs, sort_keys=True, default=str)}".encode()).digest()
    stream = hashlib.shake_256(seed)
    if token == "random:index/randomId:RandomId":
        raw = stream.digest(int(inputs["byteLength"]))
        prefix = inputs.get("prefix", "")
        b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return {"hex": prefix + raw.hex(), "b64Url": prefix + b64_url, "b64Std": prefix + base64.b64encode(raw).decode(), "dec": prefix + str(int.from_bytes(raw, "big"))}
    if token in ("random:index/randomString:RandomString", "random:index/randomPassword:RandomPassword"):
        alphabet = "".join(chars for flag, chars in _RANDOM_ALPHABETS.items() if inputs.get(flag, True) and not (flag == "special" and "overrideSpecial" in inputs))
        alphabet += inputs.get("overrideSpecial", "") if inputs.get("special", True) else ""
        length = int(inputs["length"])
        return {"result": "".join(alphabet[byte % len(alphabet)] for byte in stream.digest(length))}
    return {}


def _secret_inputs(value: dict[str, Any]) -> frozenset[str]:
    """Top-level input names whose value is (or holds) a secret: deserializing marks a container holding one as secret."""
    return frozenset(key for key, item in value.items() if rpc.is_rpc_secret(item))


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and data-source calls like a small, consistent AWS account."""

    def __init__(self, incarnation: str = "") -> None:
        self.provider_regions: dict[str, str] = {}  # provider reference "urn::id" -> region
        self.registered: dict[tuple[str, str], int] = {}  # (type, name) -> registrations so far
        # Which creation of the stack this is: random values differ from one incarnation to the next.
        self.incarnation = incarnation

    def region_of(self, provider_ref: str | None) -> str | None:
        """The region of the provider referenced as `urn::id`; None for the default provider."""
        return self.provider_regions.get(provider_ref or "")

    def serial(self, token: str, name: str) -> int:
        """A number of at most 8 digits for a registration, the same in every run of the same program.

        Derived from the resource's type and name rather than from the order registrations arrive in,
        which varies with scheduling: ids, ARNs and names built from it repeat from run to run, and
        stay when a resource moves under another parent (offline/records.py compares runs).
        """
        occurrence = self.registered.get((token, name), 0)
        self.registered[(token, name)] = occurrence + 1
        return int(hashlib.sha256(f"{token}::{name}::{occurrence}".encode()).hexdigest()[:12], 16) % 10**8

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        """A registration's mock id and state: its inputs plus what the cloud would compute (ARNs, names, ids)."""
        serial = self.serial(args.typ, args.name)
        resource_id = f"{args.name}-id-{serial:08d}"
        if args.typ.startswith("pulumi:providers:"):
            return resource_id, dict(args.inputs)
        if args.typ.startswith("azure-native:"):
            return _azure_resource(args.typ, args.name, args.inputs, serial, self.incarnation)
        if args.typ.startswith("random:"):
            return resource_id, {**args.inputs, **_random_state(args.typ, args.name, args.inputs, self.incarnation)}
        state = _computed_state(args.typ, args.name, args.inputs, self.region_of(args.provider), resource_id)
        return resource_id, {**state, **args.inputs}

    def call(self, args: pulumi.runtime.MockCallArgs):
        """The answer to a data-source call, for the region of the provider it goes through.

        Raises NotImplementedError naming any call the mocks do not answer.
        """
        region = self.region_of(args.provider) or "us-east-1"
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{letter}" for letter in ZONE_LETTERS]
            return {"names": names, "zone_ids": [f"{region[:2]}{region[-1]}-az{i}" for i in range(len(names))], "id": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/test", "id": ACCOUNT, "userId": "AIDTEST"}
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "mock-client", "objectId": "mock-object", "subscriptionId": AZURE_SUBSCRIPTION, "tenantId": AZURE_TENANT}
        if args.token == "azure-native:apimanagement:listSubscriptionSecrets":
            return {"primaryKey": f"primary-key-of-{args.args['sid']}", "secondaryKey": f"secondary-key-of-{args.args['sid']}"}
        raise NotImplementedError(f"the offline mocks do not answer {args.token}; add it to offline/runner.py")


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent: str | None, type_: str, name: str) -> str:
    """The URN the Pulumi engine gives a resource: its parent's whole type chain, then its own type and name.

    The stack itself is left out of the chain (pulumi/pulumi pkg/resource/deploy/deployment.go, generateURN):
    a top-level VPC is `urn:pulumi:dev::<project>::aws:ec2/vpc:Vpc::<name>`, the same VPC inside a Network
    component `...::<project>:aws:Network$aws:ec2/vpc:Vpc::<name>`.
    """
    parent_type = parent.split("::")[2] if parent else ""
    qualified = type_ if parent_type in ("", ROOT_STACK_TYPE) else f"{parent_type}${type_}"
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


class RecordingMonitor(pulumi_mocks_module.MockMonitor):
    """Keeps what the plain mock monitor drops: each registration's parent, provider and dependencies."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registrations: list[tuple[Any, str]] = []
        # Registrations whose inputs passed the schema check, by (type, name).
        self.schema_checked: set[tuple[str, str]] = set()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine would give the resource: its parent's whole type chain (engine_urn)."""
        # The plain mock monitor keeps only the parent's own type: a resource moved under a new component
        # would keep its URN here while the engine gives it a new one, and a real stack replaces it.
        return engine_urn(pulumi.get_stack(), pulumi.get_project(), parent or None, type_, name)

    def RegisterResource(self, request):
        """Checks a custom resource's inputs against its SDK's schema (SchemaError), then registers and records it."""
        # Every custom resource's inputs must fit its provider SDK's schema, or the registration (and the
        # test or report that declared it) fails. Checked on the wire format, where a value another
        # resource computes is still present, never mistaken for a missing property.
        if request.custom and not request.type.startswith("pulumi:"):
            check_inputs(request.type, request.name, json_format.MessageToDict(request.object))
            self.schema_checked.add((request.type, request.name))
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
        """Every registration so far as a Declared record, in registration order."""
        records = []
        region_by_urn = {ref.rsplit("::", 1)[0]: region for ref, region in self.mocks.provider_regions.items()}
        for request, urn in self.registrations:
            registration = self.resources[urn]
            provider_urn = request.provider.rsplit("::", 1)[0] if request.provider else None
            raw_inputs = pulumi.runtime.rpc.deserialize_properties(request.object) if request.object else {}
            records.append(
                Declared(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    id=registration.id,
                    inputs=_plain(raw_inputs),
                    secret_inputs=_secret_inputs(raw_inputs),
                    state=registration.state,
                    parent_urn=request.parent or None,
                    provider_urn=provider_urn,
                    region=region_by_urn.get(provider_urn or ""),
                    dependencies=list(request.dependencies),
                    retain_on_delete=bool(request.retainOnDelete),
                    delete_before_replace=request.deleteBeforeReplace,
                    ignore_changes=tuple(request.ignoreChanges),
                    replace_on_changes=tuple(request.replaceOnChanges),
                    custom=request.custom,
                    aliases=tuple(_alias(alias) for alias in request.aliases) + tuple({"urn": urn} for urn in request.aliasURNs),
                    protect=request.protect,
                    schema_checked=(request.type, request.name) in self.schema_checked,
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


def _alias(alias: Any) -> dict[str, Any]:
    """One alias of a registration: its URN, or the fields of its spec that are set."""
    if alias.HasField("urn"):
        return {"urn": alias.urn}
    return json_format.MessageToDict(alias.spec)


def _plain(value: Any) -> Any:
    """Drops Pulumi's internal markers and unwraps secrets so tests compare plain Python values."""
    if rpc.is_rpc_secret(value):
        return _plain(value["value"])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class UnknownStack(LookupError):
    """No stack file for the stack named; the message lists the stacks there are."""


# What a stack run raises when the stack's input is at fault rather than the program: a bad setting, a missing or
# stale proxy package, a stack without a stack file or with one that cannot be read. Commands refuse these in one
# line (command_line.refuse).
BAD_STACK_INPUT: tuple[type[Exception], ...] = (SettingsError, proxy_package.ProxyPackageError, UnknownStack, UnreadableDocument)


def stack_file(stack: str) -> Path:
    """Pulumi.<stack>.yaml in the project root; UnknownStack when there is none."""
    path = ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(found.name[len("Pulumi.") : -len(".yaml")] for found in ROOT.glob("Pulumi.*.yaml"))
        raise UnknownStack(f"no stack {stack}: there is no {path.name} in {ROOT} (stacks: {', '.join(known) or 'none'})")
    return path


STACK_FILE_EXPECTED = "a Pulumi stack file: the stack's settings under config:, each key once"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The settings of a stack file, by full key (`<namespace>:<name>`), as the Pulumi CLI reads them.

    As pulumi/pulumi sdk/go/common/workspace/loaders.go (LoadProjectStackBytes) does: an empty file, or one
    without `config:`, sets nothing, and a key without a namespace is the project's (stackConfigNamespacedWithProject).
    Raises UnreadableDocument, one line naming the file, for what the CLI refuses: YAML it cannot read (with the
    line and column), a key written twice (go-yaml v3's words, both lines), `config:` that is not a mapping, and a
    setting written both with and without the namespace, which the CLI would read in no fixed order.
    """
    source = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    document = load_yaml(path, source, STACK_FILE_EXPECTED, kind=dict, allow_empty=True) or {}
    config = document.get("config")
    if config is None:
        return {}
    check_kind(config, dict, source, STACK_FILE_EXPECTED, part="its config:")
    settings: dict[str, Any] = {}
    written_as: dict[str, str] = {}
    for key, value in config.items():
        full = str(key) if ":" in str(key) else f"{PROJECT}:{key}"
        if full in written_as:
            lines = _config_key_lines(path)
            first, second = (f"{name} (line {lines.get(name, '?')})" for name in (written_as[full], str(key)))
            raise UnreadableDocument(source, f"{first} and {second} are the same setting, {full}: a key without a namespace is the project's", STACK_FILE_EXPECTED)
        written_as[full] = str(key)
        settings[full] = value
    return settings


def _config_key_lines(path: Path) -> dict[str, int]:
    """The line (from 1) each key of a stack file's config: mapping is written on."""
    root = yaml.compose(path.read_text(encoding="utf-8-sig"))
    config = next(value for key, value in root.value if key.value == "config")
    return {key.value: key.start_mark.line + 1 for key, _ in config.value}


def _stack_config(stack: str, overrides: dict[str, Any]) -> dict[str, str]:
    """Stack file values as the Pulumi CLI passes them: strings, with arrays and objects as JSON."""
    raw = read_stack_file(stack_file(stack))
    raw.update({f"{PROJECT}:{key}": value for key, value in overrides.items()})
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


def _ensure_event_loop() -> None:
    """Pulumi's synchronous waits need a current loop; asyncio.run() elsewhere in the process leaves none."""
    try:
        loop = asyncio.get_event_loop()
        if loop.is_closed():
            loop = None
    except RuntimeError:
        loop = None
    if loop is None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    loop.set_exception_handler(_quiet_outputs_of_failed_runs)


# Marks an error a failed run raised to its caller.
_RAISED_BY_RUN = "_offline_raised_by_run"


def _quiet_outputs_of_failed_runs(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Every output of a failed run holds the error the run raised; nobody reads them, so asyncio would log each one
    ("Future exception was never retrieved") when it is collected, long after the caller got that error.
    Anything else goes to asyncio's default handler."""
    if getattr(context.get("exception"), _RAISED_BY_RUN, False):
        return
    loop.default_exception_handler(context)
async def _settle_failed_run() -> None:
    """Lets a failed run's registrations and outputs still in flight finish failing, so they cannot fail the next run."""
    rpcs, outputs = runtime_settings.SETTINGS.rpc_manager.rpcs, runtime_settings.SETTINGS.outputs
    while rpcs or outputs:
        pending = [*rpcs, *outputs]
        rpcs.clear()
        outputs.clear()
        await asyncio.gather(*pending, return_exceptions=True)


_STACK_RUNS: dict[tuple[str, str], Run] = {}


class PulumiMocks:
    """Runs Pulumi programs under recording mocks, with no engine and no cloud (see the module docstring)."""

    def run(self, program: Callable[[], Any], config: dict[str, str] | None = None, stack: str = "test", incarnation: str = "") -> Run:
        """Runs `program` under mocks with `config` (full keys to raw strings) as stack `stack`, and returns what it declared.

        Raises what the program raises (a SettingsError, a SchemaError from a registration), after settling
        whatever that run still had in flight.
        """
        _ensure_event_loop()
        mocks = RecordingMocks(incarnation)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_all_config(config or {})
        runtime_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
        try:
            _sync_await(run_pulumi_func(program))
        except BaseException as error:
            _sync_await(_settle_failed_run())
            setattr(error, _RAISED_BY_RUN, True)
            raise
        root = runtime_settings.get_root_resource()
        exported = {name: pulumi.Output.from_input(value) for name, value in getattr(root, "outputs", {}).items()}
        outputs = {name: _sync_await(output.future()) for name, output in exported.items()}
        secret_outputs = frozenset(name for name, output in exported.items() if _sync_await(output.is_secret()))
        return Run(resources=monitor.declared(), outputs=outputs, secret_outputs=secret_outputs)

    def run_stack(self, stack: str, *, cached: bool = True, incarnation: str = "", **overrides: Any) -> Run:
        """Runs __main__.py with Pulumi.<stack>.yaml plus any overridden settings (by key without namespace).

        `incarnation` names a creation of the stack: the same stack destroyed and created again is
        another incarnation, whose random values (name suffixes, passwords) are drawn anew.

        The same stack and settings declare the same resources, so a process runs each combination once
        (how long a run takes: benchmarks/README.md, "Offline stack runs"); `cached=False` runs it again,
        for a caller that changed the program's code or the mocks in between. Callers treat the returned
        Run as read-only.
        """
        key = (stack, incarnation, json.dumps(overrides, sort_keys=True))
        if cached and key in _STACK_RUNS:
            return _STACK_RUNS[key]
        run = self.run(
            lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
            config=_stack_config(stack, overrides),
            stack=stack,
            incarnation=incarnation,
        )
        _STACK_RUNS[key] = run
        return run

