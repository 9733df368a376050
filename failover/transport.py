"""Async HTTP transport on aiohttp: sends one attempt and reports its outcome.

It never retries (the router owns the only retry loop) and never decides what happens next; it
moves bytes within the time the attempt was given and applies the endpoint's answer rules:

- a complete 2xx body must be an answer (`Endpoint.body_problem`), else `BadAnswer`;
- a stream commits on its first content event (`Kind.CONTENT`). Until then events are held,
  keep-alives are dropped, and the first-byte timer keeps running: an error event, the end of the
  stream, a break or silence before content are failures the router can still fail over from;
- after the commit, each event must follow within `timeouts.stream_idle` of the last one that was
  not a keep-alive, until the endpoint's end marker.

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
import functools
import os
import ssl
from dataclasses import dataclass, field
from typing import AsyncIterator, Mapping

import aiohttp
import anyio
import certifi

from .config import Timeouts
from .endpoints import Endpoint, Kind, error_summary
from .events import Event
from .outcomes import BadAnswer, ConnectError, DeadlineReached, FirstByteTimeout, HttpError, Interrupted, Outcome, StreamBroken, StreamFailed, StreamStarted, Success
from .router import Attempt
from .sse import events, is_event_stream
from .surface import UpstreamRequest, upstream_headers

_MAX_CONNECTIONS = 100  # per gateway process, across all upstreams
_DRAIN_SECONDS = 0.1  # at most this long, after a stream's end marker, for the rest of its bytes


# What a broken connection raises while a response is read: aiohttp's errors, and the socket's own.
_CUT = (aiohttp.ClientError, OSError)


def make_session(timeouts: Timeouts) -> aiohttp.ClientSession:
    """The shared upstream session: pooled connections, certifi's CA bundle, no cookies, no read timeout.

    Read timeouts are enforced per attempt (first byte, stream idle, overall deadline) by the
    transport itself; aiohttp only bounds connecting.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, ssl=_tls_context()),
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
    """Sends attempts with one shared `aiohttp.ClientSession`; `environ` supplies `headers_from_env` values."""

    def __init__(self, session: aiohttp.ClientSession, timeouts: Timeouts, environ: Mapping[str, str] = os.environ) -> None:
        self._session = session
        self._timeouts = timeouts
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
        except _CUT as error:
            # Refused, reset or closed before a status line (or connecting took longer than
            # `timeouts.connect`): nothing was sent back, so the router may fail over transparently.
            return Exchange(ConnectError(type(error).__name__))
        except TimeoutError:
            return Exchange(DeadlineReached() if cut_by_deadline else FirstByteTimeout())
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status >= 300:
            body = await _read_body(response, deadline)
            return Exchange(HttpError(response.status, headers, body or b""))
        if not request.stream or not is_event_stream(headers):
            body = await _read_body(response, deadline)
            if body is None:
                return Exchange(DeadlineReached() if loop.time() >= deadline else StreamBroken("body cut"))
            if request.stream:
                return Exchange(BadAnswer(f"answered {headers.get('content-type', 'no content type')} to a stream request"))
            problem = endpoint.body_problem(body)
            if problem is not None:
                return Exchange(BadAnswer(problem))
            return Exchange(Success(response.status), headers, body)
        stream = UpstreamStream(response, endpoint, deadline, self._timeouts.stream_idle)
        try:
            outcome = await stream.commit(first_byte_by, cut_by_deadline)
        except BaseException:  # cancelled: the caller left
            await stream.aclose()
            raise
        if not isinstance(outcome, StreamStarted):
            await stream.aclose()
            return Exchange(outcome)
        return Exchange(outcome, headers, held=stream.held, stream=stream)


async def _read_body(response: aiohttp.ClientResponse, deadline: float) -> bytes | None:
    """The whole body, or None when it was cut or still arriving at the deadline (the connection is then closed)."""
    try:
        async with asyncio.timeout_at(deadline):
            return await response.read()
    except (TimeoutError, *_CUT):
        response.close()
        return None
    finally:
        response.release()


class UpstreamStream:
    """One upstream's event stream, read under the endpoint's rules; `interrupt()` ends it from outside."""

    def __init__(self, response: aiohttp.ClientResponse, endpoint: Endpoint, deadline: float, idle: float) -> None:
        self.response = response
        self.status = response.status
        self._events = events(response.content.iter_any())
        assert endpoint.event_kind is not None, f"{endpoint.path} does not stream"
        self._kind = endpoint.event_kind
        self.deadline = deadline  # loop time: the request's deadline, which ends the stream
        self._idle = idle
        self._timer: asyncio.Timeout | None = None
        self._interrupted: str | None = None
        self.held: list[bytes] = []
        self.end: Outcome | None = None
        self.last: Event | None = None  # the last event relayed: the endpoint's error event follows on from it

    async def commit(self, by: float, cut_by_deadline: bool) -> Outcome:
        """Read until the first content event (`StreamStarted`, events so far in `held`) or the failure before it."""
        try:
            async with self._timing(by):
                async for event in self._events:
                    kind = self._kind(event)
                    if kind is Kind.CONTENT:
                        self._hold(event)
                        return StreamStarted(self.status)
                    if kind is Kind.OTHER:
                        self._hold(event)
                    elif kind is Kind.ERROR:
                        return StreamBroken(f"error event before any content ({error_summary(event.data)})")
                    elif kind is Kind.FAILED:
                        return StreamBroken(f"failed before any content ({error_summary(event.data)})")
                    elif kind is Kind.END:
                        return StreamBroken("ended before any content")
                    elif kind is Kind.MALFORMED:
                        return StreamBroken("malformed event before any content")
            return StreamBroken("ended before any content")
        except TimeoutError:
            if self._interrupted is not None:
                return Interrupted(self._interrupted)
            return DeadlineReached() if cut_by_deadline else FirstByteTimeout()
        except _CUT as error:
            return StreamBroken(f"connection cut before any content ({type(error).__name__})")

    async def rest(self) -> AsyncIterator[bytes]:
        """The events after the commit, as they arrive; afterwards `end` says how the stream ended."""
        loop = asyncio.get_running_loop()
        try:
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
                except _CUT as error:
                    self.end = StreamBroken(f"connection cut ({type(error).__name__})")
                    return
                kind = self._kind(event)
                if kind is Kind.KEEPALIVE:
                    continue  # proves nothing: the idle timer keeps running
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

    def _hold(self, event: Event) -> None:
        self.held.append(event.encode())
        self.last = event

    def interrupt(self, reason: str) -> None:
        """End the stream at once (the gateway is shutting down); `end` becomes `Interrupted(reason)`."""
        self._interrupted = reason
        if self._timer is not None:
            with contextlib.suppress(RuntimeError):  # not waiting right now: the next read sees the flag
                self._timer.reschedule(asyncio.get_running_loop().time())

    async def aclose(self) -> None:
        """Close the upstream response, so the upstream stops generating. Idempotent; completes even
        inside a cancelled scope (the caller left), or the connection would be left half-read."""
        with anyio.CancelScope(shield=True):
            await self._events.aclose()
        # Read to its end, the connection goes back to the pool; otherwise it is closed.
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()

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
