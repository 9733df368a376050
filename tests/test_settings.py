"""Every bad setting stops the program with a message naming the key, the value and what is allowed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from components import network
from components.settings import PROJECT, SCHEMA, SettingsError, StackNameError, parse_settings, region_availability_zones, stack_config_keys
from components.settings.schema import SCHEMA_BY_KEY
from tests.settings_helpers import parse, raw_config, rejected


def test_defaults_are_valid():
    settings = parse()
    assert settings.topology == "active-passive"
    assert settings.region_names == ("us-east-1", "us-west-2")
    assert settings.fleet.health_check.path == "/health"


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("topology", {"topology": "active-standby"}, "'active-active', 'active-passive'"),
        ("regions", {"regions": []}, "at least one"),
        ("regions", {"regions": ["us-east-1", "us-east-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16"]}, "distinct"),
        ("regions", {"regions": ["mars-1"]}, "AWS region name"),
        ("primaryRegion", {"primaryRegion": "eu-west-1"}, "must be one of regions"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a"]}, "at least 2"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a,us-west-2b"]}, "zone of us-east-1"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a,us-east-1a"]}, "distinct"),
        ("azCount", {"azCount": 1}, "at least 2"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=8.8.0.0/16"]}, "private block"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.10.128.0/17"]}, "overlaps us-east-1"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=not-a-cidr"]}, "IPv4 network"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.1/16"]}, "host bits"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16"]}, "us-west-2 has no VPC CIDR"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.0.0.0/8", "us-west-2=172.16.0.0/16"]}, "between 16 and 28"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.0/16", "eu-west-1=10.30.0.0/16"]}, "not in regions"),
        ("azCidrMask", {"azCidrMask": 21}, "do not fit"),
        ("azCidrMask", {"vpcCidrs": ["us-east-1=10.10.0.0/24", "us-west-2=10.20.0.0/16"], "azCidrMask": 20}, "cannot be larger"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a,us-east-1z"], "azCidrMask": 18}, "room for 4 AZ blocks"),
        ("publicSubnetMask", {"publicSubnetMask": 30}, "/28"),
        ("minSize", {"minSize": 5, "maxSize": 3, "desiredCapacity": 3}, "must not exceed maxSize"),
        ("desiredCapacity", {"minSize": 2, "maxSize": 4, "desiredCapacity": 5}, "between minSize (2) and maxSize (4)"),
        ("desiredCapacity", {"minSize": 2, "maxSize": 4, "desiredCapacity": 1}, "between minSize"),
        ("healthCheckPath", {"healthCheckPath": "health"}, "must start with /"),
        ("healthCheckInterval", {"healthCheckInterval": 4}, "between 5 and 300"),
        ("healthCheckInterval", {"healthCheckInterval": 301}, "between 5 and 300"),
        ("healthCheckTimeout", {"healthCheckTimeout": 1}, "between 2 and 120"),
        ("healthCheckTimeout", {"healthCheckTimeout": 121, "healthCheckInterval": 300}, "between 2 and 120"),
        ("healthCheckTimeout", {"healthCheckTimeout": 15, "healthCheckInterval": 15}, "less than healthCheckInterval"),
        ("healthyThreshold", {"healthyThreshold": 1}, "between 2 and 10"),
        ("unhealthyThreshold", {"unhealthyThreshold": 11}, "between 2 and 10"),
        ("healthCheckMatcher", {"healthCheckMatcher": "ok"}, "HTTP codes"),
        ("healthCheckPort", {"healthCheckPort": "70000"}, "traffic-port"),
        ("natStrategy", {"natStrategy": "two"}, "'none', 'single', 'one-per-az'"),
        ("loadBalancerScheme", {"loadBalancerScheme": "public"}, "'internet-facing', 'internal'"),
        ("ingressCidrs", {"ingressCidrs": ["everyone"]}, "IPv4 CIDRs"),
        ("certificateArns", {"certificateArns": ["us-east-1=arn:aws:acm:us-west-2:123456789012:certificate/abc"]}, "in us-east-1"),
        ("certificateArns", {"certificateArns": ["us-east-1"]}, "<region>=<value>"),
        ("slowStart", {"slowStart": 10}, "or 0 to disable"),
        ("deregistrationDelay", {"deregistrationDelay": 4000}, "between 0 and 3600"),
        ("modelPort", {"modelPort": 0}, "between 1 and 65535"),
        ("amiId", {"amiId": "ubuntu"}, "ami-<hex>"),
        ("instanceRefreshMinHealthyPercentage", {"instanceRefreshMinHealthyPercentage": 101}, "between 0 and 100"),
        ("environment", {"environment": "production"}, "'dev', 'staging', 'prod'"),
        ("minSize", {"minSize": "two"}, "expected a whole number"),
        ("deletionProtection", {"deletionProtection": "yes"}, "expected true or false"),
    ],
)
def test_bad_setting_is_rejected_with_its_key(key, overrides, fragment):
    error = rejected(key, **overrides)
    assert fragment in str(error)


# The settings that list a stack's places, and places other than their defaults' (each in its catalog).
PLACE_LISTS = {"regions": ("eu-west-1", "eu-central-1"), "azureLocations": ("westeurope", "francecentral")}


def _defaults_naming_places(listed_in: str) -> list[str]:
    """The settings whose defaults name a place of `listed_in`'s default: a place itself, or <place>=<value> entries."""
    places = set(SCHEMA_BY_KEY[listed_in].default)
    found = []
    for setting in SCHEMA:
        entries = setting.default if isinstance(setting.default, list) else [setting.default]
        if setting.key != listed_in and any(isinstance(entry, str) and entry.partition("=")[0] in places for entry in entries):
            found.append(setting.key)
    return found


DEFAULTS_NAMING_PLACES = [(key, listed_in) for listed_in in PLACE_LISTS for key in _defaults_naming_places(listed_in)]


def _for_places(key: str, places: tuple[str, ...]) -> object:
    """`key`'s default moved to `places`: the first place for a single one, else each default entry's value for the next place."""
    default = SCHEMA_BY_KEY[key].default
    return places[0] if isinstance(default, str) else [f"{place}={entry.partition('=')[2]}" for place, entry in zip(places, default)]


def test_every_setting_whose_default_names_places_is_found():
    assert sorted(DEFAULTS_NAMING_PLACES) == [("azurePrimaryLocation", "azureLocations"), ("primaryRegion", "regions"), ("vpcCidrs", "regions")]


@pytest.mark.parametrize("key, listed_in", DEFAULTS_NAMING_PLACES)
@pytest.mark.parametrize("written", [False, True], ids=["unset", "set-to-the-default"])
def test_a_default_naming_other_places_is_refused_as_the_default(key, listed_in, written):
    """Under `pulumi up` a default arrives set (the CLI merges Pulumi.yaml's defaults into the stack's config), offline unset."""
    places = PLACE_LISTS[listed_in]
    overrides = {
        **{places_of: list(new_places) for places_of, new_places in PLACE_LISTS.items()},
        **{other: _for_places(other, PLACE_LISTS[its]) for other, its in DEFAULTS_NAMING_PLACES if other != key},
    }
    if written:
        overrides[key] = SCHEMA_BY_KEY[key].default
    error = rejected(key, **overrides)
    default = SCHEMA_BY_KEY[key].default
    assert str(error).startswith(f"invalid setting {PROJECT}:{key}: holds its default from Pulumi.yaml, {default!r}, ")
    assert f"this stack's {listed_in} are {list(places)}" in str(error) and f"set {key} in the stack file" in str(error)
    overrides[key] = _for_places(key, places)
    parse(**overrides)  # set for the stack's places, it is accepted


@pytest.mark.parametrize("regions", [["us-east-1", "eu-west-1"], ["us-east-1", "us-west-2", "eu-west-1"]], ids=["one-named-elsewhere", "one-missing"])
def test_regions_without_vpc_cidrs_blame_the_default_not_the_user(regions):
    error = rejected("vpcCidrs", regions=regions)
    assert str(error) == (
        f"invalid setting {PROJECT}:vpcCidrs: holds its default from Pulumi.yaml, ['us-east-1=10.10.0.0/16', 'us-west-2=10.20.0.0/16'], "
        f"which is for regions us-east-1, us-west-2, but this stack's regions are {regions}: "
        "set vpcCidrs in the stack file, with a <region>=<value> entry for each of them"
    )


def test_message_names_the_bad_value():
    error = rejected("topology", topology="active-standby")
    assert "'active-standby'" in str(error)


LONG_PATH = "/" + "h" * 299
DOMAIN = {"domainName": "models.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        # Values a component or the proxy's runtime parses later: refused here, before any resource is declared.
        ("modelArgs", {"modelArgs": '--model "Qwen/Qwen2.5-1.5B-Instruct'}, "(No closing quotation): close every quote"),
        ("modelArgs", {"modelArgs": "--model x\\"}, "(No escaped character)"),
        ("modelArgs", {"modelArgs": "--model x\n--port 1"}, "on one line"),
        ("modelArgs", {"modelArgs": "--lora " + "adapter," * 2100}, "at most 16384 bytes of user data"),
        ("modelImage", {"modelImage": "vllm/vLLM-openai:v0.6.4"}, "(repository names are lower-case)"),
        ("modelImage", {"modelImage": "vllm/vllm-openai:"}, "container image reference"),
        ("modelImage", {"modelImage": "vllm/vllm-openai@sha256:abc"}, "container image reference"),
        ("modelImage", {"modelImage": "https://ghcr.io/ggml-org/llama.cpp:server"}, "container image reference"),
        ("modelImage", {"modelImage": "ghcr.io/" + "a" * 256}, "at most 255 characters, not 256"),
        ("amiId", {"amiId": "ami-0123456789abcdef"}, "ami-<hex> (8 or 17 hexadecimal digits)"),
        ("amiId", {"amiId": "resolve:ssm:/aws/service/my image"}, "resolve:ssm:<parameter name or ARN>"),
        ("amiId", {"amiId": "resolve:ssm:/images/gpu:1st"}, "[:<version or label>]"),
        ("healthCheckMatcher", {"healthCheckMatcher": "299-200"}, "each range from low to high"),
        ("healthCheckMatcher", {"healthCheckMatcher": "200-599"}, "200-499"),
        ("healthCheckPath", {"healthCheckPath": LONG_PATH, **DOMAIN}, "Route 53 health checks probe this path too, and take at most 255 characters, not 300"),
        ("proxyBreakerBaseEjection", {"proxyBreakerBaseEjection": 61}, "between 1 and 60 seconds (the runtime caps an ejection at 60)"),
    ],
)
def test_a_value_parsed_later_is_refused_first_with_its_key(key, overrides, fragment):
    error = rejected(key, **overrides)
    assert fragment in str(error)


@pytest.mark.parametrize(
    "overrides",
    [
        {"modelArgs": "--chat-template '{{ messages }}' --served-model-name \"chat model\" --max-model-len=8192"},
        {"modelImage": "registry.example.com:5000/team/llama.cpp:server-cuda"},
        {"modelImage": "vllm/vllm-openai@sha256:" + "0" * 64},
        {"modelImage": "localhost:5000/model__server--gpu:v1.2_3"},
        {"amiId": "ami-0123456789abcdef0"},
        {"amiId": "ami-01234567"},
        {"amiId": "resolve:ssm:golden-ami"},
        {"amiId": "resolve:ssm:/images/gpu/latest:12"},
        {"amiId": "resolve:ssm:arn:aws:ssm:us-east-1:123456789012:parameter/images/gpu:production"},
        {"healthCheckMatcher": "200,202,300-399"},
        {"healthCheckPath": LONG_PATH},  # without a domain only the load balancer probes it: up to 1024 characters
        {"proxyBreakerBaseEjection": 60},
    ],
)
def test_values_the_clouds_and_the_runtime_accept_pass(overrides):
    parse(**overrides)


def test_model_args_reach_the_container_as_the_words_they_name():
    settings = parse(modelArgs="--chat-template '{{ messages }}' --served-model-name \"chat model\" --max-model-len=8192")
    assert settings.fleet.model_args == ("--chat-template", "{{ messages }}", "--served-model-name", "chat model", "--max-model-len=8192")


@pytest.mark.parametrize(
    ("runtime_key", "setting", "overrides", "value"),
    [("timeouts.first_byte", "proxyFirstByteTimeout", {"proxyFirstByteTimeout": 20}, 20), ("max_response_bytes", "proxyMemorySize", {"proxyMemorySize": 256}, 256)],
)
def test_what_the_proxys_runtime_refuses_is_refused_naming_the_setting_behind_it(monkeypatch, runtime_key, setting, overrides, value):
    from components.settings import proxy
    from failover.config import ConfigError

    def refusing(document):
        raise ConfigError(runtime_key, "x", "a stricter rule of a newer runtime")

    monkeypatch.setattr(proxy, "parse_config", refusing)
    error = rejected(setting, **overrides)
    assert error.value == value and f"the model proxy's runtime would refuse its configuration ({runtime_key}: 'x'" in str(error)


def test_the_proxys_runtime_accepts_the_largest_ejection_settings_allow():
    from failover.config import parse_config

    stand_in = {"topology": "active-passive", "upstreams": [{"name": "fleet", "url": "https://fleet.example.com"}]}
    router = parse_config({**stand_in, **parse(proxyBreakerBaseEjection=60).proxy.router_config()})
    assert router.breaker.base_ejection == 60 <= router.breaker.max_ejection


def test_region_map_accepts_pinned_zones_and_certificates():
    settings = parse(
        availabilityZones=["us-west-2=us-west-2b,us-west-2a"],
        certificateArns=["us-west-2=arn:aws:acm:us-west-2:123456789012:certificate/abc-123"],
        domainName="models.example.com",
        hostedZoneId="Z0123456789EXAMPLE",
    )
    west = settings.region("us-west-2")
    assert west.availability_zones == ("us-west-2b", "us-west-2a")
    assert west.certificate_arn.endswith("abc-123")
    assert settings.region("us-east-1").availability_zones is None


def test_discovered_zones_take_the_first_az_count_by_name():
    settings = parse(azCount=3)
    zones = region_availability_zones(settings, settings.region("us-east-1"), lambda: ["us-east-1d", "us-east-1a", "us-east-1c", "us-east-1b"], warn=pytest.fail)
    assert zones == ("us-east-1a", "us-east-1b", "us-east-1c")


def test_zones_are_discovered_in_any_state_so_an_impaired_zone_never_moves_a_deployed_network(monkeypatch):
    """Choosing from the zones "available" today would drop an impaired one and shift the subnets of the next up."""
    asked = {}

    def get_availability_zones(**kwargs):
        asked.update(kwargs)
        return SimpleNamespace(names=["us-east-1b", "us-east-1a"])

    monkeypatch.setattr(network.aws, "get_availability_zones", get_availability_zones)
    assert network.discover_availability_zones(None) == ["us-east-1a", "us-east-1b"]
    assert asked.get("state") is None and asked.get("all_availability_zones") is not True
    assert [(f.name, f.values) for f in asked["filters"]] == [("opt-in-status", ["opt-in-not-required"])]


def test_pinned_zones_must_exist_in_their_region():
    settings = parse(availabilityZones=["us-east-1=us-east-1a,us-east-1g", "us-west-2=us-west-2a,us-west-2b"])
    with pytest.raises(SettingsError) as caught:
        region_availability_zones(settings, settings.region("us-east-1"), lambda: [f"us-east-1{letter}" for letter in "abcdef"], warn=pytest.fail)
    assert caught.value.key == f"{PROJECT}:availabilityZones" and caught.value.value == "us-east-1=us-east-1g"
    assert region_availability_zones(settings, settings.region("us-west-2"), lambda: ["us-west-2b", "us-west-2a"], warn=pytest.fail) == ("us-west-2a", "us-west-2b")


def test_pinned_zones_are_used_as_given_with_a_warning_while_their_region_does_not_answer():
    """A region whose EC2 API is down must not stop an update of the others (pulumi up --target)."""
    settings = parse(availabilityZones=["us-east-1=us-east-1a,us-east-1b"])
    warnings = []

    def unreachable() -> list[str]:
        raise Exception("invoke of aws:index/getAvailabilityZones:getAvailabilityZones failed: RequestError: send request failed")

    assert region_availability_zones(settings, settings.region("us-east-1"), unreachable, warn=warnings.append) == ("us-east-1a", "us-east-1b")
    assert len(warnings) == 1 and "us-east-1" in warnings[0] and "send request failed" in warnings[0]
    unpinned = parse()
    with pytest.raises(Exception, match="send request failed"):
        region_availability_zones(unpinned, unpinned.region("us-east-1"), unreachable, warn=warnings.append)


def test_region_with_too_few_zones_is_rejected_naming_az_count():
    settings = parse(azCount=3)
    with pytest.raises(SettingsError, match=f"{PROJECT}:azCount.*offers only 2"):
        region_availability_zones(settings, settings.region("us-east-1"), lambda: ["us-east-1a", "us-east-1b"], warn=pytest.fail)


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("alertEmails", {"alertEmails": ["oncall"]}, "e-mail addresses"),
        ("alertEmails", {"alertEmails": ["on call@example.com"]}, "e-mail addresses"),
        ("alertWebhooks", {"alertWebhooks": ["http://alerts.example.com/hook"]}, "https:// URLs"),
        ("alertWebhooks", {"alertWebhooks": ["oncall@example.com"]}, "https:// URLs"),
        ("alertingEnabled", {"alertingEnabled": True}, "nobody is alerted"),
        ("alertingEnabled", {"environment": "prod", "dbBackupRetentionDays": 14, "alertEmails": ["oncall@example.com"]}, "prod must alert"),
        ("alarmTarget5xxPercent", {"alarmTarget5xxPercent": 101}, "between 0 and 100 percent"),
        ("alarmLb5xxPercent", {"alarmLb5xxPercent": -1}, "between 0 and 100 percent"),
        ("alarmDbCpuPercent", {"alarmDbCpuPercent": 150}, "between 0 and 100 percent"),
        ("alarmOriginHealthPercent", {"alarmOriginHealthPercent": 120}, "between 0 and 100 percent"),
        ("alarmLatencyP99Seconds", {"alarmLatencyP99Seconds": -5}, "between 1 and 3600 seconds"),
        ("alarmLambdaDurationP99Seconds", {"alarmLambdaDurationP99Seconds": -1}, "between 1 and 900 seconds"),
        ("alarmReplicaLagSeconds", {"alarmReplicaLagSeconds": 0}, "between 1 and 86400 seconds"),
        ("alarmDbFreeStorageGiB", {"alarmDbFreeStorageGiB": 0}, "between 1 and 65536 GiB"),
        ("alarmLambdaErrors", {"alarmLambdaErrors": -1}, "between 0 and 1000000"),
        ("alarmGatewayBackend429", {"alarmGatewayBackend429": -1}, "between 0 and 1000000"),
        ("alarmEvaluationPeriods", {"alarmEvaluationPeriods": 0, "alarmDatapointsToAlarm": 1}, "at least 1"),
        ("alarmEvaluationPeriods", {"alarmPeriodSeconds": 3600, "alarmEvaluationPeriods": 25}, "one day"),
        ("alarmDatapointsToAlarm", {"alarmEvaluationPeriods": 3, "alarmDatapointsToAlarm": 4}, "between 1 and alarmEvaluationPeriods (3)"),
        ("alarmDatapointsToAlarm", {"alarmDatapointsToAlarm": 0}, "between 1 and alarmEvaluationPeriods"),
        ("alarmPeriodSeconds", {"alarmPeriodSeconds": 90}, "multiple of 60"),
        ("alarmPeriodSeconds", {"alarmPeriodSeconds": 30}, "multiple of 60"),
        ("alarmHealthyHostFloor", {"alarmHealthyHostFloor": 3, "minSize": 2}, "between 1 and minSize (2)"),
        ("alarmHealthyHostFloor", {"alarmHealthyHostFloor": 0}, "between 1 and minSize"),
    ],
)
def test_bad_monitoring_setting_is_rejected_with_its_key(key, overrides, fragment):
    error = rejected(key, **overrides)
    assert fragment in str(error)


AZURE_ON = {"azureEnabled": True, "azureApimPublisherEmail": "platform@example.com"}


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("azureApimSku", {"azureApimSku": "Consumption"}, "no backend pools or circuit breakers"),
        ("azureApimSku", {"azureApimSku": "Gold"}, "'StandardV2'"),
        ("azureApimCapacity", {"azureApimSku": "Developer", "azureApimCapacity": 2}, "between 1 and 1 scale units for Developer"),
        ("azureApimCapacity", {"azureApimCapacity": 0}, "between 1 and 10"),
        ("azureFrontDoorSku", {"azureFrontDoorSku": "Classic_AzureFrontDoor"}, "'Standard_AzureFrontDoor', 'Premium_AzureFrontDoor'"),
        ("azureOpenAiPublicNetworkAccess", {"azureOpenAiPublicNetworkAccess": "Open"}, "'Enabled', 'Disabled'"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o=gpt-4o:2024-11-20:Premium:50"]}, "SKU must be one of"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o=gpt-4o:2024-11-20:GlobalStandard:0"]}, "greater than 0"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o=gpt-4o:2024-11-20:GlobalStandard:-5"]}, "greater than 0"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o=gpt-4o:2024-11-20:GlobalStandard:lots"]}, "greater than 0"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o=gpt-4o:GlobalStandard:50"]}, "name=model:version:sku:capacity"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["gpt-4o:2024-11-20:GlobalStandard:50"]}, "name=model:version:sku:capacity"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["a b=gpt-4o:2024-11-20:GlobalStandard:50"]}, "deployment names"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["chat=GPT 4o:2024-11-20:GlobalStandard:50"]}, "model name"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["chat=gpt-4o:2024 11:GlobalStandard:50"]}, "model version"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["chat=gpt-4o:1:Standard:5", "chat=gpt-4o:2:Standard:5"]}, "deployment names must be distinct"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": []}, "at least one"),
        ("azureLocations", {"azureLocations": ["swedencentral", "swedencentral"]}, "distinct"),
        ("azureLocations", {"azureLocations": ["Sweden Central"], "azurePrimaryLocation": "Sweden Central"}, "did you mean 'swedencentral'"),
        ("azureLocations", {"azureLocations": []}, "at least one"),
        ("azureLocations", {"azureLocations": [f"location{i}" for i in range(31)], "azurePrimaryLocation": "location0"}, "at most 30"),
        ("azurePrimaryLocation", {"azurePrimaryLocation": "westeurope"}, "must be one of azureLocations"),
        ("azureOriginResponseTimeout", {"azureOriginResponseTimeout": 15}, "between 16 and 240"),
        ("azureOriginResponseTimeout", {"azureOriginResponseTimeout": 241}, "between 16 and 240"),
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=0"]}, "between 1 and 100"),
        # API Management pools accept at most 100, although Front Door origins would take up to 1000.
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=101"]}, "between 1 and 100"),
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=heavy"]}, "between 1 and 100"),
        ("azureBackendWeights", {"azureBackendWeights": ["westeurope=10"]}, "location 'westeurope' is not in azureLocations"),
        ("azureBreakerFailureCount", {"azureBreakerFailureCount": 0}, "between 1 and 1000"),
        ("azureBreakerInterval", {"azureBreakerInterval": 0}, "between 1 and 3600"),
        ("azureBreakerTripDuration", {"azureBreakerTripDuration": 3601}, "between 1 and 3600"),
        ("azureTokensPerMinute", {"azureTokensPerMinute": 0}, "between 1 and"),
        ("azureProbeInterval", {"azureProbeInterval": 256}, "between 1 and 255"),
        ("azureApimPublisherEmail", {"azureEnabled": True}, "required when azureEnabled"),
        ("azureApimPublisherEmail", {"azureApimPublisherEmail": "platform"}, "e-mail address"),
        ("azureApimPublisherName", {"azureApimPublisherName": ""}, "1-100 characters"),
        ("azureEnabled", {"azureEnabled": "yes"}, "expected true or false"),
    ],
)
def test_bad_azure_setting_is_rejected_with_its_key(key, overrides, fragment):
    error = rejected(key, **overrides)
    assert fragment in str(error)


def test_alerting_off_keeps_recipients_but_subscribes_no_one():
    quiet = parse(alertEmails=["oncall@example.com"], alertWebhooks=["https://alerts.example.com/hook"])
    loud = parse(alertingEnabled=True, alertEmails=["oncall@example.com"], alertWebhooks=["https://alerts.example.com/hook"])
    assert quiet.monitoring.subscribers == ()
    assert loud.monitoring.subscribers == (("email", "oncall@example.com"), ("https", "https://alerts.example.com/hook"))
def test_azure_defaults_are_off_and_enabling_needs_only_a_publisher_email():
    assert parse().azure.enabled is False
    azure = parse(**AZURE_ON).azure
    assert azure.enabled and azure.apim_sku == "StandardV2" and azure.locations == ("swedencentral", "eastus2")
    assert [(d.name, d.model, d.version, d.sku, d.capacity) for d in azure.deployments] == [("gpt-4o", "gpt-4o", "2024-11-20", "GlobalStandard", 50)]


@pytest.mark.parametrize(
    "topology, expected",
    [
        ("active-passive", {"swedencentral": (1, 7), "eastus2": (2, 1), "westus3": (2, 1)}),
        ("active-active", {"swedencentral": (1, 7), "eastus2": (1, 1), "westus3": (1, 1)}),
    ],
)
def test_traffic_shares_follow_the_topology(topology, expected):
    azure = parse(azureLocations=["swedencentral", "eastus2", "westus3"], azureBackendWeights=["swedencentral=7"]).azure
    shares = azure.traffic_shares(topology)
    assert {location: (share.priority, share.weight) for location, share in shares.items()} == expected


@pytest.mark.parametrize("sku, locations, multi_region", [("Premium", 2, True), ("Premium", 1, False), ("StandardV2", 2, False)])
def test_only_premium_runs_gateways_in_several_locations(sku, locations, multi_region):
    azure = parse(azureApimSku=sku, azureLocations=["swedencentral", "eastus2"][:locations]).azure
    assert azure.multi_region_gateway is multi_region


# What AWS and Azure would refuse is refused here first: repeated entries, names no catalog lists,
# keys the project does not declare, and every message names the setting and the entry to change.

SIX_REGIONS = {
    "topology": "active-active",
    "regions": ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"],
    "vpcCidrs": [f"{region}=10.{10 * (i + 1)}.0.0/16" for i, region in enumerate(["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"])],
}


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"regions": ["us-east-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16"]}, id="one region"),
        pytest.param(SIX_REGIONS, id="six regions"),
        pytest.param({"availabilityZones": ["us-east-1=us-east-1a,us-east-1c,us-east-1f", "us-west-2=us-west-2b,us-west-2a"]}, id="pinned zones"),
        pytest.param({"azureEnabled": False, "azureLocations": ["swedencentral"], "azurePrimaryLocation": "swedencentral"}, id="azure off"),
        pytest.param({"standby": "warm-standby", "standbyMinSize": 1, "standbyMaxSize": 3, "standbyDesiredCapacity": 2}, id="warm standby"),
        pytest.param({"loadBalancerScheme": "internal", "ingressCidrs": ["10.0.0.0/8", "192.168.0.0/16"]}, id="internal load balancer"),
        pytest.param({"regions": ["cn-north-1", "cn-northwest-1"], "primaryRegion": "cn-north-1", "vpcCidrs": ["cn-north-1=10.10.0.0/16", "cn-northwest-1=10.20.0.0/16"],
                      "certificateArns": ["cn-north-1=arn:aws-cn:acm:cn-north-1:123456789012:certificate/abc"], "proxyEnabled": False}, id="china partition"),
    ],
)
def test_good_configurations_keep_working(overrides):
    settings = parse(**overrides)
    assert settings.region_names == tuple(overrides.get("regions", ("us-east-1", "us-west-2")))


@pytest.mark.parametrize(
    "key, overrides, repeated",
    [
        ("alertEmails", {"alertEmails": ["oncall@example.com", "oncall@example.com"]}, "oncall@example.com"),
        ("alertEmails", {"alertEmails": ["oncall@example.com", "ops@example.com", "OnCall@Example.COM"]}, "OnCall@Example.COM"),
        ("alertWebhooks", {"alertWebhooks": ["https://alerts.example.com/hook", "https://alerts.example.com/hook"]}, "https://alerts.example.com/hook"),
        ("alertWebhooks", {"alertWebhooks": ["https://alerts.example.com/hook", "https://ALERTS.example.com/hook"]}, "https://ALERTS.example.com/hook"),
        ("ingressCidrs", {"ingressCidrs": ["203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"]}, "203.0.113.0/24"),
        ("ingressCidrs", {"ingressCidrs": ["0.0.0.0/0", "0.0.0.0/0"]}, "0.0.0.0/0"),
        ("regions", {"regions": ["us-east-1", "us-west-2", "us-east-1"]}, "us-east-1"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a,us-east-1b,us-east-1a"]}, "us-east-1=us-east-1a"),
        ("azureLocations", {"azureLocations": ["swedencentral", "eastus2", "swedencentral"]}, "swedencentral"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["chat=gpt-4o:2024-11-20:GlobalStandard:5", "Chat=gpt-4o-mini:2024-07-18:GlobalStandard:5"]},
         "Chat=gpt-4o-mini:2024-07-18:GlobalStandard:5"),
        ("unlistedNames", {"unlistedNames": ["instanceType=p9.48xlarge", "instanceType=p9.48xlarge"]}, "instanceType=p9.48xlarge"),
    ],
)
def test_repeated_entry_is_refused_naming_the_key_and_the_entry(key, overrides, repeated):
    error = rejected(key, **overrides)
    assert error.value == repeated
    assert "more than once" in str(error) or "repeats" in str(error)


def test_recipients_settings_accepts_as_distinct_get_distinct_resource_names():
    # The alert subscriptions are named by recipient_key: whatever settings let through as distinct must not collide there.
    from components.monitoring import recipient_key

    emails = ["oncall@example.com", "on.call@example.com", "oncall@example.org"]
    webhooks = ["https://alerts.example.com/hook", "https://alerts.example.com/hook/", "https://alerts.example.com/Hook2"]
    monitoring = parse(alertEmails=emails, alertWebhooks=webhooks).monitoring
    keys = [recipient_key(endpoint) for endpoint in (*monitoring.alert_emails, *monitoring.alert_webhooks)]
    assert len(set(keys)) == len(keys) == 6


@pytest.mark.parametrize(
    "key, overrides, suggestion",
    [
        ("regions", {"regions": ["us-east-9"], "vpcCidrs": ["us-east-9=10.10.0.0/16"], "primaryRegion": "us-east-9"}, "'us-east-1'"),
        ("regions", {"regions": ["us-east-1", "eu-wset-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16", "eu-wset-1=10.20.0.0/16"]}, "'eu-west-1'"),
        ("regions", {"regions": ["us-east-1", "ap-southeast-9"], "vpcCidrs": ["us-east-1=10.10.0.0/16", "ap-southeast-9=10.20.0.0/16"]}, "'ap-southeast-"),
        ("regions", {"regions": ["US-EAST-1"]}, "'us-east-1'"),
        ("instanceType", {"instanceType": "g5.xlage"}, "'g5.xlarge'"),
        ("instanceType", {"instanceType": "t3.lrage"}, "'t3.large'"),
        ("instanceType", {"instanceType": "p9.48xlarge"}, "unlistedNames"),
        ("dbInstanceClass", {"dbInstanceClass": "db.r6g.lage"}, "'db.r6g.large'"),
        ("dbInstanceClass", {"dbInstanceClass": "db.r6x.large"}, "unlistedNames"),
        ("dbReplicaInstanceClass", {"dbReplicaInstanceClass": "db.r9z.large"}, "unlistedNames"),
        ("sslPolicy", {"sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-07"}, "'ELBSecurityPolicy-TLS13-1-2-2021-06'"),
        ("azureLocations", {"azureLocations": ["swedencentral", "eastsu2"]}, "'eastus2'"),
        ("azureLocations", {"azureLocations": ["westeurope2"], "azurePrimaryLocation": "westeurope2"}, "'westeurope'"),
        ("azureLocations", {"azureLocations": ["EastUS2"], "azurePrimaryLocation": "EastUS2"}, "'eastus2'"),
    ],
)
def test_well_formed_name_no_catalog_lists_is_refused_with_the_closest_names(key, overrides, suggestion):
    error = rejected(key, **overrides)
    assert suggestion in str(error)


def test_a_refused_name_says_which_catalog_and_how_to_vouch_for_it():
    error = rejected("instanceType", instanceType="p9.48xlarge")
    message = str(error)
    assert "EC2 instance type 'p9.48xlarge' is not in botocore" in message
    assert f'add "instanceType=p9.48xlarge" to {PROJECT}:unlistedNames' in message


def test_unlisted_names_vouch_for_real_names_newer_than_the_catalogs():
    settings = parse(
        regions=["us-east-1", "us-east-9"],
        vpcCidrs=["us-east-1=10.10.0.0/16", "us-east-9=10.20.0.0/16"],
        instanceType="p9.48xlarge",
        dbInstanceClass="db.x2g.large",
        sslPolicy="ELBSecurityPolicy-TLS13-1-2-2030-01",
        azureLocations=["swedencentral", "marscentral"],
        proxyEnabled=False,  # the proxy's adapter layer is published only in the regions it lists
        unlistedNames=[
            "regions=us-east-9",
            "instanceType=p9.48xlarge",
            "dbInstanceClass=db.x2g.large",
            "sslPolicy=ELBSecurityPolicy-TLS13-1-2-2030-01",
            "azureLocations=marscentral",
        ],
    )
    assert settings.region_names == ("us-east-1", "us-east-9")
    assert settings.fleet.instance_type == "p9.48xlarge" and settings.multi_region.database.instance_class == "db.x2g.large"
    assert settings.azure.locations == ("swedencentral", "marscentral")


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        # Vouching names a setting and an exact name, and never excuses a malformed one.
        ("regions", {"regions": ["mars-1"], "unlistedNames": ["regions=mars-1"]}, "AWS region name"),
        ("instanceType", {"instanceType": "P9.48XLARGE", "unlistedNames": ["instanceType=P9.48XLARGE"]}, "EC2 instance type"),
        ("dbInstanceClass", {"dbInstanceClass": "db.x2g.large", "unlistedNames": ["dbReplicaInstanceClass=db.x2g.large"]}, "unlistedNames"),
        ("unlistedNames", {"unlistedNames": ["topology=active-standby"]}, "not checked against a catalog"),
        ("unlistedNames", {"unlistedNames": ["instancetype=p9.48xlarge"]}, "did you mean 'instanceType'"),
        ("unlistedNames", {"unlistedNames": ["p9.48xlarge"]}, "<setting>=<name>"),
    ],
)
def test_unlisted_names_are_checked_too(key, overrides, fragment):
    assert fragment in str(rejected(key, **overrides))


@pytest.mark.parametrize(
    "key, overrides, entry, fragment",
    [
        ("regions", {"regions": ["us-east-1", "cn-north-1"], "vpcCidrs": ["us-east-1=10.10.0.0/16", "cn-north-1=10.20.0.0/16"]},
         ["us-east-1", "cn-north-1"], "us-east-1 (aws), cn-north-1 (aws-cn)"),
        ("regions", {"regions": ["us-gov-west-1", "us-west-2"], "primaryRegion": "us-west-2", "vpcCidrs": ["us-gov-west-1=10.10.0.0/16", "us-west-2=10.20.0.0/16"]},
         ["us-gov-west-1", "us-west-2"], "one AWS partition"),
        ("certificateArns", {"certificateArns": ["us-east-1=arn:aws-cn:acm:us-east-1:123456789012:certificate/abc"]},
         "us-east-1=arn:aws-cn:acm:us-east-1:123456789012:certificate/abc", "arn:aws:acm:us-east-1:"),
    ],
)
def test_regions_and_their_arns_stay_in_one_partition(key, overrides, entry, fragment):
    error = rejected(key, **overrides)
    assert error.value == entry and fragment in str(error)


@pytest.mark.parametrize(
    "key, overrides, entry, fragment",
    [
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.0.0.0/8", "us-west-2=172.16.0.0/16"]}, "us-east-1=10.0.0.0/8", "between 16 and 28"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.0/29"]}, "us-west-2=10.20.0.0/29", "not 29"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=8.8.0.0/16"]}, "us-west-2=8.8.0.0/16", "private block"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16", "us-west-2=10.20.0.1/16"]}, "us-west-2=10.20.0.1/16", "host bits"),
        ("vpcCidrs", {"vpcCidrs": ["us-east-1=10.10.0.0/16"]}, ["us-east-1=10.10.0.0/16"], "add us-west-2=<cidr>"),
        ("availabilityZones", {"availabilityZones": ["us-east-1=us-east-1a,us-east-1z"]}, "us-east-1=us-east-1z", "check the zone name"),
        ("availabilityZones", {"availabilityZones": ["us-west-2=us-west-2a,us-west-2e"], "azCidrMask": 18}, "us-west-2=us-west-2e", "room for 4 AZ blocks of /18"),
        ("azureBackendWeights", {"azureBackendWeights": ["swedencentral=5", "westeurope=10"]}, "westeurope=10", "not in azureLocations"),
        ("certificateArns", {"certificateArns": ["US-EAST-1=arn:aws:acm:us-east-1:123456789012:certificate/abc"]},
         "US-EAST-1=arn:aws:acm:us-east-1:123456789012:certificate/abc", "did you mean 'us-east-1'"),
        ("natStrategy", {"natStrategy": "one-per-zone"}, "one-per-zone", "did you mean 'one-per-az'"),
    ],
)
def test_message_names_the_setting_to_change_and_the_entry_within_it(key, overrides, entry, fragment):
    error = rejected(key, **overrides)
    assert error.value == entry and fragment in str(error)


@pytest.mark.parametrize(
    "keys, named, suggestion",
    [
        ([f"{PROJECT}:topolgy"], "topolgy", "did you mean 'topology'"),
        ([f"{PROJECT}:Regions"], "Regions", "did you mean 'regions'"),
        ([f"{PROJECT}:azureEnabeld", f"{PROJECT}:vpcCidr"], "azureEnabeld", "did you mean 'azureEnabled'"),
        ([f"{PROJECT}:azureEnabeld", f"{PROJECT}:vpcCidr"], "azureEnabeld", f"Also undeclared: {PROJECT}:vpcCidr; did you mean 'vpcCidrs'"),
        ([f"{PROJECT}:dbPasword", "aws:region"], "dbPasword", ""),
    ],
)
def test_undeclared_key_of_the_project_is_refused_with_the_closest_declared_one(keys, named, suggestion):
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw_config(**{key.split(":", 1)[1]: "s3cr3t-value" for key in keys}), "test", keys=keys)
    message = str(caught.value)
    assert message.startswith(f"invalid setting {PROJECT}:{named}: this project declares no such setting")
    assert suggestion in message
    assert "s3cr3t-value" not in message  # an undeclared key's value may be a secret


@pytest.mark.parametrize(
    "keys, sentence",
    [
        ([f"{PROJECT}:xyzzy"], "this project declares no such setting, so its value would be ignored. Every setting is listed in Pulumi.yaml and the README."),
        (
            [f"{PROJECT}:zzz", f"{PROJECT}:vpcCidr", f"{PROJECT}:qqq"],
            f"this project declares no such setting, so its value would be ignored. Also undeclared: {PROJECT}:vpcCidr; did you mean 'vpcCidrs'? "
            f"Also undeclared: {PROJECT}:zzz. Every setting is listed in Pulumi.yaml and the README.",
        ),
    ],
)
def test_an_undeclared_key_is_refused_in_whole_sentences(keys, sentence):
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw_config(**{key.split(":", 1)[1]: "x" for key in keys}), "test", keys=keys)
    assert str(caught.value) == f"invalid setting {sorted(keys)[0]}: {sentence}"


def test_keys_of_other_namespaces_are_not_ours():
    keys = [
        "aws:region", "aws:profile", "azure-native:location", "pulumi:tags", "random:length", "kubernetes:context",
        f"{PROJECT}-other:topology", f"{PROJECT}:topology",
    ]  # fmt: skip
    assert parse_settings(raw_config(topology="active-active"), "test", keys=keys).topology == "active-active"


@pytest.mark.parametrize(
    "keys, named, meant",
    [
        (["ha-model-servng:deletionProtection"], "ha-model-servng:deletionProtection", "did you mean ha-model-serving:deletionProtection?"),
        (["ha_model_serving:topology"], "ha_model_serving:topology", "did you mean ha-model-serving:topology?"),
        (["ha-modle-serving:regions"], "ha-modle-serving:regions", "did you mean ha-model-serving:regions?"),
        (["HA-Model-Serving:topology"], "HA-Model-Serving:topology", "did you mean ha-model-serving:topology?"),
        (["ha-model-servng:deletionProtecton"], "ha-model-servng:deletionProtecton", "did you mean ha-model-serving:deletionProtection?"),
        (["aws:region", "hamodel-serving:minSize", "ha-model-servin:maxSize"], "ha-model-servin:maxSize",
         "did you mean ha-model-serving:maxSize? Also hamodel-serving:minSize: did you mean ha-model-serving:minSize?"),
    ],
)
def test_a_misspelt_project_namespace_is_refused_with_the_key_it_meant(keys, named, meant):
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw_config(**{key.split(":", 1)[1]: "s3cr3t-value" for key in keys}), "test", keys=keys)
    message = str(caught.value)
    assert caught.value.key == named and message.startswith(f"invalid setting {named}: ")
    assert "is not this project's namespace, so nothing reads the value" in message and meant in message
    assert "s3cr3t-value" not in message  # the value of a key nobody reads may be a secret


def test_stack_config_keys_come_from_the_runtime_and_from_pulumi_config(monkeypatch):
    import contextvars

    from pulumi.runtime import config as runtime_config

    def keys_seen() -> frozenset[str]:
        runtime_config.set_all_config({f"{PROJECT}:topology": "active-active"})
        return stack_config_keys()

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({f"{PROJECT}:topolgy": "active-active", "aws:region": "us-east-1"}))
    assert contextvars.copy_context().run(keys_seen) == {f"{PROJECT}:topology", f"{PROJECT}:topolgy", "aws:region"}


def test_a_stack_name_that_would_make_a_database_identifier_rds_refuses_is_refused_before_anything():
    """RDS identifiers are at most 63 characters; each region's database is <project>-<stack>-<region>."""
    regions = {"regions": ["us-east-1", "ap-southeast-5"], "primaryRegion": "us-east-1", "vpcCidrs": ["us-east-1=10.10.0.0/16", "ap-southeast-5=10.20.0.0/16"]}
    longest_allowed = "s" * (63 - len("ha-model-serving--ap-southeast-5"))
    assert parse_settings(raw_config(**regions), stack=longest_allowed).slug == f"ha-model-serving-{longest_allowed}"
    with pytest.raises(StackNameError, match=rf"invalid stack name '{longest_allowed}s': .* at most 63 characters; .* at most {len(longest_allowed)} characters"):
        parse_settings(raw_config(**regions), stack=longest_allowed + "s")


@pytest.mark.parametrize(("memory", "body_mib", "event_mib"), [(128, 16, 4), (512, 64, 16), (10240, 1024, 16)])
def test_the_proxys_response_limits_follow_its_memory_and_its_runtime_accepts_them(memory, body_mib, event_mib):
    from failover.config import parse_config

    stand_in = {"topology": "active-passive", "upstreams": [{"name": "fleet", "url": "https://fleet.example.com"}]}
    router = parse_config({**stand_in, **parse(proxyMemorySize=memory).proxy.router_config()})
    assert (router.max_response_bytes, router.max_event_bytes) == (body_mib * 2**20, event_mib * 2**20)
