"""Model proxy settings: the failover runtime as a Lambda function in every region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.lambda_web_adapter import ARCHITECTURES as PROXY_ARCHITECTURES
from components.lambda_web_adapter import LAYER_REGIONS as PROXY_REGIONS
from components.settings.reading import Reader, SettingsError, choice, in_range, retention_days
from components.settings.schema import MAX_EJECTION
from failover.config import ConfigError, parse_config

# The runtime grows an ejection from breaker.base_ejection up to breaker.max_ejection (failover/config.py), and
# refuses a base above that cap: the proxy would then answer every request with 500 proxy_misconfigured.
BASE_EJECTION = (1, MAX_EJECTION)


@dataclass(frozen=True)
class ProxySettings:
    """The proxy's function (MB, seconds) and its failover router's timeouts and breaker (seconds)."""

    enabled: bool
    architecture: str  # arm64 or x86_64
    memory_size: int
    timeout: int
    reserved_concurrency: int  # 0: no reservation
    log_retention_days: int
    connect_timeout: int
    first_byte_timeout: int
    breaker_failure_threshold: int
    breaker_base_ejection: int

    def router_config(self) -> dict[str, Any]:
        """The `timeouts` and `breaker` sections of the runtime's config document (failover/config.py), in seconds."""
        return {
            "timeouts": {
                "connect": self.connect_timeout,
                "first_byte": self.first_byte_timeout,
                # The whole request, every attempt included, ends before Lambda would kill it.
                "total": self.timeout - 1,
            },
            "breaker": {"failure_threshold": self.breaker_failure_threshold, "base_ejection": self.breaker_base_ejection},
            **self.response_limits(),
        }

    def response_limits(self) -> dict[str, int]:
        """The runtime's response limits in bytes, sized to the function's memory.

        A whole answer is read and its shape checked before it is relayed: a 19 MiB chat completion
        full of `logprobs`, or embeddings answer, raised `python -m failover serve`'s peak memory by
        about twice its size over its ~46 MB at rest. With room for a third copy while it is sent,
        the largest body is an eighth of the function's memory (64 MiB at the default 512 MB, 16 MiB
        at 128 MB) and one stream event a thirty-second, at most the runtime's default of 16 MiB.
        """
        mebibyte = 1024 * 1024
        return {
            "max_response_bytes": min(self.memory_size * mebibyte // 8, 1024 * mebibyte),
            "max_event_bytes": min(self.memory_size * mebibyte // 32, 16 * mebibyte),
        }


def parse_proxy(read: Reader, region_names: tuple[str, ...]) -> ProxySettings:
    """Every proxy setting; an enabled proxy needs the Lambda Web Adapter layer in every one of `region_names`."""
    enabled = read.boolean("proxyEnabled")
    unpublished = [region for region in region_names if region not in PROXY_REGIONS]
    if enabled and unpublished:
        # The proxy streams through the Lambda Web Adapter's published layer (components/lambda_web_adapter.py).
        raise SettingsError(
            "regions", list(region_names), f"the model proxy's Lambda Web Adapter layer is not published in {unpublished}; drop them or set proxyEnabled to false"
        )
    timeout = in_range("proxyTimeout", read.integer("proxyTimeout"), (3, 900), " seconds (the Lambda limit is 900)")
    connect = in_range("proxyConnectTimeout", read.integer("proxyConnectTimeout"), (1, 30), " seconds")
    first_byte = read.integer("proxyFirstByteTimeout")
    # The request budget is the Lambda timeout less a second to answer; an upstream must be able to start within it.
    if not connect <= first_byte <= timeout - 1:
        raise SettingsError(
            "proxyFirstByteTimeout", first_byte, f"must be between proxyConnectTimeout ({connect}) and proxyTimeout - 1 ({timeout - 1}) seconds"
        )
    retention = retention_days(read, "proxyLogRetentionDays")
    settings = ProxySettings(
        enabled=enabled,
        architecture=choice("proxyArchitecture", read.string("proxyArchitecture"), PROXY_ARCHITECTURES),
        memory_size=in_range("proxyMemorySize", read.integer("proxyMemorySize"), (128, 10240), " MB"),
        timeout=timeout,
        reserved_concurrency=in_range("proxyReservedConcurrency", read.integer("proxyReservedConcurrency"), (0, 1000)),
        log_retention_days=retention,
        connect_timeout=connect,
        first_byte_timeout=first_byte,
        breaker_failure_threshold=in_range("proxyBreakerFailureThreshold", read.integer("proxyBreakerFailureThreshold"), (1, 100)),
        breaker_base_ejection=in_range(
            "proxyBreakerBaseEjection", read.integer("proxyBreakerBaseEjection"), BASE_EJECTION, f" seconds (the runtime caps an ejection at {MAX_EJECTION})"
        ),
    )
    _refuse_what_the_runtime_refuses(settings)
    return settings


def _refuse_what_the_runtime_refuses(settings: ProxySettings) -> None:
    """Runs the runtime's own config parser over the proxy's settings, so what it would refuse in Lambda stops the program now."""
    stand_in = {"topology": "active-active", "upstreams": [{"name": "stand-in", "url": "https://stand-in.invalid"}], **settings.router_config()}
    try:
        parse_config(stand_in)
    except ConfigError as error:
        # The setting behind the runtime's key (router_config); a breaker key the settings do not set is the ejection's.
        key, value = {
            "timeouts.connect": ("proxyConnectTimeout", settings.connect_timeout),
            "timeouts.first_byte": ("proxyFirstByteTimeout", settings.first_byte_timeout),
            "timeouts.total": ("proxyTimeout", settings.timeout),
            "breaker.failure_threshold": ("proxyBreakerFailureThreshold", settings.breaker_failure_threshold),
            "max_response_bytes": ("proxyMemorySize", settings.memory_size),
            "max_event_bytes": ("proxyMemorySize", settings.memory_size),
        }.get(error.key, ("proxyBreakerBaseEjection", settings.breaker_base_ejection) if error.key.startswith("breaker") else ("proxyTimeout", settings.timeout))
        raise SettingsError(key, value, f"the model proxy's runtime would refuse its configuration ({error})") from None
