"""How a raw setting is read and checked: the error every refusal raises, typed access with the
schema's defaults, and the checks that settings of every concern share.

A bad value raises ``SettingsError`` naming the key, the value (for a list, the entry) and what is
allowed, before any resource is declared. So does a list entry that repeats another and a name that
the catalog of its kind (``components/catalogs.py``) does not list, unless ``unlistedNames`` vouches
for it.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Callable, Hashable, Iterable

from components import catalogs
from components.settings.schema import PROJECT, SCHEMA_BY_KEY

# A value a message must not repeat: the value of a key the schema does not declare may be a secret.
UNSHOWN = object()


class SettingsError(ValueError):
    """A stack setting is missing, malformed or inconsistent.

    key: the setting without namespace; value: the bad value, or for a list the bad entry (UNSHOWN: left
    out of the message); allowed: what the setting accepts instead; namespace: the key's namespace as the
    stack file spells it, when that is not this project's.
    """

    def __init__(self, key: str, value: Any, allowed: str, namespace: str = PROJECT):
        self.key = f"{namespace}:{key}"
        self.value = value
        shown = "" if value is UNSHOWN else f" = {value!r}"
        super().__init__(f"invalid setting {self.key}{shown}: {allowed}")


_EXPECTED = {"integer": "expected a whole number", "boolean": "expected true or false", "array": "expected a list of strings"}


class Reader:
    """Typed access to raw config strings, with the schema's default when unset.

    get(key): the raw value of a key without namespace, as the Pulumi CLI hands it over (a string;
    arrays as JSON), or None when the stack does not set it. Every method raises SettingsError
    naming the key when the value is not of the declared type.
    """

    def __init__(self, get: Callable[[str], str | None]):
        self._get = get
        self._unlisted: frozenset[tuple[str, str]] | None = None

    def _raw(self, key: str) -> Any:
        setting = SCHEMA_BY_KEY[key]
        raw = self._get(key)
        if raw is None:
            return setting.default
        if setting.type == "string":
            return raw
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            raise SettingsError(key, raw, _EXPECTED[setting.type]) from None
        return value

    def holds_default(self, key: str) -> bool:
        """Whether `key` holds its default from Pulumi.yaml: unset, or set to the default itself.

        Under `pulumi up` the two look alike: the CLI sets every default of Pulumi.yaml the stack file leaves
        out into the stack's config before the program runs (pulumi/pulumi pkg/workspace/config.go, mergeConfig).
        """
        raw = self._get(key)
        if raw is None:
            return True
        try:
            return self._raw(key) == SCHEMA_BY_KEY[key].default
        except SettingsError:
            return False

    def default_elsewhere(self, key: str, names: tuple[str, ...], listed_in: str, noun: str = "region") -> SettingsError | None:
        """The refusal for `key` holding a default that names places other than `names` (the setting `listed_in`),
        saying the value is Pulumi.yaml's, not the user's, and what to set; None when `key` was set to something else.

        For a setting naming one place (primaryRegion) and for one keyed by place (vpcCidrs, as "<place>=<value>").
        """
        if not self.holds_default(key):
            return None
        default = SCHEMA_BY_KEY[key].default
        theirs = f"this stack's {listed_in} are {list(names)}"
        if isinstance(default, str):
            fix = f"but {theirs}: set {key} in the stack file to one of them"
        else:
            named = ", ".join(entry.partition("=")[0] for entry in default)
            fix = f"which is for {noun}s {named}, but {theirs}: set {key} in the stack file, with a <{noun}>=<value> entry for each of them"
        error = SettingsError(key, UNSHOWN, f"holds its default from Pulumi.yaml, {default!r}, {fix}")
        error.value = default
        return error

    def string(self, key: str) -> str:
        """The value of `key` with surrounding whitespace removed; SettingsError when it is not a string."""
        value = self._raw(key)
        if not isinstance(value, str):
            raise SettingsError(key, value, "expected a string")
        return value.strip()

    def integer(self, key: str) -> int:
        """The value of `key` as an int; SettingsError for anything else, booleans included."""
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, value, _EXPECTED["integer"])
        return value

    def boolean(self, key: str) -> bool:
        """The value of `key` as a bool; SettingsError for anything else."""
        value = self._raw(key)
        if not isinstance(value, bool):
            raise SettingsError(key, value, _EXPECTED["boolean"])
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        """The value of `key`, a list of strings, each stripped; SettingsError for anything else."""
        value = self._raw(key)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise SettingsError(key, value, _EXPECTED["array"])
        return tuple(item.strip() for item in value)

    def region_map(self, key: str, regions: tuple[str, ...], noun: str = "region", listed_in: str = "regions") -> dict[str, str]:
        """An array of "<region>=<value>" entries, as a dict {region: value}.

        Every region must be one of `regions` (the setting `listed_in`, whose entries are each a `noun`), once.
        """
        entries: dict[str, str] = {}
        for entry in self.strings(key):
            region, sep, value = entry.partition("=")
            region, value = region.strip(), value.strip()
            if not sep or not region or not value:
                raise SettingsError(key, entry, f"each entry must look like <{noun}>=<value>")
            if region not in regions:
                raise self.default_elsewhere(key, regions, listed_in, noun) or SettingsError(
                    key, entry, f"{noun} {region!r} is not in {listed_in} {list(regions)}{did_you_mean(region, regions)}"
                )
            if region in entries:
                raise SettingsError(key, entry, f"{noun} {region!r} is listed more than once")
            entries[region] = value
        return entries

    def listed(self, key: str, name: str, catalog: catalogs.Catalog) -> str:
        """`name` if `catalog` lists it or unlistedNames vouches for it as "<key>=<name>".

        Raises SettingsError naming `key` and the name, with the closest listed names and how to vouch for it.
        """
        if name in catalog or (key, name) in self.unlisted_names():
            return name
        raise SettingsError(
            key,
            name,
            f"{catalog.what} {name!r} is not in {catalog.source}{did_you_mean(name, catalog.names)} "
            f"If it is real but newer than that catalog, add \"{key}={name}\" to {PROJECT}:unlistedNames.",
        )

    def unlisted_names(self) -> frozenset[tuple[str, str]]:
        """The (setting, name) pairs of unlistedNames, read and checked once."""
        if self._unlisted is None:
            self._unlisted = parse_unlisted_names(self)
        return self._unlisted


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the candidates closest to `value` (difflib, without case), or ""."""
    by_folded = {candidate.lower(): candidate for candidate in candidates}
    close = [by_folded[match] for match in difflib.get_close_matches(value.lower(), by_folded, n=2, cutoff=0.6)]
    return "; did you mean " + " or ".join(repr(match) for match in close) + "?" if close else ""


def choice(key: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`; else SettingsError listing them, with the closest."""
    if value not in allowed:
        raise SettingsError(key, value, "allowed values are " + ", ".join(repr(a) for a in allowed) + did_you_mean(value, allowed))
    return value


def in_range(key: str, value: int, bounds: tuple[int, int], unit: str = "") -> int:
    """`value` if low <= value <= high for bounds (low, high); else SettingsError naming both and `unit`."""
    low, high = bounds
    if not low <= value <= high:
        raise SettingsError(key, value, f"must be between {low} and {high}{unit}")
    return value


def require_distinct(
    key: str, values: Iterable[str], noun: str, identity: Callable[[str], Hashable] = lambda value: value, why: str = ""
) -> None:
    """Refuses the first entry of a list setting that repeats an earlier one, naming the key and that entry.

    identity: what makes two entries the same to the service (an e-mail address without case, a parsed
    network); why: a short reason shown when the two are written differently.
    """
    first_seen: dict[Hashable, str] = {}
    for value in values:
        same = identity(value)
        if same in first_seen:
            earlier = first_seen[same]
            repeats = "this one is listed more than once" if earlier == value else f"this one repeats {earlier!r}{why}"
            raise SettingsError(key, value, f"{noun} must be distinct; {repeats}")
        first_seen[same] = value


# Settings whose names are checked against a catalog (components/catalogs.py); unlistedNames may vouch for newer ones.
CATALOGUED_SETTINGS = ("regions", "instanceType", "dbInstanceClass", "dbReplicaInstanceClass", "sslPolicy", "azureLocations")


def parse_unlisted_names(read: Reader) -> frozenset[tuple[str, str]]:
    """unlistedNames as (setting, name) pairs, each setting one of CATALOGUED_SETTINGS."""
    key = "unlistedNames"
    entries = read.strings(key)
    require_distinct(key, entries, "entries")
    pairs = set()
    for entry in entries:
        setting, sep, name = (part.strip() for part in entry.partition("="))
        if not sep or not setting or not name:
            raise SettingsError(key, entry, "each entry must look like <setting>=<name>, such as instanceType=p7.48xlarge")
        if setting not in CATALOGUED_SETTINGS:
            raise SettingsError(
                key, entry, f"{setting!r} is not checked against a catalog; those that are: {', '.join(CATALOGUED_SETTINGS)}{did_you_mean(setting, CATALOGUED_SETTINGS)}"
            )
        pairs.add((setting, name))
    return frozenset(pairs)


# Retention periods CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def retention_days(read: Reader, key: str) -> int:
    """A log group's retention in days: one of LOG_RETENTION_DAYS, else SettingsError listing them."""
    days = read.integer(key)
    if days not in LOG_RETENTION_DAYS:
        raise SettingsError(key, days, "allowed values are " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    return days
