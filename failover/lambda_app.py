"""The failover gateway as an AWS Lambda function, behind the AWS Lambda Web Adapter.

The adapter (a Lambda extension from its published layer) replaces the runtime's bootstrap
(`AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap`) and runs the function's handler, `run.sh`, which
starts this module: the same starlette app and aiohttp transport as `python -m failover serve`,
served by uvicorn on 127.0.0.1 at the adapter's port. The adapter waits until the readiness
path answers, then turns each function URL request into an HTTP request to the app and, in
`response_stream` mode, streams the answer back as the app writes it.

Environment (what the ModelProxy component sets):
  FAILOVER_CONFIG  the failover config as JSON (same schema as the gateway's YAML)
  AWS_REGION       set by Lambda; the caller region preferred when ordering upstreams
  AWS_LWA_PORT     the port the adapter sends requests to (the adapter's own default, 8080, when unset)
  plus every variable named by an upstream's `headers_from_env` (e.g. the Azure gateway's api-key)

It imports the standard library, starlette, uvicorn, aiohttp, httpx-sse (with the httpx it reads
through), anyio and certifi only, no PyYAML: what the Lambda package ships (proxy_package/requirements.lock). The router lives as long as the process, so breaker and rate-limit
state survive warm invocations of one execution environment.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Mapping
from urllib.parse import unquote_to_bytes

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import CONFIG_EXPECTED, Config, ConfigError, UnreadableConfig, log_config_warnings, parse_config
from .documents import UnreadableDocument, parse_json
from .gateway import bind, create_app, raise_open_file_limit, server
from .router import NO_UPSTREAM_HEADERS

CONFIG_ENV = "FAILOVER_CONFIG"
REGION_ENV = "AWS_REGION"
PORT_ENV = "AWS_LWA_PORT"
ADAPTER_DEFAULT_PORT = 8080
HOST = "127.0.0.1"  # where the adapter sends requests (its AWS_LWA_HOST default)
# The adapter keeps an idle connection to the app for 4 s (hyper pool_idle_timeout in its src/lib.rs);
# the app must keep it open longer, or a request sent as the app closes it fails the invocation.
KEEP_ALIVE_SECONDS = 60

log = logging.getLogger("failover.lambda")


def config_from_environment(environ: Mapping[str, str]) -> Config:
    """The failover config from `FAILOVER_CONFIG` (JSON); `ConfigError` names the variable or the bad key."""
    raw = environ.get(CONFIG_ENV)
    expected = f"{CONFIG_EXPECTED}, as JSON"
    try:
        if raw is None:
            raise UnreadableDocument(CONFIG_ENV, "not set", expected)
        document = parse_json(raw, CONFIG_ENV, expected, kind=dict)
    except UnreadableDocument as unreadable:
        raise UnreadableConfig(unreadable) from None
    return parse_config(document)


def lambda_app(environ: Mapping[str, str]) -> ASGIApp:
    """The gateway configured from `environ`; with a bad config, an app that refuses every request.

    A refusing app rather than an exit: the adapter would otherwise retry its readiness check
    until Lambda's init timeout, and callers would see timeouts instead of an answer.
    """
    try:
        config = config_from_environment(environ)
    except ConfigError as error:
        log.error("refusing to serve: %s", error)
        return _misconfigured_app()
    log_config_warnings(config, environ, log)  # once per execution environment, as it starts
    return without_function_url_signature(create_app(config, caller_region=environ.get(REGION_ENV)))


def without_function_url_signature(app: ASGIApp) -> ASGIApp:
    """Drops the caller's SigV4 signature: it authenticated the caller to the function URL, not to a model.

    That is a SigV4 `authorization` header, and every `X-Amz-*` query parameter, where a presigned
    request carries the same credentials (`X-Amz-Credential`, `X-Amz-Security-Token`,
    `X-Amz-Signature`...: AWS "Authenticating requests: using query parameters"); the rest of the query
    passes on byte for byte. Any other `authorization` (a model API key) passes on as the caller sent
    it; other `x-amz-*` headers never pass (the gateway forwards headers by an allow-list).
    """

    async def unsigned(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, value) for name, value in scope["headers"] if not (name == b"authorization" and value.startswith(b"AWS4-"))]
            query = _without_amz_parameters(scope.get("query_string", b""))
            if len(headers) != len(scope["headers"]) or query != scope.get("query_string", b""):
                scope = {**scope, "headers": headers, "query_string": query}
        await app(scope, receive, send)

    return unsigned


def _without_amz_parameters(query: bytes) -> bytes:
    # Names are compared decoded: `X-%41mz-Signature` is `X-Amz-Signature` to whoever reads it.
    kept = [part for part in query.split(b"&") if not unquote_to_bytes(part.partition(b"=")[0]).lower().startswith(b"x-amz-")]
    return b"&".join(kept)


def _misconfigured_app() -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "alive"}, headers=NO_UPSTREAM_HEADERS)

    async def refuse(request: Request) -> Response:
        # The reason stays in the function's logs, not in answers to callers.
        body = {"error": {"message": "The proxy is misconfigured; see its logs.", "type": "server_error", "code": "proxy_misconfigured"}}
        return JSONResponse(body, status_code=500, headers=NO_UPSTREAM_HEADERS)

    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/health", health, methods=["GET"]), Route("/{path:path}", refuse, methods=every_method)])


def port(environ: Mapping[str, str]) -> int:
    """The port the adapter forwards requests to; `ConfigError` names `AWS_LWA_PORT` when it is not one."""
    raw = environ.get(PORT_ENV, str(ADAPTER_DEFAULT_PORT))
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(PORT_ENV, raw, "a TCP port number from 1 to 65535")
    return int(raw)


def main(environ: Mapping[str, str] = os.environ) -> int:
    """Serve until Lambda stops the environment (SIGTERM); 2 when the port to serve on is not a port."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the gateway logs one line per request itself
    raise_open_file_limit()
    try:
        sock = bind(HOST, port(environ))
    except ConfigError as error:
        log.error("refusing to start: %s", error)
        return 2
    gateway_server = server(lambda_app(environ))
    gateway_server.config.timeout_keep_alive = KEEP_ALIVE_SECONDS
    gateway_server.run(sockets=[sock])  # uvicorn's loop choice: asyncio in the package, which ships no uvloop
    return 0


if __name__ == "__main__":
    sys.exit(main())
