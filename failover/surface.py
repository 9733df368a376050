"""The OpenAI-compatible surface shared by the local gateway and the Lambda handler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

from .config import Upstream

# Caller headers passed upstream; credentials go through untouched, nothing else leaks.
_FORWARDED = ("authorization", "api-key", "content-type", "accept", "openai-organization", "openai-project")
# Never relayed: hop-by-hop headers describe one connection, or an encoding the client already
# undid; `date` and `server` belong to whoever answers the caller (the gateway's HTTP server), and
# relaying the upstream's too sends two of each, which clients reject (aiohttp refuses a duplicate
# Server, vllm-project/production-stack#998) and proxies log (open-webui/open-webui#29824).
_NOT_RELAYED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "content-encoding", "date", "server"}
)
# OpenAI's SDKs obey it before any status rule (openai-python `_base_client.py`, `_should_retry`).
SHOULD_RETRY_HEADER = "x-should-retry"
# Error codes of a 404 meaning "this upstream does not serve that model" rather than "no such route":
# OpenAI's `model_not_found` and Azure OpenAI's `DeploymentNotFound`.
_MISSING_MODEL_CODES = frozenset({"model_not_found", "DeploymentNotFound"})


@dataclass(frozen=True)
class UpstreamRequest:
    """A caller's request as it goes to an upstream: path and query, the forwarded headers, the body, and whether it streams."""

    path: str  # path and query, appended to the upstream's URL
    headers: Mapping[str, str]  # caller headers chosen by `forwarded_headers`
    body: bytes
    stream: bool


def wants_stream(body: bytes) -> bool:
    """Whether the JSON body asks for a stream (`"stream": true`); False for a body that is not JSON."""
    try:
        document = json.loads(body)
    except ValueError:
        return False  # the upstream will refuse it; it is not the proxy's call
    return isinstance(document, dict) and document.get("stream") is True


def forwarded_headers(caller_headers: Mapping[str, str]) -> dict[str, str]:
    """The caller headers passed upstream (credentials, content type, accept, OpenAI organization and project), lower-cased."""
    lowered = {k.lower(): v for k, v in caller_headers.items()}
    return {name: lowered[name] for name in _FORWARDED if name in lowered}


def upstream_headers(upstream: Upstream, request: UpstreamRequest, environ: Mapping[str, str]) -> dict[str, str]:
    """Caller headers plus the upstream's own ones read from the environment (they win)."""
    headers = dict(request.headers)
    for name, env_name in upstream.headers_from_env:
        value = environ.get(env_name)
        if value:
            headers[name] = value
    return headers


def relayable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream's response headers the caller may see (lower-case names)."""
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _NOT_RELAYED}


def missing_model(body: bytes) -> bool:
    """Whether a 404 body says the upstream lacks the model or deployment (not that the route is unknown)."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") in _MISSING_MODEL_CODES


def not_found(method: str, path: str) -> dict:
    """The OpenAI-style error body for a route this surface does not have."""
    return {"error": {"message": f"No route for {method} {path}.", "type": "invalid_request_error", "code": "not_found"}}


def method_not_allowed(method: str, path: str, allowed: str) -> dict:
    """The OpenAI-style error body for a route this surface has, called with a method it does not take."""
    message = f"Method {method} is not allowed on {path}; allowed: {allowed}."
    return {"error": {"message": message, "type": "invalid_request_error", "code": "method_not_allowed"}}
