"""Local gateway: the router behind an OpenAI-compatible HTTP server.

Starlette provides routing and streaming responses and uvicorn the HTTP server; both are well
kept, so this module stays a thin adapter: it bounds the request body, drives the router's plan
while the caller is still there, relays the answer, and ends open streams with an error event
when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from .config import Config
from .endpoints import ENDPOINTS, Endpoint
from .events import BROKEN, DEADLINE, SHUTTING_DOWN, broken_message
from .logfmt import logfmt
from .outcomes import DeadlineReached, Interrupted, StreamBroken
from .router import ATTEMPTS_HEADER, NO_UPSTREAM_HEADERS, UPSTREAM_HEADER, Attempt, Plan, Reply, RequestMeta, Router
from .surface import UpstreamRequest, forwarded_headers, method_not_allowed, not_found, relayable_headers, wants_stream
from .transport import Exchange, Transport, UpstreamStream, make_session

log = logging.getLogger("failover.gateway")
T = TypeVar("T")

SHUTDOWN_REASON = "the proxy is shutting down"


def create_app(config: Config, router: Router | None = None, caller_region: str | None = None) -> Starlette:
    """The gateway app; pass `router` to inspect its health state (tests do)."""
    router = router or Router(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with make_session(config.timeouts) as session:
            app.state.transport = Transport(session, config.timeouts)
            yield

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "alive"}, headers=NO_UPSTREAM_HEADERS)

    async def ready(request: Request) -> Response:
        if router.is_ready():
            return JSONResponse({"status": "ready"}, headers=NO_UPSTREAM_HEADERS)
        return _plain(router.unavailable_reply())

    def proxy(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                body = await _bounded_body(request, config.max_request_bytes)
            except ClientDisconnect:
                return Response(status_code=499)  # nobody is there to read it
            if body is None:
                return _too_large(config.max_request_bytes)
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            upstream_request = UpstreamRequest(path, forwarded_headers(request.headers), body, endpoint.streams and wants_stream(body))
            plan = router.begin(RequestMeta(caller_region))
            try:
                driven = await _while_caller_waits(request, _drive(plan, request.app.state.transport, upstream_request, endpoint))
            except BaseException:
                plan.close()
                raise
            if driven is None:
                plan.close()  # the caller left: no verdict on the upstream, no further attempt
                log.info(logfmt(event="caller_left", method=request.method, path=request.url.path))
                return Response(status_code=499)
            attempt, exchange = driven
            reply = plan.result()
            if log.isEnabledFor(logging.INFO):
                log.info(logfmt(event="request", method=request.method, path=request.url.path, status=reply.status, upstream=reply.headers.get(UPSTREAM_HEADER), attempts=reply.headers[ATTEMPTS_HEADER]))
            if reply.body is not None or attempt is None or exchange is None:
                plan.close()
                return _plain(reply)
            headers = relayable_headers(exchange.headers) | reply.headers
            if exchange.stream is not None:
                relay = _Relay(plan, attempt, exchange, exchange.stream, endpoint)
                return StreamingResponse(relay.events(), status_code=reply.status, headers=headers, background=BackgroundTask(relay.finish))
            plan.close()
            return Response(exchange.body, status_code=reply.status, headers=headers)

        return handle

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            *(Route(endpoint.path, proxy(endpoint), methods=[endpoint.method]) for endpoint in ENDPOINTS),
        ],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    return app


# How long the rest of an over-limit body is read and dropped, so a client still sending gets
# the 413 rather than a connection reset (nginx's lingering close does the same).
_LINGER_SECONDS = 2.0


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it is known to exceed `limit` bytes; more than that is never kept."""
    chunks = request.stream()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        if "100-continue" in request.headers.get("expect", "").lower():
            return None  # the client waits for a go-ahead it will not get: it never sends the body
        await _drop_rest(chunks)
        return None
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            del body
            await _drop_rest(chunks)
            return None
    return bytes(body)


async def _drop_rest(chunks: AsyncIterator[bytes]) -> None:
    with contextlib.suppress(TimeoutError, ClientDisconnect):
        async with asyncio.timeout(_LINGER_SECONDS):
            async for _ in chunks:
                pass


def _too_large(limit: int) -> Response:
    message = f"The request body is larger than the {limit} bytes this proxy accepts (setting max_request_bytes)."
    error = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "request_too_large"}}
    # The rest of the body is never read, so the connection cannot carry another request.
    return JSONResponse(error, status_code=413, headers={**NO_UPSTREAM_HEADERS, "connection": "close"})


async def _drive(plan: Plan, transport: Transport, request: UpstreamRequest, endpoint: Endpoint) -> tuple[Attempt | None, Exchange | None]:
    """The router's retry loop: the plan picks each attempt, the transport reports back."""
    attempt = exchange = None
    for attempt in plan:
        exchange = await transport.send(attempt, request, endpoint)
        plan.record(attempt, exchange.outcome)
    return attempt, exchange


async def _while_caller_waits(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work` unless the caller disconnects first; then cancel it (closing its upstream request) and return None.

    `work` runs in this task, so it cannot finish unnoticed between the watcher's check and its
    cancel: the watcher only runs while `work` waits.
    """
    task = asyncio.current_task()
    assert task is not None
    state = {"finished": False, "left": False}

    async def watch() -> None:
        await _disconnected(request)
        if not state["finished"]:
            state["left"] = True
            task.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        result = await work
        state["finished"] = True
        return result
    except asyncio.CancelledError:
        if not state["left"]:
            raise
        task.uncancel()
        return None
    finally:
        watcher.cancel()


async def _disconnected(request: Request) -> None:
    # The body is read, so the next ASGI message is the disconnect (uvicorn holds it until then).
    while (await request.receive())["type"] != "http.disconnect":
        pass


# Streams being relayed by this process, so a shutdown can end each with the error event.
_OPEN_STREAMS: set[UpstreamStream] = set()


class _Relay:
    """A committed stream on its way to the caller; ends with an error event unless it completed."""

    def __init__(self, plan: Plan, attempt: Attempt, exchange: Exchange, stream: UpstreamStream, endpoint: Endpoint) -> None:
        self._plan = plan
        self._endpoint = endpoint
        self._attempt = attempt
        self._exchange = exchange
        self._stream = stream
        _OPEN_STREAMS.add(stream)

    async def events(self) -> AsyncIterator[bytes]:
        try:
            yield b"".join(self._exchange.held)  # one write for what arrived before the commit
            async for event in self._stream.rest():
                yield event
            end = self._stream.end
            self._plan.record(self._attempt, end)
            if isinstance(end, StreamBroken):
                yield self._error(broken_message(end.detail), BROKEN)
            elif isinstance(end, DeadlineReached):
                yield self._error("The request deadline passed before the stream completed.", DEADLINE)
            elif isinstance(end, Interrupted):
                yield self._error(f"The stream was stopped: {end.reason}.", SHUTTING_DOWN)
        finally:
            self._release()

    async def finish(self) -> None:
        """After the response, also when the caller left before it started: release the plan, close the upstream stream."""
        self._release()
        await self._stream.aclose()

    def _error(self, message: str, code: str) -> bytes:
        return self._endpoint.error_event(message, code, self._stream.last)

    def _release(self) -> None:
        _OPEN_STREAMS.discard(self._stream)
        self._plan.close()


async def _http_exception(request: Request, error: Exception) -> Response:
    # Unknown routes and methods get an OpenAI-style error with the usual headers too; a 405 keeps
    # the `Allow` header starlette names the route's methods in (RFC 9110 15.5.6: it must be sent).
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = ", ".join(sorted((error.headers or {}).get("Allow", "").split(", ")))  # starlette keeps them in a set
        body = method_not_allowed(request.method, request.url.path, allowed)
        return JSONResponse(body, status_code=405, headers={**NO_UPSTREAM_HEADERS, "allow": allowed})
    return JSONResponse(not_found(request.method, request.url.path), status_code=error.status_code, headers=NO_UPSTREAM_HEADERS)


def _plain(reply: Reply) -> Response:
    assert reply.body is not None
    return Response(reply.body, status_code=reply.status, headers=reply.headers)


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket up front so callers (and tests) learn the real port.

    Raises OSError (e.g. address in use) or OverflowError (port out of range) from the socket layer.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this; without it a response written as
        # head then body waits ~40 ms for a delayed ACK on keep-alive connections.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn, plus: on Ctrl-C or SIGTERM every open stream ends at once with the error event,
    instead of being cut when the graceful-shutdown timeout cancels it."""

    _loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            # A signal handler may run in the middle of the loop's own work: hand over safely.
            self._loop.call_soon_threadsafe(_interrupt_open_streams)


def _interrupt_open_streams() -> None:
    for stream in list(_OPEN_STREAMS):
        stream.interrupt(SHUTDOWN_REASON)


def server(app: ASGIApp) -> uvicorn.Server:
    """uvicorn for `app`: its own `date` header once, no `server` header (the upstream's are not relayed).

    Start it with `.run(sockets=...)`, which picks uvloop and httptools when they are installed
    (`asyncio.run(server.serve())` would leave the standard event loop in place).
    """
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1, server_header=False)
    return _Server(config)

