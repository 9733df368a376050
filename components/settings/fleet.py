"""Fleet settings: the model servers of every region, their load balancer, health checks and capacity."""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass

from components import catalogs
from components.boot_script import USER_DATA_MAX_BYTES, model_server_user_data
from components.settings.reading import UNSHOWN, Reader, SettingsError, choice, in_range, require_distinct

LOAD_BALANCER_SCHEMES = ("internet-facing", "internal")
# What AWS accepts for an ALB target group (elbv2 CreateTargetGroup limits).
HEALTH_CHECK_INTERVAL = (5, 300)
HEALTH_CHECK_TIMEOUT = (2, 120)
HEALTH_CHECK_THRESHOLD = (2, 10)
SLOW_START = (30, 900)  # or 0 to disable
DEREGISTRATION_DELAY = (0, 3600)

# An AMI id, or a Systems Manager parameter EC2 resolves to one at launch (CreateLaunchTemplate, ImageId:
# resolve:ssm:<name or ARN>[:<version or label>]). Parameter names are a-zA-Z0-9_.- with / between levels, at most
# 1011 characters; labels start with a letter, at most 100 characters (SSM PutParameter, LabelParameterVersion).
# EC2 resource ids are 8 or 17 hexadecimal characters after the prefix.
AMI_ID = re.compile(r"ami-(?:[0-9a-f]{8}|[0-9a-f]{17})")
SSM_PARAMETER_IMAGE = re.compile(
    r"resolve:ssm:(?:arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter(?=/))?(?P<name>[A-Za-z0-9_./-]{1,1011})"
    r"(?::(?:\d+|[A-Za-z][A-Za-z0-9_.-]{0,99}))?"
)

# A container image reference as Docker parses it (distribution/reference, regexp.go and reference.go):
# [domain[:port]/]path[:tag][@digest], path components lower-case, the path at most 255 characters.
_ALPHANUMERIC = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:(?:[._]|__|-+){_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
IMAGE_REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?",
    re.ASCII,
)
IMAGE_PATH_MAX = 255
# Characters a boot script line cannot carry as typed: line breaks, NUL and the other C0 controls, DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    model_args: tuple[str, ...]  # modelArgs split into words as a POSIX shell splits them
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
    ami_id = _ami_id(read.string("amiId"))
    model_image = _model_image(read.string("modelImage"))
    model_args = _model_args(read.string("modelArgs"))
    boot_script = model_server_user_data(model_image, model_args, model_port).encode()
    if len(boot_script) > USER_DATA_MAX_BYTES:
        # The value itself would flood the message: its length says enough.
        raise SettingsError(
            "modelArgs",
            UNSHOWN,
            f"its {len(read.string('modelArgs'))} characters make the model servers' boot script {len(boot_script)} bytes, and EC2 takes "
            f"at most {USER_DATA_MAX_BYTES} bytes of user data; pass fewer or shorter arguments (a long configuration belongs in a file the image reads)",
        )
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
        model_args=model_args,
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


def _ami_id(value: str) -> str:
    parameter = SSM_PARAMETER_IMAGE.fullmatch(value)
    if not (AMI_ID.fullmatch(value) or parameter and parameter["name"].count("/") <= 15):
        raise SettingsError(
            "amiId", value, "expected ami-<hex> (8 or 17 hexadecimal digits), or resolve:ssm:<parameter name or ARN>[:<version or label>] (what EC2 resolves at launch)"
        )
    return value


def _model_image(value: str) -> str:
    reference = IMAGE_REFERENCE.fullmatch(value)
    if reference is None:
        lower = " (repository names are lower-case)" if IMAGE_REFERENCE.fullmatch(value.lower()) else ""
        raise SettingsError(
            "modelImage", value, f"expected a container image reference such as vllm/vllm-openai:v0.6.4 or registry.example.com:5000/team/model@sha256:<digest>{lower}"
        )
    if len(reference["path"]) > IMAGE_PATH_MAX:
        raise SettingsError("modelImage", value, f"the repository path may be at most {IMAGE_PATH_MAX} characters, not {len(reference['path'])}")
    return value


def _model_args(value: str) -> tuple[str, ...]:
    if _CONTROL.search(value):
        raise SettingsError("modelArgs", value, "expected arguments on one line, without control characters")
    try:
        return tuple(shlex.split(value))
    except ValueError as error:  # shlex: "No closing quotation", "No escaped character"
        raise SettingsError(
            "modelArgs", value, f"the arguments are split into words as a POSIX shell splits them, and this fails ({error}): close every quote, or escape a literal quote with a backslash"
        ) from None


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
    matcher = _health_check_matcher(read.string("healthCheckMatcher"))
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


def _health_check_matcher(value: str) -> str:
    # ALB target groups take codes 200-499, several ("200,202") or a range ("200-299") (elbv2 Matcher, HttpCode).
    allowed = "expected HTTP codes 200-499 such as 200, 200,202 or 200-299, each range from low to high"
    if not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", value):
        raise SettingsError("healthCheckMatcher", value, allowed)
    for part in value.split(","):
        low, _, high = part.partition("-")
        if not 200 <= int(low) <= int(high or low) <= 499:
            raise SettingsError("healthCheckMatcher", value, allowed)
    return value


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
