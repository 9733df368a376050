"""Fleet settings: the model servers of every region, their load balancer, health checks and capacity."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from components import catalogs
from components.settings.reading import Reader, SettingsError, choice, in_range, require_distinct

LOAD_BALANCER_SCHEMES = ("internet-facing", "internal")
# What AWS accepts for an ALB target group (elbv2 CreateTargetGroup limits).
HEALTH_CHECK_INTERVAL = (5, 300)
HEALTH_CHECK_TIMEOUT = (2, 120)
HEALTH_CHECK_THRESHOLD = (2, 10)
SLOW_START = (30, 900)  # or 0 to disable
DEREGISTRATION_DELAY = (0, 3600)


@dataclass(frozen=True)
class HealthCheck:
    """How the load balancer probes each model server (seconds, HTTP codes)."""

    path: str
    port: str
    matcher: str
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class Capacity:
    """Model servers of one autoscaling group: min_size <= desired <= max_size."""

    min_size: int
    max_size: int
    desired: int


@dataclass(frozen=True)
class FleetSettings:
    """The model servers and their load balancer, the same in every region (capacity at full size)."""

    instance_type: str
    ami_id: str
    root_volume_size: int
    model_image: str
    model_args: str
    model_port: int
    health_check: HealthCheck
    capacity: Capacity
    deregistration_delay: int
    slow_start: int
    health_check_grace_period: int
    instance_refresh_min_healthy_percentage: int
    requests_per_target: int
    load_balancer_scheme: str
    ingress_cidrs: tuple[str, ...]
    ssl_policy: str


def parse_fleet(read: Reader) -> FleetSettings:
    """Every fleet setting, refused with its key where EC2 or Elastic Load Balancing would refuse it."""
    health_check = _parse_health_check(read)
    capacity = parse_capacity(read)

    model_port = in_range("modelPort", read.integer("modelPort"), (1, 65535))
    ami_id = read.string("amiId")
    if not re.fullmatch(r"ami-[0-9a-f]{8,17}|resolve:ssm:/\S+", ami_id):
        raise SettingsError("amiId", ami_id, "expected ami-<hex> or resolve:ssm:<parameter path>")
    model_image = read.string("modelImage")
    if not model_image or re.search(r"\s", model_image):
        raise SettingsError("modelImage", model_image, "expected a container image reference without spaces")
    slow_start = read.integer("slowStart")
    if slow_start != 0:
        in_range("slowStart", slow_start, SLOW_START, " seconds, or 0 to disable")
    ingress_cidrs = read.strings("ingressCidrs")
    for cidr in ingress_cidrs:
        try:
            ipaddress.IPv4Network(cidr, strict=True)
        except ValueError:
            raise SettingsError("ingressCidrs", cidr, "expected IPv4 CIDRs such as 203.0.113.0/24") from None
    # Each block becomes one security group rule per listener port; EC2 refuses a rule it already has.
    require_distinct("ingressCidrs", ingress_cidrs, "CIDR blocks", identity=ipaddress.IPv4Network)

    return FleetSettings(
        instance_type=_instance_type(read, read.string("instanceType")),
        ami_id=ami_id,
        root_volume_size=in_range("rootVolumeSize", read.integer("rootVolumeSize"), (8, 16384), " GiB"),
        model_image=model_image,
        model_args=read.string("modelArgs"),
        model_port=model_port,
        health_check=health_check,
        capacity=capacity,
        deregistration_delay=in_range("deregistrationDelay", read.integer("deregistrationDelay"), DEREGISTRATION_DELAY, " seconds"),
        slow_start=slow_start,
        health_check_grace_period=in_range("healthCheckGracePeriod", read.integer("healthCheckGracePeriod"), (0, 7200), " seconds"),
        instance_refresh_min_healthy_percentage=in_range(
            "instanceRefreshMinHealthyPercentage", read.integer("instanceRefreshMinHealthyPercentage"), (0, 100), " percent"
        ),
        requests_per_target=in_range("requestsPerTarget", read.integer("requestsPerTarget"), (1, 1_000_000)),
        load_balancer_scheme=choice("loadBalancerScheme", read.string("loadBalancerScheme"), LOAD_BALANCER_SCHEMES),
        ingress_cidrs=ingress_cidrs,
        ssl_policy=_ssl_policy(read, read.string("sslPolicy")),
    )


def _instance_type(read: Reader, value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
        raise SettingsError("instanceType", value, "expected an EC2 instance type such as g5.xlarge")
    return read.listed("instanceType", value, catalogs.ec2_instance_types())


def _ssl_policy(read: Reader, value: str) -> str:
    if not value.startswith("ELBSecurityPolicy-"):
        raise SettingsError("sslPolicy", value, "expected an ELB security policy name such as ELBSecurityPolicy-TLS13-1-2-2021-06")
    return read.listed("sslPolicy", value, catalogs.alb_tls_policies())


def _parse_health_check(read: Reader) -> HealthCheck:
    path = read.string("healthCheckPath")
    if not path.startswith("/") or len(path) > 1024:
        raise SettingsError("healthCheckPath", path, "must start with / (at most 1024 characters)")
    port = read.string("healthCheckPort")
    if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise SettingsError("healthCheckPort", port, "expected traffic-port or a port number 1-65535")
    matcher = read.string("healthCheckMatcher")
    if not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", matcher) or not all(
        200 <= int(code) <= 499 for code in re.findall(r"\d{3}", matcher)
    ):
        raise SettingsError("healthCheckMatcher", matcher, "expected HTTP codes 200-499 such as 200, 200,202 or 200-299")
    interval = in_range("healthCheckInterval", read.integer("healthCheckInterval"), HEALTH_CHECK_INTERVAL, " seconds")
    timeout = in_range("healthCheckTimeout", read.integer("healthCheckTimeout"), HEALTH_CHECK_TIMEOUT, " seconds")
    if timeout >= interval:
        raise SettingsError("healthCheckTimeout", timeout, f"must be less than healthCheckInterval ({interval} seconds)")
    return HealthCheck(
        path=path,
        port=port,
        matcher=matcher,
        interval_seconds=interval,
        timeout_seconds=timeout,
        healthy_threshold=in_range("healthyThreshold", read.integer("healthyThreshold"), HEALTH_CHECK_THRESHOLD),
        unhealthy_threshold=in_range("unhealthyThreshold", read.integer("unhealthyThreshold"), HEALTH_CHECK_THRESHOLD),
    )


def parse_capacity(read: Reader, keys: tuple[str, str, str] = ("minSize", "maxSize", "desiredCapacity")) -> Capacity:
    """A capacity from the (min, max, desired) keys, refused unless 0 <= min <= desired <= max and max >= 1."""
    min_key, max_key, desired_key = keys
    min_size, max_size, desired = read.integer(min_key), read.integer(max_key), read.integer(desired_key)
    if min_size < 0:
        raise SettingsError(min_key, min_size, "must be 0 or more")
    if max_size < 1:
        raise SettingsError(max_key, max_size, "must be at least 1")
    if min_size > max_size:
        raise SettingsError(min_key, min_size, f"must not exceed {max_key} ({max_size})")
    if not min_size <= desired <= max_size:
        raise SettingsError(desired_key, desired, f"must be between {min_key} ({min_size}) and {max_key} ({max_size})")
    return Capacity(min_size=min_size, max_size=max_size, desired=desired)
