"""Async HTTP transport on aiohttp: sends one attempt and reports its outcome.

It never retries (the router owns the only retry loop) and never decides what happens next; it
moves bytes within the time the attempt was given and applies the endpoint's answer rules:

- a complete 2xx body must be an answer (`Endpoint.body_problem`), else `BadAnswer`;
- a stream commits on its first content event (`Kind.CONTENT`). Until then events are held,
  keep-alives are dropped, and the first-byte timer keeps running: an error event, the end of the
  stream, a break or silence before content are failures the router can still fail over from;
- after the commit, each event must follow within `timeouts.stream_idle` of the last one that was
  not a keep-alive, until the endpoint's end marker;
- a whole body must start within the first-byte allowance and keep coming (`timeouts.stream_idle`
  between its reads);
- an answer beyond the gateway's own limits (`max_response_bytes` for a whole body,
  `max_event_bytes` for one event or what is held before content) is `OverLimit`: read no
  further, and blamed on nobody, since a valid answer can be that large.

A timer that is the request's own deadline rather than the upstream's allowance reports
`DeadlineReached`, which moves no breaker.

aiohttp rather than httpx: on the gateway's hot path httpx and httpcore took three quarters of the
gateway's own time per request (py-spy, `benchmarks/README.md`); aiohttp's client costs a fraction
of that, and it ships universal wheels, so the Lambda package stays pure Python. Its session keeps
no cookies (an upstream's cookie must never reach another caller's request), follows no redirects
and retries nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import ssl
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Mapping

import aiohttp
import certifi
from anyio import CancelScope  # imported now: anyio loads it lazily, and a file may be short when it is needed

from .config import Config, Timeouts
from .endpoints import Endpoint, Kind, error_summary
from .events import Event
from .outcomes import BadAnswer, ConnectError, DeadlineReached, FirstByteTimeout, HttpError, Interrupted, Outcome, OverLimit, ProxyOverloaded, StreamBroken, StreamFailed, StreamStarted, Success
from .router import Attempt
from .sse import EventTooLarge, events, is_event_stream
from .surface import UpstreamRequest, upstream_headers

_DRAIN_SECONDS = 0.1  # at most this long, after a stream's end marker, for the rest of its bytes


# What a broken connection raises while a response is read: aiohttp's errors, and the socket's own.
_CUT = (aiohttp.ClientError, OSError)


def make_session(timeouts: Timeouts) -> aiohttp.ClientSession:
    """The shared upstream session: pooled connections, certifi's CA bundle, no cookies, no read timeout.

    Read timeouts are enforced per attempt (first byte, stream idle, overall deadline) by the
    transport itself; aiohttp only bounds connecting. The pool has no connection limit: with
    aiohttp's default (100 in all) the 101st concurrent request waits for a pooled connection, that
    wait counts toward the connect timeout, and a busy gateway blames healthy upstreams for its own
    limit and opens their breakers (the fault of vllm-project/production-stack#765 and
    BerriAI/litellm#19549). How many requests run at once is the server's to bound, not the pool's.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=_tls_context()),
        timeout=aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_connect=timeouts.connect),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # certifi's CA bundle (what httpx used before), built once: loading the bundle takes ~50 ms.
    return ssl.create_default_context(cafile=certifi.where())


@dataclass
class Exchange:
    """One attempt's result. For a committed stream: relay `held`, then `stream.rest()`, then read `stream.end`."""

    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""
    held: list[bytes] = field(default_factory=list)  # encoded events up to and including the first content
    stream: UpstreamStream | None = None


class Transport:
    """Sends attempts with one shared `aiohttp.ClientSession`, under `config`'s timeouts and response
    limits; `environ` supplies `headers_from_env` values."""

    def __init__(self, session: aiohttp.ClientSession, config: Config, environ: Mapping[str, str] = os.environ) -> None:
        self._session = session
        self._timeouts: Timeouts = config.timeouts
        self._max_response_bytes = config.max_response_bytes
        self._max_event_bytes = config.max_event_bytes
        self._environ = environ

    async def send(self, attempt: Attempt, request: UpstreamRequest, endpoint: Endpoint) -> Exchange:
        """Sends `request` to the attempt's upstream and returns how it went, never raising for the upstream's faults.

        Connection errors, timeouts (first byte, deadline), HTTP errors, bad answers and broken streams are
        outcomes in the Exchange. A stream is read up to its first content event, which is held, and
        committed; the rest is read through `Exchange.stream`. CancelledError (the caller left) propagates,
        a stream being read closed first.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + attempt.budget
        first_byte_by = started + attempt.first_byte_timeout
        cut_by_deadline = attempt.first_byte_timeout < self._timeouts.first_byte
        try:
            async with asyncio.timeout_at(first_byte_by):
                response = await self._session.request(
                    endpoint.method,
                    attempt.upstream.url + request.path,
                    headers=upstream_headers(attempt.upstream, request, self._environ),
                    data=request.body or None,
                    allow_redirects=False,
                )
        except aiohttp.ClientResponseError as error:
            # A status line or head aiohttp cannot parse (or a body malformed in the same packet).
            return Exchange(BadAnswer(f"malformed response ({' '.join(str(error.message).split())[:80]})"))
        except _CUT as error:
            if _out_of_local_resources(error):
                # The gateway's own limit, not the upstream's: blaming it would eject every healthy upstream.
                return Exchange(ProxyOverloaded(f"no local resource for a connection ({type(error).__name__})"))
            # Refused, reset or closed before a status line (or connecting took longer than
            # `timeouts.connect`): nothing was sent back, so the router may fail over transparently.
            return Exchange(ConnectError(type(error).__name__))
        except TimeoutError:
            return Exchange(DeadlineReached() if cut_by_deadline else FirstByteTimeout())
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status >= 300 or not request.stream or not is_event_stream(headers):
            body = await self._read_body(response, min(first_byte_by, deadline), deadline)
            if not isinstance(body, bytes):
                return Exchange(body)
            if response.status >= 300:
                return Exchange(HttpError(response.status, headers, body))
            if request.stream:
                return Exchange(BadAnswer(f"answered {headers.get('content-type', 'no content type')} to a stream request"))
            problem = endpoint.body_problem(body)
            if problem is not None:
                return Exchange(BadAnswer(problem))
            return Exchange(Success(response.status), headers, body)
        stream = UpstreamStream(response, endpoint, deadline, self._timeouts.stream_idle, self._max_event_bytes)
        try:
            outcome = await stream.commit(first_byte_by, cut_by_deadline)
        except BaseException:  # cancelled: the caller left
            await stream.aclose()
            raise
        if not isinstance(outcome, StreamStarted):
            await stream.aclose()
            return Exchange(outcome)
        return Exchange(outcome, headers, held=stream.held, stream=stream)


    async def _read_body(self, response: aiohttp.ClientResponse, first_by: float, deadline: float) -> bytes | Outcome:
        """The whole body (after decompression), or the outcome that ended reading it.

        Its first bytes must come by `first_by` (`FirstByteTimeout`) and each later read within
        `stream_idle` (`StreamBroken`: a body that stalls after its headers is the upstream's fault,
        not a wait for the request's deadline). A body that keeps coming however slowly is bounded
        by the deadline alone: some servers send a whole answer's headers at once and then blank
        lines while they generate it (DeepSeek's API documents this), so its pace proves nothing.
        More than `max_response_bytes` is `OverLimit`, a cut body a `StreamBroken`, the deadline
        `DeadlineReached`. The connection goes back to the pool only when the body was read to its end.
        """
        loop = asyncio.get_running_loop()
        content = response.content
        stop_watching = _fail_the_body_when_the_connection_closes(response)
        body = bytearray()
        read_by = first_by
        try:
            while not content.at_eof():
                try:
                    async with asyncio.timeout_at(read_by):
                        chunk = await content.readany()
                except TimeoutError:
                    if read_by >= deadline:
                        return DeadlineReached()
                    if not body:
                        return FirstByteTimeout()
                    return StreamBroken(f"stalled: no body bytes for {self._timeouts.stream_idle:g} s")
                body += chunk
                if len(body) > self._max_response_bytes:
                    return OverLimit(f"a body larger than {self._max_response_bytes} bytes (max_response_bytes)")
                read_by = min(loop.time() + self._timeouts.stream_idle, deadline)
            return bytes(body)
        except _CUT as error:
            return StreamBroken(f"body cut ({type(error).__name__})")
        finally:
            stop_watching()
            _release(response)


# This machine's own limits, whoever the connection was for: no file descriptor left in the process
# (EMFILE) or the system (ENFILE), no local port left to connect from (EADDRNOTAVAIL: a pool with no
# limit can use them up towards one upstream), no buffer or memory for a socket.
_LOCAL_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM})


def _out_of_local_resources(error: BaseException) -> bool:
    """Whether `error`, or the OS error it wraps, says this machine ran out of something a connection needs.
    aiohttp reports it as `ClientConnectorError`, like an upstream refusing."""
    seen: BaseException | None = error
    while seen is not None:
        for candidate in (seen, getattr(seen, "os_error", None)):
            if isinstance(candidate, OSError) and candidate.errno in _LOCAL_RESOURCE_ERRORS:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


def _release(response: aiohttp.ClientResponse) -> None:
    # Read to its end, the connection goes back to the pool; otherwise it is closed.
    if response.content.at_eof():
        response.release()
    else:
        response.close()


def _fail_the_body_when_the_connection_closes(response: aiohttp.ClientResponse) -> Callable[[], None]:
    """Makes a body that can never end raise instead of waiting; returns the function that stops watching.

    aiohttp's compiled HTTP parser (llhttp) reports a malformed body, such as a chunk size that is
    not hexadecimal, to the connection rather than to the body stream, and closes the connection: a
    reader of the body then waits for ever (aio-libs/aiohttp#10355, #10596; the pure-Python parser,
    which the Lambda package runs, raises in the reader at once). So when the connection closes
    before the body's end, the body stream is failed with `ClientPayloadError`, as the pure-Python
    parser would. The watch must be removed once the body is done: a pooled connection outlives it.
    """
    connection = response.connection
    protocol = connection.protocol if connection is not None else None
    if protocol is None:
        return _nothing  # the body had arrived whole with the headers, and the connection is released
    content = response.content

    def fail(_: object) -> None:
        if not content.is_eof():
            content.set_exception(aiohttp.ClientPayloadError("the connection closed before the body ended"))

    closed = protocol.closed
    if closed is None:  # closed already, before anyone asked
        fail(None)
        return _nothing
    closed.add_done_callback(fail)
    return lambda: closed.remove_done_callback(fail)


def _nothing() -> None:
    pass


class UpstreamStream:
    """One upstream's event stream, read under the endpoint's rules; `interrupt()` ends it from outside."""

    def __init__(self, response: aiohttp.ClientResponse, endpoint: Endpoint, deadline: float, idle: float, max_event_bytes: int) -> None:
        self.response = response
        self.status = response.status
        self._stop_watching = _fail_the_body_when_the_connection_closes(response)
        self._events = events(response.content.iter_any(), max_event_bytes)
        self._max_event_bytes = max_event_bytes
        assert endpoint.event_kind is not None, f"{endpoint.path} does not stream"
        self._kind = endpoint.event_kind
        self._end_is_answer = endpoint.end_is_answer
        self.deadline = deadline  # loop time: the request's deadline, which ends the stream
        self._idle = idle
        self._timer: asyncio.Timeout | None = None
        self._interrupted: str | None = None
        self.held: list[bytes] = []
        self._held_bytes = 0
        self.end: Outcome | None = None
        self.last: Event | None = None  # the last event relayed: the endpoint's error event follows on from it

    async def commit(self, by: float, cut_by_deadline: bool) -> Outcome:
        """Read until the first content event (`StreamStarted`, events so far in `held`) or the failure before it.

        For an endpoint whose end event is the answer (`Endpoint.end_is_answer`), reaching the end
        before any content commits too, with the stream already complete (`end` is `Success`).
        """
        try:
            async with self._timing(by):
                async for event in self._events:
                    kind = self._kind(event)
                    if event.unfinished and kind is not Kind.END:
                        continue  # the stream ended inside it: the standard discards it
                    if kind is Kind.CONTENT:
                        return self._hold(event) or StreamStarted(self.status)
                    if kind is Kind.OTHER:
                        broken = self._hold(event)
                        if broken is not None:
                            return broken
                    elif kind is Kind.ERROR:
                        return StreamBroken(f"error event before any content ({error_summary(event.data)})")
                    elif kind is Kind.FAILED:
                        return StreamBroken(f"failed before any content ({error_summary(event.data)})")
                    elif kind is Kind.END:
                        if not self._end_is_answer:
                            return StreamBroken("ended before any content")
                        self.end = Success(self.status)
                        return self._hold(event) or StreamStarted(self.status)
                    elif kind is Kind.MALFORMED:
                        return StreamBroken("malformed event before any content")
            return StreamBroken("ended before any content")
        except TimeoutError:
            if self._interrupted is not None:
                return Interrupted(self._interrupted)
            return DeadlineReached() if cut_by_deadline else FirstByteTimeout()
        except EventTooLarge as error:
            return OverLimit(f"{error} (max_event_bytes)")
        except _CUT as error:
            return StreamBroken(f"connection cut before any content ({type(error).__name__})")

    async def rest(self) -> AsyncIterator[bytes]:
        """The events after the commit, as they arrive; afterwards `end` says how the stream ended."""
        loop = asyncio.get_running_loop()
        try:
            if self.end is not None:  # complete at the commit
                await self._read_to_the_end()
                return
            quiet_until = min(loop.time() + self._idle, self.deadline)
            while self._interrupted is None:
                try:
                    async with self._timing(quiet_until):
                        event = await anext(self._events)
                except StopAsyncIteration:
                    self.end = StreamBroken("ended without its end marker")
                    return
                except TimeoutError:
                    self.end = self._silence(quiet_until)
                    return
                except EventTooLarge as error:
                    self.end = OverLimit(f"{error} (max_event_bytes)")
                    return
                except _CUT as error:
                    self.end = StreamBroken(f"connection cut ({type(error).__name__})")
                    return
                kind = self._kind(event)
                if kind is Kind.KEEPALIVE or (event.unfinished and kind is not Kind.END):
                    continue  # a keep-alive proves nothing: the idle timer keeps running
                if kind is Kind.ERROR:
                    self.end = StreamBroken(f"error event ({error_summary(event.data)})")
                    return
                if kind is Kind.MALFORMED:
                    self.end = StreamBroken("malformed event: data is neither JSON nor the end marker")
                    return
                self.last = event
                yield event.encode()
                if kind is Kind.END or kind is Kind.FAILED:
                    self.end = Success(self.status) if kind is Kind.END else StreamFailed(error_summary(event.data))
                    await self._read_to_the_end()
                    return
                quiet_until = min(loop.time() + self._idle, self.deadline)
            self.end = Interrupted(self._interrupted)
        finally:
            await self.aclose()

    def _hold(self, event: Event) -> OverLimit | None:
        """Keeps an event for the caller until the commit; `OverLimit` once they exceed `max_event_bytes`."""
        encoded = event.encode()
        self._held_bytes += len(encoded)
        if self._held_bytes > self._max_event_bytes:
            return OverLimit(f"more than {self._max_event_bytes} bytes of events before any content (max_event_bytes)")
        self.held.append(encoded)
        self.last = event
        return None

    def interrupt(self, reason: str) -> None:
        """End the stream at once (the gateway is shutting down); `end` becomes `Interrupted(reason)`."""
        self._interrupted = reason
        if self._timer is not None:
            with contextlib.suppress(RuntimeError):  # not waiting right now: the next read sees the flag
                self._timer.reschedule(asyncio.get_running_loop().time())

    async def aclose(self) -> None:
        """Close the upstream response, so the upstream stops generating. Idempotent; completes even
        inside a cancelled scope (the caller left), or the connection would be left half-read."""
        try:
            with CancelScope(shield=True):
                await self._events.aclose()
        finally:
            self._stop_watching()
            _release(self.response)

    async def _read_to_the_end(self) -> None:
        # The chunked terminator follows the end marker: read it (briefly), so aiohttp returns the
        # connection to its pool instead of dropping it and opening a new one for the next request.
        with contextlib.suppress(TimeoutError, *_CUT):
            async with asyncio.timeout(_DRAIN_SECONDS):
                async for _ in self._events:
                    pass

    def _silence(self, limit: float) -> Outcome:
        if self._interrupted is not None:
            return Interrupted(self._interrupted)
        if limit >= self.deadline:
            return DeadlineReached()
        return StreamBroken(f"stalled: no event for {self._idle:g} s")

    def _timing(self, when: float) -> asyncio.Timeout:
        self._timer = asyncio.timeout_at(when)
        return self._timer
