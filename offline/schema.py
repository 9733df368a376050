"""Checks resource inputs against the installed provider SDKs, the way the real provider would.

Plain Pulumi mocks accept any input, so a misspelled nested key such as
`health_check={"pathh": "/health"}` passes every test and only fails at
`pulumi preview`. `check_inputs(token, name, inputs)` finds the SDK resource
class of a type token (through the resource modules every generated provider
SDK registers), reads its `*Args` input type and checks every input, nested
`*Args` included (in lists and maps too), by wire name: unknown keys and
missing required properties are errors that name the resource, the key path
and the allowed keys.
"""

from __future__ import annotations

import collections.abc
import functools
import importlib
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
from pulumi import _types as pulumi_types
from pulumi.runtime import rpc


class SchemaError(Exception):
    """Inputs a real provider would reject: raised while the resource registers, so the declaring test fails."""


@dataclass(frozen=True)
class Shape:
    """What a property's value may hold that has keys to check: objects of input types, lists or maps of shapes."""

    objects: tuple[type, ...] = ()
    items: Shape | None = None
    values: Shape | None = None

    def __bool__(self) -> bool:
        return bool(self.objects) or self.items is not None or self.values is not None


@dataclass(frozen=True)
class Schema:
    """One input type: its properties by wire name and the ones without a default."""

    properties: Mapping[str, Shape]
    required: frozenset[str]

    @property
    def allowed(self) -> str:
        """The type's property names, comma-separated, for error messages."""
        return ", ".join(sorted(self.properties))


_SEQUENCES = {list, collections.abc.Sequence, typing.Sequence}
_MAPPINGS = {dict, collections.abc.Mapping, typing.Mapping}
_WRAPPERS = {pulumi.Output, collections.abc.Awaitable, typing.Awaitable}


def shape_of(hint: Any) -> Shape:
    """The checkable structure of a type hint; Input/Output/Optional/Awaitable wrappers are looked through."""
    if isinstance(hint, type) and pulumi_types.is_input_type(hint):
        return Shape(objects=(hint,))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _merge([shape_of(arg) for arg in args])
    if origin in _WRAPPERS and args:
        return shape_of(args[0])
    if origin in _SEQUENCES and args:
        items = shape_of(args[0])
        return Shape(items=items) if items else Shape()
    if origin in _MAPPINGS and len(args) == 2:
        values = shape_of(args[1])
        return Shape(values=values) if values else Shape()
    return Shape()


def _merge(shapes: list[Shape]) -> Shape:
    if not shapes:
        return Shape()
    objects = tuple(dict.fromkeys(cls for shape in shapes for cls in shape.objects))
    items = _merge([shape.items for shape in shapes if shape.items is not None])
    values = _merge([shape.values for shape in shapes if shape.values is not None])
    return Shape(objects=objects, items=items or None, values=values or None)


@functools.cache
def schema_of(input_type: type) -> Schema:
    """Wire names and shapes from the type's property metadata; required = `__init__` parameters without a default."""
    wire_names = pulumi_types.input_type_py_to_pulumi_names(input_type)
    hints = pulumi_types.input_type_types(input_type)
    parameters = list(inspect.signature(input_type.__init__).parameters.values())[1:]  # drop __self__
    required = frozenset(
        wire_names.get(p.name, p.name)
        for p in parameters
        if p.default is inspect.Parameter.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
    return Schema(properties={wire: shape_of(hints.get(wire)) for wire in wire_names.values()}, required=required)


@functools.cache
def args_type_of(token: str) -> type | None:
    """The `*Args` input type of a custom resource token, from the resource module its SDK registered."""
    package, module_name, _ = token.split(":")
    module = rpc.get_resource_module(package, module_name, "")
    mod_info = getattr(module, "mod_info", None)
    if module is None or mod_info is None or token not in mod_info.get("classes", {}):
        return None
    class_name = mod_info["classes"][token]
    resource_class = getattr(importlib.import_module(mod_info["fqn"]), class_name, None)
    if resource_class is None:
        return None
    # The Args class defined beside the resource. When a nested input type of the package has the same name,
    # the SDK renames the resource's own to <Name>InitArgs (azure-native's monitor.ActionGroupArgs is an alert
    # rule's action, monitor.ActionGroupInitArgs the action group's inputs).
    resource_module = importlib.import_module(resource_class.__module__)
    candidates = (getattr(resource_module, f"{class_name}{suffix}", None) for suffix in ("InitArgs", "Args"))
    args_type = next((c for c in candidates if c is not None and c.__module__ == resource_class.__module__), None)
    return args_type if args_type is not None and pulumi_types.is_input_type(args_type) else None


def check_inputs(token: str, name: str, inputs: Mapping[str, Any]) -> None:
    """Raises SchemaError listing every unknown or missing input of one custom resource (wire-format inputs).

    Resources of a package without a generated SDK (a dynamic provider) have no schema to check.
    """
    args_type = args_type_of(token)
    if args_type is None:
        if rpc.get_resource_package(token.split(":")[0], "") is None:
            return
        raise SchemaError(f"{token} {name!r}: the installed provider SDK declares no such resource type")
    problems: list[str] = []
    _check_object(inputs, args_type, "", problems)
    if problems:
        raise SchemaError(f"{token} {name!r}: " + "; ".join(problems))


def _check_object(value: Mapping[str, Any], input_type: type, path: str, problems: list[str]) -> None:
    schema = schema_of(input_type)
    for key in sorted(schema.required - value.keys()):
        problems.append(f"missing required property {path}{key} (required by {input_type.__name__})")
    for key, item in value.items():
        if key.startswith("__"):  # engine-internal properties, e.g. __defaults
            continue
        if key not in schema.properties:
            problems.append(f"unknown property {path}{key}{_wire_name_hint(key, schema)} (allowed: {schema.allowed})")
            continue
        _check_value(item, schema.properties[key], f"{path}{key}", problems)


def _wire_name(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _as_wire_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {_wire_name(key): _as_wire_names(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_wire_names(item) for item in value]
    return value


def _wire_name_hint(key: str, schema: Schema) -> str:
    """A Python name reaches the wire untranslated where the SDK cannot tell a dict's type (in a union)."""
    wire = _wire_name(key)
    if wire != key and wire in schema.properties:
        return f" (the wire name is {wire}: pass the *Args class, or wire names, where the type is a union)"
    return ""


def _check_value(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    if not shape or value is None or value == rpc.UNKNOWN:
        return
    # Signed wire values: a secret wraps a value to check; assets, archives and resource references have no keys.
    if isinstance(value, dict) and rpc._special_sig_key in value:
        if rpc.is_rpc_secret(value):
            _check_value(value.get("value"), shape, path, problems)
        return
    if isinstance(value, list) and shape.items is not None:
        for index, item in enumerate(value):
            _check_value(item, shape.items, f"{path}[{index}]", problems)
    elif isinstance(value, dict) and shape.objects:
        _check_one_of(value, shape.objects, path, problems)
    elif isinstance(value, dict) and shape.values is not None:
        for key, item in value.items():
            _check_value(item, shape.values, f"{path}[{key!r}]", problems)


def _check_one_of(value: Mapping[str, Any], candidates: tuple[type, ...], path: str, problems: list[str]) -> None:
    """A union of input types accepts the value when one member does; otherwise report the closest member.

    Closest: fewest problems once Python names are read as wire names (the likely intent), then
    fewest as written, then the member whose class name contains the value's own constants
    (azure-native tells union members apart by a name such as "RequestMethod").
    """
    reports = []
    constants = [item for item in value.values() if isinstance(item, str) and item]
    wire_named = _as_wire_names(value)
    for candidate in candidates:
        found: list[str] = []
        _check_object(value, candidate, f"{path}.", found)
        if not found:
            return
        intended: list[str] = []
        _check_object(wire_named, candidate, f"{path}.", intended)
        hint = sum(constant in candidate.__name__ for constant in constants)
        reports.append((len(intended), len(found), -hint, found))
    problems.extend(min(reports, key=lambda report: report[:3])[3])
