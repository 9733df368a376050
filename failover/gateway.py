"""Local gateway: the router behind an OpenAI-compatible HTTP server.

Starlette provides routing and streaming responses and uvicorn the HTTP
server; both are well kept, so this module stays a thin adapter.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .config import Config
from .outcomes import StreamBroken
from .router import ATTEMPTS_HEADER, NO_UPSTREAM_HEADERS, UPSTREAM_HEADER, Attempt, Plan, Reply, RequestMeta, Router
from .sse import broken_stream_event
from .surface import CHAT_COMPLETIONS, UpstreamRequest, forwarded_headers, not_found, relayable_headers, wants_stream
from .transport_httpx import Exchange, HttpxTransport, make_client

log = logging.getLogger("failover.gateway")


def create_app(config: Config, router: Router | None = None, caller_region: str | None = None) -> Starlette:
    """The gateway app; pass `router` to inspect its health state (tests do)."""
    router = router or Router(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with make_client(config.timeouts) as client:
            app.state.transport = HttpxTransport(client, config.timeouts)
            yield

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "alive"}, headers=NO_UPSTREAM_HEADERS)

    async def ready(request: Request) -> Response:
        if router.is_ready():
            return JSONResponse({"status": "ready"}, headers=NO_UPSTREAM_HEADERS)
        return _plain(router.unavailable_reply())

    async def chat_completions(request: Request) -> Response:
        body = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        upstream_request = UpstreamRequest(path, forwarded_headers(request.headers), body, wants_stream(body))
        plan = router.begin(RequestMeta(caller_region))
        attempt, exchange = await _drive(plan, request.app.state.transport, upstream_request)
        reply = plan.result()
        log.info("%s %s -> %s via %s after %s attempt(s)", request.method, request.url.path, reply.status, reply.headers[UPSTREAM_HEADER], reply.headers[ATTEMPTS_HEADER])
        if reply.body is not None or attempt is None or exchange is None:
            plan.close()
            return _plain(reply)
        headers = relayable_headers(exchange.headers) | reply.headers
        if exchange.first_events:
            return StreamingResponse(_relay_stream(plan, attempt, exchange), status_code=reply.status, headers=headers)
        plan.close()
        return Response(exchange.body, status_code=reply.status, headers=headers)

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route(CHAT_COMPLETIONS, chat_completions, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )


async def _drive(plan: Plan, transport: HttpxTransport, request: UpstreamRequest) -> tuple[Attempt | None, Exchange | None]:
    """The router's retry loop: the plan picks each attempt, the transport reports back."""
    attempt = exchange = None
    try:
        for attempt in plan:
            exchange = await transport.send(attempt, request)
            plan.record(attempt, exchange.outcome)
    except BaseException:
        plan.close()
        raise
    return attempt, exchange


async def _relay_stream(plan: Plan, attempt: Attempt, exchange: Exchange) -> AsyncIterator[bytes]:
    """Pass events through as they arrive; a stream that breaks ends with an error event."""
    with plan:
        for event in exchange.first_events:
            yield event
        async for event in exchange.rest():
            yield event
        assert exchange.end is not None
        plan.record(attempt, exchange.end)
        if isinstance(exchange.end, StreamBroken):
            log.warning("stream from %s broke after delivery: %s", attempt.upstream.name, exchange.end.detail)
            yield broken_stream_event(exchange.end.detail)


async def _http_exception(request: Request, error: Exception) -> Response:
    # Unknown routes and methods get an OpenAI-style error with the usual headers too.
    assert isinstance(error, HTTPException)
    return JSONResponse(not_found(request.method, request.url.path), status_code=error.status_code, headers=NO_UPSTREAM_HEADERS)


def _plain(reply: Reply) -> Response:
    assert reply.body is not None
    return Response(reply.body, status_code=reply.status, headers=reply.headers)


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front so callers (and tests) learn the real port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it a response written as
    # head then body waits ~40 ms for a delayed ACK on keep-alive connections.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def server(app: Starlette) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1))
