"""Async HTTP transport on httpx: sends one attempt and reports its outcome.

It never retries (the router owns the only retry loop) and never decides what
happens next; it only moves bytes within the time the attempt was given.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import AsyncIterator, Mapping

import httpx

from .config import Timeouts
from .outcomes import ConnectError, FirstByteTimeout, HttpError, Outcome, StreamBroken, StreamStarted, Success, no_event_in_time
from .router import Attempt
from .sse import MalformedEvent, SseReader
from .surface import UpstreamRequest, upstream_headers

_MAX_CONNECTIONS = 100  # per gateway process, across all upstreams


def make_client(timeouts: Timeouts) -> httpx.AsyncClient:
    # Read timeouts are enforced per attempt (first byte, stream idle, overall
    # deadline) by the transport itself; httpx only bounds connecting.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=timeouts.connect, read=None, write=timeouts.total, pool=timeouts.connect),
        limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS),
        transport=httpx.AsyncHTTPTransport(retries=0),
        follow_redirects=False,
    )


@dataclass
class Exchange:
    """One attempt's result. For a started stream, iterate `rest()` then read `end`."""

    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    first_events: list[bytes] = field(default_factory=list)
    end: Outcome | None = None
    source: _EventStream | None = None  # the open stream behind `rest()`

    async def rest(self) -> AsyncIterator[bytes]:
        """The stream's remaining events; afterwards `end` is `Success` or `StreamBroken`."""
        assert self.source is not None
        try:
            while True:
                events = await self.source.next_events(delivered=True)
                if not isinstance(events, list):
                    self.end = events
                    return
                for event in events:
                    yield event
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self.source is not None:
            await self.source.response.aclose()


class HttpxTransport:
    def __init__(self, client: httpx.AsyncClient, timeouts: Timeouts, environ: Mapping[str, str] = os.environ) -> None:
        self._client = client
        self._timeouts = timeouts
        self._environ = environ

    async def send(self, attempt: Attempt, request: UpstreamRequest) -> Exchange:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + attempt.budget
        upstream_request = self._client.build_request(
            "POST",
            attempt.upstream.url + request.path,
            headers=upstream_headers(attempt.upstream, request, self._environ),
            content=request.body,
        )
        first_byte_by = loop.time() + attempt.first_byte_timeout
        try:
            async with asyncio.timeout_at(first_byte_by):
                response = await self._client.send(upstream_request, stream=True)
        except TimeoutError:
            return Exchange(FirstByteTimeout())
        except httpx.TransportError as error:
            # Refused, reset or closed before a status line: nothing was sent
            # back, so the router may fail over transparently.
            return Exchange(ConnectError(type(error).__name__))
        headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status_code >= 300:
            body = await _read_body(response, deadline)
            return Exchange(HttpError(response.status_code, headers, body or b""))
        if not request.stream:
            body = await _read_body(response, deadline)
            if body is None:
                return Exchange(StreamBroken("body cut or late"))
            return Exchange(Success(response.status_code), headers, body)
        stream = _EventStream(response, deadline, self._timeouts.stream_idle)
        first = await stream.next_events(delivered=False, timeout_at=first_byte_by)
        if isinstance(first, list):
            return Exchange(StreamStarted(response.status_code), headers, first_events=first, source=stream)
        # Timed out, broke or ended before the caller saw anything: the router may still fail over.
        await response.aclose()
        return Exchange(first)


async def _read_body(response: httpx.Response, deadline: float) -> bytes | None:
    try:
        async with asyncio.timeout_at(deadline):
            return await response.aread()
    except (TimeoutError, httpx.TransportError):
        return None
    finally:
        await response.aclose()


class _EventStream:
    def __init__(self, response: httpx.Response, deadline: float, idle: float) -> None:
        self.response = response
        self._chunks = response.aiter_bytes()
        self._reader = SseReader()
        self._deadline = deadline
        self._idle = idle

    async def next_events(self, delivered: bool, timeout_at: float | None = None) -> list[bytes] | Outcome:
        """Whole events as they arrive, or the outcome that ended the stream."""
        loop = asyncio.get_running_loop()
        limit = timeout_at if timeout_at is not None else min(loop.time() + self._idle, self._deadline)
        while True:
            if self._reader.done:
                return Success(self.response.status_code)
            try:
                async with asyncio.timeout_at(limit):
                    chunk = await anext(self._chunks)
            except TimeoutError:
                return no_event_in_time(delivered, at_deadline=limit >= self._deadline)
            except StopAsyncIteration:
                return StreamBroken("ended without [DONE]")
            except httpx.TransportError as error:
                return StreamBroken(f"connection cut ({type(error).__name__})")
            try:
                events = self._reader.feed(chunk)
            except MalformedEvent as error:
                return StreamBroken(str(error))
            if events:
                return events
