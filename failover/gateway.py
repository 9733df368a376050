"""Local gateway: the router behind an OpenAI-compatible HTTP server.

Starlette provides routing and streaming responses and uvicorn the HTTP server; both are well
kept, so this module stays a thin adapter: it bounds the request body, drives the router's plan
while the caller is still there, relays the answer, and ends open streams with an error event
when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import socket
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import uvicorn
from anyio import CancelScope
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import Config
from .endpoints import ENDPOINTS, Endpoint
from .events import BROKEN, DEADLINE, PROXY_ERROR, SHUTTING_DOWN, TOO_LARGE, broken_message
from .logfmt import logfmt
from .outcomes import DeadlineReached, Interrupted, OverLimit, StreamBroken
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
            # anyio imports its event-loop backend the first time a cancel scope is entered; with no
            # file descriptor to spare then (EMFILE), closing an upstream stream would fail: load it now.
            with CancelScope():
                pass
            app.state.transport = Transport(session, config)
            yield

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "alive"}, headers=NO_UPSTREAM_HEADERS)

    async def ready(request: Request) -> Response:
        if router.is_ready():
            return JSONResponse({"status": "ready"}, headers=NO_UPSTREAM_HEADERS)
        return _plain(router.unavailable_reply())

    def proxy(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            # Registered while its body is still arriving, so a shutdown answers it too.
            waiting = _Waiting(request)
            try:
                body = await waiting.run(_bounded_body(request, config.max_request_bytes), watch=False)
            except ClientDisconnect:
                return Response(status_code=499)  # nobody is there to read it
            if waiting.stopped is _Stop.SHUTTING_DOWN:
                return _shutting_down(request, router.begin(RequestMeta(caller_region)))
            if body is None:
                return _too_large(config.max_request_bytes)
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            upstream_request = UpstreamRequest(path, forwarded_headers(request.headers), body, endpoint.streams and wants_stream(body))
            plan = router.begin(RequestMeta(caller_region))
            try:
                return await _answer(request, plan, upstream_request, endpoint)
            except Exception:
                # A fault of the gateway's own: the caller still gets an OpenAI-shaped answer on a connection
                # that stays usable, and no probe stays claimed (uvicorn's bare 500 would close it).
                plan.close()
                log.exception(logfmt(event="proxy_error", method=request.method, path=request.url.path))
                return _plain(plan.proxy_error())
            except BaseException:
                plan.close()
                raise

        return handle

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            *(Route(endpoint.path, proxy(endpoint), methods=[endpoint.method]) for endpoint in ENDPOINTS),
        ],
        exception_handlers={HTTPException: _http_exception, Exception: _server_error},
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


async def _answer(request: Request, plan: Plan, upstream_request: UpstreamRequest, endpoint: Endpoint) -> Response:
    """Drive the plan while the caller waits, then the answer: the router's own, a whole body, or a relayed stream.

    The plan is closed here, except for a stream, whose relay closes it when the stream ends.
    """
    waiting = _Waiting(request)
    driven = await waiting.run(_drive(plan, request.app.state.transport, upstream_request, endpoint))
    if driven is None:
        if waiting.stopped is _Stop.SHUTTING_DOWN:
            return _shutting_down(request, plan)
        plan.close()  # no verdict on the upstream, no further attempt
        log.info(logfmt(event="caller_left", method=request.method, path=request.url.path))
        return Response(status_code=499)
    attempt, exchange = driven
    reply = plan.result()
    _log_request(request, reply)
    if reply.body is not None or attempt is None or exchange is None:
        plan.close()
        return _plain(reply)
    headers = relayable_headers(exchange.headers) | reply.headers
    if exchange.stream is None:
        plan.close()
        return Response(exchange.body, status_code=reply.status, headers=headers)
    stream = exchange.stream
    try:
        # Events are decoded and re-encoded as UTF-8 whatever charset the upstream named, and a stream must
        # not be stored by anything between (the WHATWG spec's own example sends no-cache).
        headers |= _EVENT_STREAM_HEADERS
        relay = _Relay(plan, attempt, exchange, stream, endpoint, request)
        return _RelayResponse(relay, reply.status, headers)
    except BaseException:
        await stream.aclose()
        raise


_EVENT_STREAM_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


def _shutting_down(request: Request, plan: Plan) -> Response:
    reply = plan.shutting_down(SHUTDOWN_REASON)
    plan.close()
    _log_request(request, reply)
    return _plain(reply)


def _log_request(request: Request, reply: Reply) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(logfmt(event="request", method=request.method, path=request.url.path, status=reply.status, upstream=reply.headers.get(UPSTREAM_HEADER), attempts=reply.headers[ATTEMPTS_HEADER]))


async def _drive(plan: Plan, transport: Transport, request: UpstreamRequest, endpoint: Endpoint) -> tuple[Attempt | None, Exchange | None]:
    """The router's retry loop: the plan picks each attempt, the transport reports back."""
    attempt = exchange = None
    for attempt in plan:
        exchange = await transport.send(attempt, request, endpoint)
        plan.record(attempt, exchange.outcome)
    return attempt, exchange


class _Stop(enum.Enum):
    """Why a request's work was stopped before its answer was decided."""

    CALLER_LEFT = "caller_left"
    SHUTTING_DOWN = "shutting_down"


# Requests whose answer is not yet decided, so a shutdown can answer each before uvicorn cancels it.
_WAITING: set[_Waiting] = set()


class _Waiting:
    """A request whose answer is being decided: its work runs in the request's own task until it is done, the
    caller disconnects, or the gateway stops it while shutting down (`stop`); `stopped` then says which.

    The work runs in this task, so it cannot finish unnoticed between a stop and its cancel: a stop only
    runs while the work waits, and the cancel reaches it at that wait.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._finished = False
        self.stopped: _Stop | None = None

    async def run(self, work: Awaitable[T], watch: bool = True) -> T | None:
        """`work`'s result, or None when it was stopped (its attempt cancelled, its upstream request closed).

        `watch=False` while `work` itself reads the request body, which is where a disconnect then shows.
        """
        self._finished = False
        watcher = asyncio.ensure_future(self._watch()) if watch else None
        _WAITING.add(self)
        try:
            result = await work
            self._finished = True
            return result
        except asyncio.CancelledError:
            if self.stopped is None:
                raise
            self._task.uncancel()
            return None
        finally:
            _WAITING.discard(self)
            if watcher is not None:
                watcher.cancel()

    def stop(self, reason: _Stop) -> None:
        """Cancel the work unless it is done or already stopped."""
        if not self._finished and self.stopped is None:
            self.stopped = reason
            self._task.cancel()

    async def _watch(self) -> None:
        # The body is read, so the next ASGI message is the disconnect (uvicorn holds it until then).
        while (await self._request.receive())["type"] != "http.disconnect":
            pass
        self.stop(_Stop.CALLER_LEFT)


# Streams being relayed by this process, so a shutdown can end each with the error event.
_OPEN_STREAMS: set[UpstreamStream] = set()
# How long after the request's deadline a relay may still be sending: the deadline ends the upstream
# stream with an error event, which a reading caller receives at once; only a caller who stopped
# reading is still being sent to after this.
_SEND_GRACE_SECONDS = 1.0


class _Relay:
    """A committed stream on its way to the caller; ends with an error event unless it completed.

    `finish` releases everything once the response is over, however it ended, and logs a stream the caller
    did not stay for: `caller_left`, or `caller_not_reading` when sending to it outlasted the deadline.
    """

    def __init__(self, plan: Plan, attempt: Attempt, exchange: Exchange, stream: UpstreamStream, endpoint: Endpoint, request: Request) -> None:
        self._plan = plan
        self._endpoint = endpoint
        self._attempt = attempt
        self._exchange = exchange
        self._stream = stream
        self._method = request.method
        self._path = request.url.path
        self._ended = False  # the stream's end was recorded: nothing more to say about it
        self.send_by = stream.deadline + _SEND_GRACE_SECONDS  # loop time
        self.events = self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        _OPEN_STREAMS.add(self._stream)
        try:
            yield b"".join(self._exchange.held)  # one write for what arrived before the commit
            try:
                async for event in self._stream.rest():
                    yield event
            except Exception:
                # A fault of the gateway's own while relaying: the stream still ends in a way the caller
                # can tell from a complete one, and the plan closes without blaming the upstream.
                log.exception(logfmt(event="proxy_error", method=self._method, path=self._path, upstream=self._attempt.upstream.name))
                self._ended = True
                yield self._error("The proxy failed while relaying the stream; its log has the details.", PROXY_ERROR)
                return
            end = self._stream.end
            self._plan.record(self._attempt, end)
            self._ended = True
            if isinstance(end, StreamBroken):
                yield self._error(broken_message(end.detail), BROKEN)
            elif isinstance(end, DeadlineReached):
                yield self._error("The request deadline passed before the stream completed.", DEADLINE)
            elif isinstance(end, OverLimit):
                yield self._error(f"The upstream's stream holds more than this proxy accepts: {end.detail}.", TOO_LARGE)
            elif isinstance(end, Interrupted):
                yield self._error(f"The stream was stopped: {end.reason}.", SHUTTING_DOWN)
        finally:
            self._release()

    async def finish(self, caller_not_reading: bool) -> None:
        """After the response, however it ended (also when the caller left before it started): log a stream
        the caller did not stay for, release the plan, close the upstream stream."""
        if not self._ended:
            self._ended = True
            reason = "caller_not_reading" if caller_not_reading else "caller_left"
            log.info(logfmt(event=reason, method=self._method, path=self._path, upstream=self._attempt.upstream.name, attempt=self._attempt.number))
        await self.events.aclose()
        self._release()
        await self._stream.aclose()

    def _error(self, message: str, code: str) -> bytes:
        return self._endpoint.error_event(message, code, self._stream.last)

    def _release(self) -> None:
        _OPEN_STREAMS.discard(self._stream)
        self._plan.close()


class _RelayResponse(StreamingResponse):
    """A relayed stream, sent within the request's deadline (plus `_SEND_GRACE_SECONDS`).

    The stream's own timers end it at the deadline, but only while it waits for the upstream; a caller who
    stops reading blocks the send instead, and would hold the upstream connection for as long as it likes.
    Past `send_by` the response is abandoned: the upstream stream is closed and uvicorn closes the
    caller's connection (it logs that the response was not completed).
    """

    def __init__(self, relay: _Relay, status: int, headers: dict[str, str]) -> None:
        super().__init__(relay.events, status_code=status, headers=headers)
        self._relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller_not_reading = False
        try:
            async with asyncio.timeout_at(self._relay.send_by):
                await super().__call__(scope, receive, send)
        except TimeoutError:
            caller_not_reading = True
        finally:
            await self._relay.finish(caller_not_reading)


async def _http_exception(request: Request, error: Exception) -> Response:
    # Unknown routes and methods get an OpenAI-style error with the usual headers too; a 405 keeps
    # the `Allow` header starlette names the route's methods in (RFC 9110 15.5.6: it must be sent).
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = ", ".join(sorted((error.headers or {}).get("Allow", "").split(", ")))  # starlette keeps them in a set
        body = method_not_allowed(request.method, request.url.path, allowed)
        return JSONResponse(body, status_code=405, headers={**NO_UPSTREAM_HEADERS, "allow": allowed})
    return JSONResponse(not_found(request.method, request.url.path), status_code=error.status_code, headers=NO_UPSTREAM_HEADERS)


async def _server_error(request: Request, error: Exception) -> Response:
    # The last resort, for a fault outside the proxy routes' own handling (which answers and keeps the
    # connection): OpenAI-shaped, and `connection: close`, since uvicorn closes it after this answer.
    body = {"error": {"message": "The proxy failed while handling the request; its log has the details.", "type": "server_error", "code": PROXY_ERROR}}
    return JSONResponse(body, status_code=500, headers={**NO_UPSTREAM_HEADERS, "connection": "close"})


def _plain(reply: Reply) -> Response:
    assert reply.body is not None
    return Response(reply.body, status_code=reply.status, headers=reply.headers)


def bind(host: str, port: int, unread_limit: float | None = None) -> socket.socket:
    """Bind the listening socket up front so callers (and tests) learn the real port.

    `unread_limit` (seconds, Linux only): how long an answer may sit unread by a caller (a zero
    receive window) or unacknowledged before the OS drops that caller's connection
    (TCP_USER_TIMEOUT, tcp(7)). Giving up on a caller who stopped reading only closes the
    connection gracefully, which waits for the unread bytes to drain, for ever: this bounds it.
    Raises OSError (e.g. address in use) or OverflowError (port out of range) from the socket layer.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit these; without TCP_NODELAY a response written as
        # head then body waits ~40 ms for a delayed ACK on keep-alive connections.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if unread_limit is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, round(unread_limit * 1000)))
        sock.bind((host, port))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def unread_limit(config: Config) -> float:
    """Seconds a caller may leave an answer unread before its connection is dropped (`bind`): the request's
    deadline and the send grace, so no answer outlives its deadline by much, however the caller behaves."""
    return config.timeouts.total + _SEND_GRACE_SECONDS


def raise_open_file_limit() -> int:
    """Raises this process's soft limit on open files to its hard limit, and returns the limit now in force.

    Each request in flight holds two descriptors (the caller's connection and the upstream's), and the
    usual soft limit (1024 on Linux, 256 on macOS) is far below what the hard limit allows: servers raise
    it at start, as nginx's `worker_rlimit_nofile` does. Past the limit connections fail (EMFILE), which
    the transport answers as `503 proxy_overloaded` rather than blaming upstreams.
    """
    import resource  # POSIX only, like the rest of the server

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):  # macOS caps the soft limit at OPEN_MAX below an unlimited hard limit
        return soft
    return wanted


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
            # A signal handler may run in the middle of the loop's own work: hand over safely. A second
            # Ctrl-C makes uvicorn exit at once, cancelling requests without waiting: answer them first.
            self._loop.call_soon_threadsafe(_stop_everything if self.force_exit else _interrupt_open_streams)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits `timeout_graceful_shutdown` (after a fixed pause) for running requests, then
        # cancels them, and a request cancelled before its answer started gets its bare 500. So requests
        # still waiting for an upstream are answered (503 proxy_shutting_down) a little before that, and
        # streams that committed meanwhile end with the error event.
        grace = max(0.0, self.config.timeout_graceful_shutdown - _SHUTDOWN_ANSWER_MARGIN)
        timer = asyncio.get_running_loop().call_later(_UVICORN_SHUTDOWN_PAUSE + grace, _stop_everything)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()


_UVICORN_SHUTDOWN_PAUSE = 0.1  # uvicorn.Server.shutdown sleeps this long before it starts waiting
_SHUTDOWN_ANSWER_MARGIN = 0.3  # answering takes milliseconds; this leaves room on a loaded machine


def _interrupt_open_streams() -> None:
    for stream in list(_OPEN_STREAMS):
        stream.interrupt(SHUTDOWN_REASON)


def _stop_everything() -> None:
    for waiting in list(_WAITING):
        waiting.stop(_Stop.SHUTTING_DOWN)
    _interrupt_open_streams()


def server(app: ASGIApp) -> uvicorn.Server:
    """uvicorn for `app`: its own `date` header once, no `server` header (the upstream's are not relayed).

    Start it with `.run(sockets=...)`, which picks uvloop and httptools when they are installed
    (`asyncio.run(server.serve())` would leave the standard event loop in place).
    """
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=1, server_header=False)
    return _Server(config)

