"""The OpenAI-compatible surface shared by the local gateway and the Lambda handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .config import Upstream
from .endpoints import json_outline

# Caller headers passed upstream; credentials go through untouched, nothing else leaks.
_FORWARDED = ("authorization", "api-key", "content-type", "accept", "openai-organization", "openai-project")
# Upstream response headers the caller may see: what describes the answer itself (its media type) and what
# model APIs send for their callers: request ids (OpenAI and vLLM `x-request-id`, API Management's
# `apim-request-id`), `openai-*` (processing time, version, organization, project), rate-limit state
# (`x-ratelimit-*`, OpenAI and Azure OpenAI) and Azure's `x-ms-*` (region, deployment, content filtering).
# Everything else stays behind: hop-by-hop fields; `date` and `server`, which belong to whoever answers the
# caller (two of each are refused by aiohttp and logged by proxies: vllm-project/production-stack#998,
# open-webui/open-webui#29824); fields about the upstream's own site (`set-cookie`, `alt-svc`,
# `strict-transport-security`, `location`); `x-should-retry`, which the router alone sets; and the length
# and encoding of a body the gateway re-frames.
_RELAYED = frozenset({"content-type", "x-request-id", "apim-request-id"})
_RELAYED_PREFIXES = ("openai-", "x-ratelimit-", "x-ms-")
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
    """Whether the JSON body asks for a stream (`"stream": true`); False for a body that is not a JSON
    object: the upstream will refuse it, which is not the proxy's call."""
    document = json_outline(body)
    return document is not None and document.get("stream") is True


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
    """The upstream's response headers (lower-case names) the caller may see: the allow-list above, and
    only values of visible ASCII characters and spaces.

    A value beyond that cannot be relayed as it came: starlette encodes header values as Latin-1 and
    raises UnicodeEncodeError on anything else (Kludex/starlette#790), aiohttp has already decoded the
    upstream's bytes as UTF-8 (invalid bytes as surrogates), and re-encoding would change them. RFC 9110
    5.5 limits field values to visible ASCII in practice (obs-text is opaque); proxies that copied such a
    value failed the whole answer (dotnet/yarp#440, fastify/fastify-http-proxy#343). The header is dropped.
    """
    return {
        name: value
        for name, value in headers.items()
        if (name in _RELAYED or name.startswith(_RELAYED_PREFIXES)) and value.isascii() and value.isprintable()
    }


def missing_model(body: bytes) -> bool:
    """Whether a 404 body says the upstream lacks the model or deployment (not that the route is unknown)."""
    document = json_outline(body)
    error = document.get("error") if document is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    return isinstance(code, str) and code in _MISSING_MODEL_CODES


def not_found(method: str, path: str) -> dict:
    """The OpenAI-style error body for a route this surface does not have."""
    return {"error": {"message": f"No route for {method} {path}.", "type": "invalid_request_error", "code": "not_found"}}


def method_not_allowed(method: str, path: str, allowed: str) -> dict:
    """The OpenAI-style error body for a route this surface has, called with a method it does not take."""
    message = f"Method {method} is not allowed on {path}; allowed: {allowed}."
    return {"error": {"message": message, "type": "invalid_request_error", "code": "method_not_allowed"}}
