"""The OpenAI-compatible surface shared by the local gateway and the Lambda handler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

from .config import Upstream

CHAT_COMPLETIONS = "/v1/chat/completions"
# Caller headers passed upstream; credentials go through untouched, nothing else leaks.
_FORWARDED = ("authorization", "api-key", "content-type", "accept", "openai-organization", "openai-project")
# Never relayed between hops: they describe one connection, or an encoding the
# client already undid.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "content-encoding"}
)


@dataclass(frozen=True)
class UpstreamRequest:
    path: str  # path and query, appended to the upstream's URL
    headers: Mapping[str, str]  # caller headers chosen by `forwarded_headers`
    body: bytes
    stream: bool


def wants_stream(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False  # the upstream will refuse it; it is not the proxy's call
    return isinstance(document, dict) and document.get("stream") is True


def forwarded_headers(caller_headers: Mapping[str, str]) -> dict[str, str]:
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
    return {k.lower(): v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}


def not_found(method: str, path: str) -> dict:
    """The OpenAI-style error body for a route this surface does not have."""
    return {"error": {"message": f"No route for {method} {path}.", "type": "invalid_request_error", "code": "not_found"}}
