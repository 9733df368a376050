"""Failover settings: frozen dataclasses parsed and validated from a plain dict.

The same schema is read from a YAML file (local gateway) and from the
`FAILOVER_CONFIG` JSON environment variable (Lambda). Every refusal is one
`ConfigError` naming the dotted key, the bad value and what is allowed (for an
unknown key, the closest allowed one). What is allowed but probably a mistake
(two upstreams at one URL, a URL already ending in /v1, a header's environment
variable unset) is a warning at start: `log_config_warnings`.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import SplitResult, urlsplit

from .documents import UnreadableDocument

TOPOLOGIES = ("active-active", "active-passive")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """Refused configuration; the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: Any, allowed: str, hide_value: bool = False) -> None:
        self.key = key
        shown = "(value hidden: it may be a secret)" if hide_value else repr(value)
        super().__init__(f"{key}: {shown} is not allowed; expected {allowed}")


class UnreadableConfig(ConfigError):
    """The config document itself cannot be read, parsed or is not a mapping: the one line documents.py words it in."""

    def __init__(self, unreadable: UnreadableDocument) -> None:
        self.key = unreadable.source
        ValueError.__init__(self, str(unreadable))


# What a config document holds, as a refusal says what was expected instead.
CONFIG_EXPECTED = "a mapping of failover settings"


@dataclass(frozen=True)
class Upstream:
    """One place a request may go: a base URL the request path is appended to (no trailing /).

    priority: 0 or more, lower tried first in active-passive; weight: 1-1000, the share in active-active;
    region: matched against the caller's region; headers_from_env: (header, environment variable name) pairs.
    """

    name: str
    url: str
    priority: int = 0
    weight: int = 1
    region: str | None = None
    # Header name -> name of the environment variable holding its value, so
    # secrets (e.g. an Azure `api-key`) never appear in the config itself.
    headers_from_env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one request, in seconds.

    connect: to open a connection; first_byte: until the headers and the first bytes of a whole body
    or, for a stream, its first content event; total: the whole request, every attempt included;
    stream_idle: between events of a flowing stream, and between the bytes of a whole body;
    min_attempt: the least of `total` that must remain to start another attempt.
    """

    connect: float = 2.0
    first_byte: float = 30.0
    total: float = 60.0
    stream_idle: float = 15.0
    # An attempt is only started when at least this much of the overall budget remains.
    min_attempt: float = 0.5


@dataclass(frozen=True)
class Breaker:
    """When an upstream is taken out of rotation and for how long, in seconds.

    failure_threshold consecutive failures eject it for base_ejection x (ejections so far), capped at
    max_ejection and shortened by up to `jitter` (a fraction in [0, 1)) at random.
    """

    failure_threshold: int = 3
    base_ejection: float = 5.0
    max_ejection: float = 60.0
    # Fraction of the ejection time removed at random, so upstreams ejected
    # together do not all come back in the same instant.
    jitter: float = 0.2


@dataclass(frozen=True)
class RateLimit:
    """How long an upstream is held after a 429 or a 503 with Retry-After, in seconds.

    default_cooldown when the answer names no time; never longer than max_cooldown, whatever it names.
    """

    default_cooldown: float = 5.0
    max_cooldown: float = 60.0


@dataclass(frozen=True)
class Fallback:
    """The answer sent when no upstream can be tried at all: HTTP status (200-599), body and its content type."""

    status: int
    body: str
    content_type: str = "application/json"


@dataclass(frozen=True)
class Config:
    """A validated failover configuration (parse_config builds it; every duration in seconds).

    max_retries: failed attempts retried on another upstream (0-10); max_request_bytes: the largest
    request body accepted, larger ones answered 413; max_response_bytes: the largest whole (not
    streamed) upstream body read, after decompression; max_event_bytes: the largest single stream
    event, and the most held for the caller before a stream's first content event. An upstream over
    either response limit has failed that attempt (a bad answer or a broken stream) and is failed over.
    """

    topology: str
    upstreams: tuple[Upstream, ...]
    timeouts: Timeouts = Timeouts()
    breaker: Breaker = Breaker()
    rate_limit: RateLimit = RateLimit()
    # Failures (5xx, connection, timeout, broken stream) retried on another upstream.
    max_retries: int = 1
    fallback: Fallback | None = None
    # Largest request body accepted, in bytes; a larger one is refused with 413 before it is read whole.
    max_request_bytes: int = 6 * 1024 * 1024
    # Whole upstream bodies are read, and parsed, before they are relayed: this bounds what one request holds.
    max_response_bytes: int = 64 * 1024 * 1024
    # One event is decoded whole (a line is buffered until it ends): this bounds what one stream holds.
    max_event_bytes: int = 16 * 1024 * 1024


# The default matches the most a Lambda function URL passes to the function (6 MB invocation payload);
# the cap keeps one request from holding an unbounded share of the gateway's memory.
_REQUEST_BYTES_RANGE = (1024, 64 * 1024 * 1024)
# A float embedding of 3072 dimensions is ~60 KB of JSON, so a batch of 1000 needs ~60 MB: the
# default response limit takes it; the largest batches call for more, or for `encoding_format: base64`.
_RESPONSE_BYTES_RANGE = (1024, 1024 * 1024 * 1024)
# A Responses stream's final event carries the whole response object, images from tools included.
_EVENT_BYTES_RANGE = (1024, 256 * 1024 * 1024)


def parse_config(raw: Any) -> Config:
    """Build a validated `Config` from the decoded YAML/JSON document."""
    doc = _mapping(raw, "config")
    _only_keys(doc, "", {"topology", "upstreams", "timeouts", "breaker", "rate_limit", "max_retries", "fallback", "max_request_bytes", "max_response_bytes", "max_event_bytes"})
    topology = doc.get("topology")
    if topology not in TOPOLOGIES:
        raise ConfigError("topology", topology, " or ".join(TOPOLOGIES))
    upstreams = _parse_upstreams(doc.get("upstreams"))
    timeouts = _parse_timeouts(doc.get("timeouts", {}))
    breaker = _parse_breaker(doc.get("breaker", {}))
    rate_limit = _parse_rate_limit(doc.get("rate_limit", {}))
    max_retries = _integer(doc.get("max_retries", 1), "max_retries", 0, 10)
    fallback = None if doc.get("fallback") is None else _parse_fallback(doc["fallback"])
    max_request_bytes = _integer(doc.get("max_request_bytes", Config.max_request_bytes), "max_request_bytes", *_REQUEST_BYTES_RANGE)
    max_response_bytes = _integer(doc.get("max_response_bytes", Config.max_response_bytes), "max_response_bytes", *_RESPONSE_BYTES_RANGE)
    max_event_bytes = _integer(doc.get("max_event_bytes", Config.max_event_bytes), "max_event_bytes", *_EVENT_BYTES_RANGE)
    return Config(topology, upstreams, timeouts, breaker, rate_limit, max_retries, fallback, max_request_bytes, max_response_bytes, max_event_bytes)


def _parse_upstreams(raw: Any) -> tuple[Upstream, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("upstreams", raw, "a non-empty list of upstreams")
    seen: set[str] = set()
    result = []
    for index, item in enumerate(raw):
        path = f"upstreams[{index}]"
        entry = _mapping(item, path)
        _only_keys(entry, path, {"name", "url", "priority", "weight", "region", "headers_from_env"})
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{path}.name", name, "a non-empty string")
        if name in seen:
            raise ConfigError(f"{path}.name", name, "a name not used by another upstream")
        seen.add(name)
        url = entry.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            # The request's own path and query are appended, so the base URL carries none.
            raise ConfigError(f"{path}.url", url, "an http:// or https:// base URL with a host and no query or fragment")
        if not _has_valid_port(parts):
            raise ConfigError(f"{path}.url", url, "a port from 1 to 65535, or none")
        region = entry.get("region")
        if region is not None and (not isinstance(region, str) or not region):
            raise ConfigError(f"{path}.region", region, "a non-empty string or absent")
        result.append(
            Upstream(
                name=name,
                url=url.rstrip("/"),
                priority=_integer(entry.get("priority", 0), f"{path}.priority", 0, None),
                weight=_integer(entry.get("weight", 1), f"{path}.weight", 1, 1000),
                region=region,
                headers_from_env=_parse_headers_from_env(entry.get("headers_from_env", {}), f"{path}.headers_from_env"),
            )
        )
    return tuple(result)


def _parse_headers_from_env(raw: Any, path: str) -> tuple[tuple[str, str], ...]:
    entries = _mapping(raw, path)
    result = []
    for header, env_name in entries.items():
        if not isinstance(header, str) or not _HEADER_NAME.match(header):
            raise ConfigError(path, header, "header names made of letters, digits and '-'")
        if not isinstance(env_name, str) or not _ENV_NAME.match(env_name):
            raise ConfigError(f"{path}.{header}", env_name, "the name of an environment variable (not its value)", hide_value=True)
        result.append((header.lower(), env_name))
    return tuple(result)


def _parse_timeouts(raw: Any) -> Timeouts:
    entries = _mapping(raw, "timeouts")
    _only_keys(entries, "timeouts", set(Timeouts.__dataclass_fields__))
    defaults = Timeouts()
    values = {key: _positive(entries.get(key, getattr(defaults, key)), f"timeouts.{key}") for key in Timeouts.__dataclass_fields__}
    timeouts = Timeouts(**values)
    if timeouts.first_byte > timeouts.total:
        raise ConfigError("timeouts.first_byte", timeouts.first_byte, f"at most timeouts.total ({timeouts.total})")
    if timeouts.connect > timeouts.first_byte:
        raise ConfigError("timeouts.connect", timeouts.connect, f"at most timeouts.first_byte ({timeouts.first_byte})")
    if timeouts.min_attempt > timeouts.first_byte:
        raise ConfigError("timeouts.min_attempt", timeouts.min_attempt, f"at most timeouts.first_byte ({timeouts.first_byte})")
    return timeouts


def _parse_breaker(raw: Any) -> Breaker:
    entries = _mapping(raw, "breaker")
    _only_keys(entries, "breaker", set(Breaker.__dataclass_fields__))
    defaults = Breaker()
    breaker = Breaker(
        failure_threshold=_integer(entries.get("failure_threshold", defaults.failure_threshold), "breaker.failure_threshold", 1, None),
        base_ejection=_positive(entries.get("base_ejection", defaults.base_ejection), "breaker.base_ejection"),
        max_ejection=_positive(entries.get("max_ejection", defaults.max_ejection), "breaker.max_ejection"),
        jitter=_fraction(entries.get("jitter", defaults.jitter), "breaker.jitter"),
    )
    if breaker.max_ejection < breaker.base_ejection:
        raise ConfigError("breaker.max_ejection", breaker.max_ejection, f"at least breaker.base_ejection ({breaker.base_ejection})")
    return breaker


def _parse_rate_limit(raw: Any) -> RateLimit:
    entries = _mapping(raw, "rate_limit")
    _only_keys(entries, "rate_limit", set(RateLimit.__dataclass_fields__))
    defaults = RateLimit()
    limit = RateLimit(
        default_cooldown=_positive(entries.get("default_cooldown", defaults.default_cooldown), "rate_limit.default_cooldown"),
        max_cooldown=_positive(entries.get("max_cooldown", defaults.max_cooldown), "rate_limit.max_cooldown"),
    )
    if limit.default_cooldown > limit.max_cooldown:
        raise ConfigError("rate_limit.default_cooldown", limit.default_cooldown, f"at most rate_limit.max_cooldown ({limit.max_cooldown})")
    return limit


def _parse_fallback(raw: Any) -> Fallback:
    entries = _mapping(raw, "fallback")
    _only_keys(entries, "fallback", {"status", "body", "content_type"})
    status = _integer(entries.get("status", 200), "fallback.status", 200, 599)
    body = entries.get("body")
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if not isinstance(body, str):
        raise ConfigError("fallback.body", body, "a string or a JSON object")
    content_type = entries.get("content_type", "application/json")
    if not isinstance(content_type, str) or "/" not in content_type:
        raise ConfigError("fallback.content_type", content_type, "a media type such as application/json")
    return Fallback(status, body, content_type)


def _mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(path, raw, "a mapping")
    return raw


def _only_keys(entries: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in entries:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}.{key}" if path else str(key), entries[key], f"one of the keys {sorted(allowed)}{hint}")


def config_warnings(config: Config, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What the config allows but is probably a mistake, one line each naming the upstream and field.

    - a URL already ending in /v1: the router appends the request path (/v1/chat/completions), so
      requests would go to .../v1/v1/chat/completions;
    - two upstreams at one URL (scheme and host compared without case, default port dropped): failing over
      from one to the other retries the same server;
    - a `headers_from_env` variable unset or empty in `environ`: the upstream gets no such header (an Azure
      gateway without its api-key answers 401; the credential is the router's, so it fails over and the
      upstream is soon ejected);
    - `headers_from_env` on a plain `http://` URL to another machine: the credential crosses the network
      unencrypted, and an endpoint that serves only HTTPS (Azure API Management, Front Door's HTTP-to-HTTPS
      rule) answers with a redirect, which the router never follows: every request fails over from it.
    """
    from .endpoints import CHAT_COMPLETIONS  # imported here, like every module of the package, after config

    path = CHAT_COMPLETIONS.path
    warnings = []
    first_at: dict[tuple[str, str, int | None, str], tuple[int, Upstream]] = {}
    for index, upstream in enumerate(config.upstreams):
        where = f"upstreams[{index}] ({upstream.name})"
        if urlsplit(upstream.url).path.endswith("/v1"):
            warnings.append(f"{where}.url {upstream.url!r} ends in /v1, but {path} is appended: requests would go to {upstream.url}{path}")
        same = _url_identity(upstream.url)
        if same in first_at:
            other_index, other = first_at[same]
            warnings.append(f"{where}.url {upstream.url!r} is also upstreams[{other_index}] ({other.name}): failing over between them retries the same server")
        first_at.setdefault(same, (index, upstream))
        for header, env_name in upstream.headers_from_env:
            if not environ.get(env_name):  # an empty value sends no header either (surface.upstream_headers)
                warnings.append(f"{where}.headers_from_env.{header}: environment variable {env_name} is unset or empty, so requests to it carry no {header} header")
        parts = urlsplit(upstream.url)
        if upstream.headers_from_env and parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            names = ", ".join(header for header, _ in upstream.headers_from_env)
            warnings.append(f"{where}.url {upstream.url!r} is plain http:// but carries {names} from headers_from_env: use https://")
    return warnings


# Plain HTTP to this machine never crosses a network.
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def log_config_warnings(config: Config, environ: Mapping[str, str] = os.environ, log: logging.Logger | None = None) -> list[str]:
    """Logs each of `config_warnings` as one WARNING line (logger failover.config) and returns them."""
    warnings = config_warnings(config, environ)
    for warning in warnings:
        (log or logging.getLogger("failover.config")).warning("failover config: %s", warning)
    return warnings


def _has_valid_port(parts: SplitResult) -> bool:
    try:
        return parts.port != 0  # urlsplit raises on a port that is not a number from 0 to 65535
    except ValueError:
        return False


def _url_identity(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    port = parts.port if parts.port not in ({"http": 80, "https": 443}.get(parts.scheme.lower()), None) else None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def _integer(value: Any, path: str, minimum: int, maximum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        allowed = f"an integer from {minimum} to {maximum}" if maximum is not None else f"an integer >= {minimum}"
        raise ConfigError(path, value, allowed)
    return value


def _number(value: Any) -> bool:
    """A finite int or float: YAML's `.nan` and `.inf` and JSON's NaN and Infinity (which Python's json reads) are not."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _positive(value: Any, path: str) -> float:
    if not _number(value) or value <= 0:
        raise ConfigError(path, value, "a finite number of seconds > 0")
    return float(value)


def _fraction(value: Any, path: str) -> float:
    if not _number(value) or not 0 <= value < 1:
        raise ConfigError(path, value, "a number from 0 (inclusive) to 1 (exclusive)")
    return float(value)
