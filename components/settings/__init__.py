"""Typed, frozen, validated stack settings: the only reader of pulumi.Config.

Every setting is declared once, in ``schema.SCHEMA`` (key, type, default, description);
``Pulumi.yaml`` declares the same keys for the Pulumi CLI and the README lists them, both
generated from it (``venv/bin/python -m components.settings`` and ``... markdown``).

Each concern reads and checks its own settings, in its own module:

- ``network``: regions, VPC blocks, availability zones, subnet layout;
- ``fleet``: model servers, load balancer, health checks, capacity;
- ``multi_region``: standby sizing, the replicated database, global routing;
- ``proxy``: the failover model proxy;
- ``monitoring``: alert recipients and alarm thresholds;
- ``azure``: Azure OpenAI, API Management, Front Door;
- ``drills``: failover drills and the recovery time objective;

and ``stack.parse_settings`` reads them in order and checks the rules between concerns. A bad
value raises ``SettingsError`` naming the key, the value (for a list, the entry) and what is
allowed, before any resource is declared (``reading``). So does a key of this project's namespace
that ``SCHEMA`` does not declare (a misspelling), a key whose namespace is a misspelling of this
project's, a list entry that repeats another, and a name
that the catalog of its kind (``components/catalogs.py``) does not list, unless ``unlistedNames``
vouches for it.
"""

from components.settings.azure import AZURE_WEIGHT, AzureSettings, OpenAiDeployment, TrafficShare
from components.settings.drills import DrillSettings
from components.settings.fleet import Capacity, FleetSettings, HealthCheck
from components.settings.monitoring import MonitoringSettings, recipient_identity
from components.settings.multi_region import DatabaseSettings, MultiRegionSettings, RoutingSettings
from components.settings.network import RegionSettings, region_availability_zones, validate_zones
from components.settings.proxy import ProxySettings
from components.settings.reading import UNSHOWN, SettingsError
from components.settings.schema import PROJECT, SCHEMA, Setting, markdown_table, pulumi_yaml_config
from components.settings.stack import Settings, StackNameError, load_settings, parse_settings, stack_config_keys, stack_slug

__all__ = [
    "AZURE_WEIGHT",
    "PROJECT",
    "SCHEMA",
    "UNSHOWN",
    "AzureSettings",
    "Capacity",
    "DatabaseSettings",
    "DrillSettings",
    "FleetSettings",
    "HealthCheck",
    "MonitoringSettings",
    "MultiRegionSettings",
    "OpenAiDeployment",
    "ProxySettings",
    "RegionSettings",
    "RoutingSettings",
    "Setting",
    "Settings",
    "SettingsError",
    "StackNameError",
    "TrafficShare",
    "load_settings",
    "markdown_table",
    "parse_settings",
    "pulumi_yaml_config",
    "recipient_identity",
    "region_availability_zones",
    "stack_config_keys",
    "stack_slug",
    "validate_zones",
]
