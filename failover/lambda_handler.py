"""AWS Lambda adapter: the router behind a function URL (payload format 2.0).

Environment:
  FAILOVER_CONFIG  the failover config as JSON (same schema as the gateway's YAML)
  AWS_REGION       set by Lambda; the caller region preferred when ordering upstreams
  plus every variable named by an upstream's `headers_from_env` (e.g. an Azure api-key)

Standard library only (no httpx, no PyYAML), so the package needs no build
step. The router lives at module level, so breaker and rate-limit state
survive warm invocations of the same execution environment.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any, Mapping

from .config import Config, ConfigError, parse_config
from .endpoints import CHAT_COMPLETIONS
from .events import broken_stream_event
from .outcomes import StreamBroken
from .router import ATTEMPTS_HEADER, NO_UPSTREAM_HEADERS, UPSTREAM_HEADER, RequestMeta, Router
from .surface import UpstreamRequest, forwarded_headers, not_found, relayable_headers, wants_stream
from .transport_stdlib import StdlibTransport

CONFIG_ENV = "FAILOVER_CONFIG"
REGION_ENV = "AWS_REGION"

log = logging.getLogger("failover.lambda")
log.setLevel(logging.INFO)


class LambdaProxy:
    def __init__(self, config: Config, caller_region: str | None, environ: Mapping[str, str] = os.environ) -> None:
        self.router = Router(config)
        self._transport = StdlibTransport(config.timeouts, environ)
        self._caller_region = caller_region

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> LambdaProxy:
        raw = environ.get(CONFIG_ENV)
        if raw is None:
            raise ConfigError(CONFIG_ENV, None, "the failover config as a JSON document")
        try:
            document = json.loads(raw)
        except ValueError as error:
            raise ConfigError(CONFIG_ENV, raw[:40] + "...", f"valid JSON ({error})") from None
        return cls(parse_config(document), environ.get(REGION_ENV), environ)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
        path = event.get("rawPath", "/")
        if method == "GET" and path == "/health":
            return _json(200, {"status": "alive"})
        if method == "GET" and path == "/ready":
            if self.router.is_ready():
                return _json(200, {"status": "ready"})
            reply = self.router.unavailable_reply()
            return _response(reply.status, reply.headers, reply.body or b"")
        if method == "POST" and path == CHAT_COMPLETIONS.path:
            return self._chat_completions(event, path)
        return _json(404, not_found(method, path))

    def _chat_completions(self, event: Mapping[str, Any], path: str) -> dict[str, Any]:
        body = event.get("body") or ""
        raw_body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        query = event.get("rawQueryString")
        request = UpstreamRequest(path + (f"?{query}" if query else ""), _caller_headers(event), raw_body, wants_stream(raw_body))
        with self.router.begin(RequestMeta(self._caller_region)) as plan:
            attempt = exchange = None
            for attempt in plan:
                exchange = self._transport.send(attempt, request)
                plan.record(attempt, exchange.outcome)
            reply = plan.result()
            if reply.body is not None or attempt is None or exchange is None:
                _log(reply.status, reply.headers)
                return _response(reply.status, reply.headers, reply.body or b"")
            body_out = exchange.body
            if exchange.end is not None:
                plan.record(attempt, exchange.end)
                if isinstance(exchange.end, StreamBroken):
                    # Buffered, but still never a truncated stream that looks complete.
                    log.warning("stream from %s broke after its first event: %s", attempt.upstream.name, exchange.end.detail)
                    body_out += broken_stream_event(exchange.end.detail)
        _log(reply.status, reply.headers)
        return _response(reply.status, relayable_headers(exchange.headers) | reply.headers, body_out)


def _log(status: int, headers: Mapping[str, str]) -> None:
    log.info("chat completion -> %s via %s after %s attempt(s)", status, headers[UPSTREAM_HEADER], headers[ATTEMPTS_HEADER])


def _json(status: int, document: Any) -> dict[str, Any]:
    return _response(status, {"content-type": "application/json", **NO_UPSTREAM_HEADERS}, json.dumps(document).encode())


def _response(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The function URL response shape; bodies that are not UTF-8 travel as base64."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    return {"statusCode": status, "headers": dict(headers), "body": text, "isBase64Encoded": encoded}


_proxy: LambdaProxy | None = None


def _caller_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """What the caller sent for the upstreams; never the SigV4 signature that authenticated it to the function URL."""
    headers = forwarded_headers(event.get("headers") or {})
    if headers.get("authorization", "").startswith("AWS4-"):
        del headers["authorization"]
    return headers


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point (`failover.lambda_handler.handler`)."""
    global _proxy
    if _proxy is None:
        try:
            _proxy = LambdaProxy.from_environment()
        except ConfigError as error:
            log.error("refusing to serve: %s", error)
            # The details stay in the function's logs, not in answers to callers.
            return _json(500, {"error": {"message": "The proxy is misconfigured; see its logs.", "type": "server_error", "code": "proxy_misconfigured"}})
    return _proxy.handle(event)
