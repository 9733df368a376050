"""Every bad setting stops the program with a message naming the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from components.settings import PROJECT, SettingsError, region_availability_zones
from tests.settings_helpers import parse, rejected


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
        ("azCidrMask", {"availabilityZones": ["us-east-1=us-east-1a,us-east-1z"], "azCidrMask": 18}, "room for 4 AZ blocks"),
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


def test_message_names_the_bad_value():
    error = rejected("topology", topology="active-standby")
    assert "'active-standby'" in str(error)


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


def test_discovered_zones_take_the_first_az_count():
    settings = parse(azCount=3)
    zones = region_availability_zones(settings, settings.region("us-east-1"), lambda: ["us-east-1d", "us-east-1a", "us-east-1c", "us-east-1b"])
    assert zones == ("us-east-1a", "us-east-1b", "us-east-1c")


def test_region_with_too_few_zones_is_rejected_naming_az_count():
    settings = parse(azCount=3)
    with pytest.raises(SettingsError, match=f"{PROJECT}:azCount.*offers only 2"):
        region_availability_zones(settings, settings.region("us-east-1"), lambda: ["us-east-1a", "us-east-1b"])


@pytest.mark.parametrize(
    "key, overrides, fragment",
    [
        ("alertEmails", {"alertEmails": ["oncall"]}, "e-mail addresses"),
        ("alertEmails", {"alertEmails": ["on call@example.com"]}, "e-mail addresses"),
        ("alertWebhooks", {"alertWebhooks": ["http://alerts.example.com/hook"]}, "https:// URLs"),
        ("alertWebhooks", {"alertWebhooks": ["oncall@example.com"]}, "https:// URLs"),
        ("alertingEnabled", {"alertingEnabled": True}, "nobody is alerted"),
        ("alertingEnabled", {"environment": "prod", "alertEmails": ["oncall@example.com"]}, "prod must alert"),
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
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": ["chat=gpt-4o:1:Standard:5", "chat=gpt-4o:2:Standard:5"]}, "more than once"),
        ("azureOpenAiDeployments", {"azureOpenAiDeployments": []}, "at least one"),
        ("azureLocations", {"azureLocations": ["swedencentral", "swedencentral"]}, "distinct"),
        ("azureLocations", {"azureLocations": ["Sweden Central"], "azurePrimaryLocation": "Sweden Central"}, "Azure location name"),
        ("azureLocations", {"azureLocations": []}, "at least one"),
        ("azureLocations", {"azureLocations": [f"location{i}" for i in range(31)], "azurePrimaryLocation": "location0"}, "at most 30"),
        ("azurePrimaryLocation", {"azurePrimaryLocation": "westeurope"}, "must be one of azureLocations"),
        ("azureOriginResponseTimeout", {"azureOriginResponseTimeout": 15}, "between 16 and 240"),
        ("azureOriginResponseTimeout", {"azureOriginResponseTimeout": 241}, "between 16 and 240"),
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=0"]}, "between 1 and 100"),
        # API Management pools accept at most 100, although Front Door origins would take up to 1000.
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=101"]}, "between 1 and 100"),
        ("azureBackendWeights", {"azureBackendWeights": ["eastus2=heavy"]}, "between 1 and 100"),
        ("azureBackendWeights", {"azureBackendWeights": ["westeurope=10"]}, "not in regions"),
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
