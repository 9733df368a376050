"""Model proxy settings: the failover runtime as a Lambda function in every region."""

from __future__ import annotations

from dataclasses import dataclass

from components.lambda_web_adapter import ARCHITECTURES as PROXY_ARCHITECTURES
from components.lambda_web_adapter import LAYER_REGIONS as PROXY_REGIONS
from components.settings.reading import Reader, SettingsError, choice, in_range, retention_days


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
    return ProxySettings(
        enabled=enabled,
        architecture=choice("proxyArchitecture", read.string("proxyArchitecture"), PROXY_ARCHITECTURES),
        memory_size=in_range("proxyMemorySize", read.integer("proxyMemorySize"), (128, 10240), " MB"),
        timeout=timeout,
        reserved_concurrency=in_range("proxyReservedConcurrency", read.integer("proxyReservedConcurrency"), (0, 1000)),
        log_retention_days=retention,
        connect_timeout=connect,
        first_byte_timeout=first_byte,
        breaker_failure_threshold=in_range("proxyBreakerFailureThreshold", read.integer("proxyBreakerFailureThreshold"), (1, 100)),
        breaker_base_ejection=in_range("proxyBreakerBaseEjection", read.integer("proxyBreakerBaseEjection"), (1, 3600), " seconds"),
    )
