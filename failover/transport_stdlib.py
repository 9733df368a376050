"""Blocking HTTP transport on the standard library, for the Lambda handler.

Standard library only, so the function's deployment package needs no build
step. Like the httpx transport it sends one attempt, never retries, and
reports the outcome. Streams are read to the end here because a function URL
in BUFFERED mode returns the whole body at once.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .config import Timeouts
from .outcomes import ConnectError, FirstByteTimeout, HttpError, Outcome, StreamBroken, StreamStarted, Success, no_event_in_time
from .router import Attempt
from .sse import MalformedEvent, SseReader
from .surface import UpstreamRequest, upstream_headers

_READ_SIZE = 65536


@dataclass
class BufferedExchange:
    """One attempt's result; a started stream carries its events and how it `end`ed."""

    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    end: Outcome | None = None


class StdlibTransport:
    def __init__(self, timeouts: Timeouts, environ: Mapping[str, str] = os.environ, clock: Callable[[], float] = time.monotonic) -> None:
        self._timeouts = timeouts
        self._environ = environ
        self._clock = clock
        # Built once: without it, every HTTPS attempt builds its own context and reloads the CA bundle (~36 ms).
        self._tls = ssl.create_default_context()
        self._tls.set_alpn_protocols(["http/1.1"])  # as http.client's own default context does

    def send(self, attempt: Attempt, request: UpstreamRequest) -> BufferedExchange:
        started = self._clock()
        deadline = started + attempt.budget
        first_byte_by = started + attempt.first_byte_timeout
        target = urlsplit(attempt.upstream.url)
        if target.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                target.hostname, target.port, timeout=self._timeouts.connect, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=self._timeouts.connect)
        try:
            try:
                connection.connect()
            except OSError as error:
                return BufferedExchange(ConnectError(type(error).__name__))
            connection.sock.settimeout(max(first_byte_by - self._clock(), 0.001))
            try:
                connection.request("POST", target.path + request.path, body=request.body, headers=upstream_headers(attempt.upstream, request, self._environ))
                response = connection.getresponse()
            except TimeoutError:
                return BufferedExchange(FirstByteTimeout())
            except (OSError, http.client.HTTPException) as error:
                return BufferedExchange(ConnectError(type(error).__name__))
            headers = {k.lower(): v for k, v in response.getheaders()}
            reader = _Reader(connection.sock, response, deadline, self._clock)
            if response.status >= 300:
                body, _ = reader.read_all()
                return BufferedExchange(HttpError(response.status, headers, body))
            if not request.stream:
                body, complete = reader.read_all()
                if not complete:
                    return BufferedExchange(StreamBroken("body cut or late"))
                return BufferedExchange(Success(response.status), headers, body)
            return self._read_stream(reader, response.status, headers, first_byte_by)
        finally:
            connection.close()

    def _read_stream(self, reader: _Reader, status: int, headers: dict[str, str], first_byte_by: float) -> BufferedExchange:
        sse = SseReader()
        events: list[bytes] = []
        end: Outcome = Success(status)
        # One way out per failure; whether it is a failover (nothing delivered) or a broken stream is decided once below.
        while not sse.done:
            delivered = bool(events)
            limit = min(self._clock() + self._timeouts.stream_idle, reader.deadline) if delivered else first_byte_by
            try:
                chunk = reader.read_chunk(limit)
                if not chunk:
                    end = StreamBroken("ended without [DONE]" if delivered else "ended before any event")
                    break
                events.extend(sse.feed(chunk))
            except TimeoutError:
                end = no_event_in_time(delivered, at_deadline=limit >= reader.deadline)
                break
            except (OSError, http.client.HTTPException) as error:
                end = StreamBroken(f"connection cut ({type(error).__name__})")
                break
            except MalformedEvent as error:
                end = StreamBroken(str(error))
                break
        if not events:
            return BufferedExchange(end)
        return BufferedExchange(StreamStarted(status), headers, b"".join(events), end=end)


class _Reader:
    """Reads a response body in chunks, each bounded by a point in time."""

    def __init__(self, sock: socket.socket, response: http.client.HTTPResponse, deadline: float, clock: Callable[[], float]) -> None:
        self._sock = sock
        self._response = response
        self.deadline = deadline
        self._clock = clock

    def read_chunk(self, limit: float) -> bytes:
        remaining = limit - self._clock()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        return self._response.read1(_READ_SIZE)

    def read_all(self) -> tuple[bytes, bool]:
        """The whole body and whether it arrived complete before the deadline."""
        parts = []
        try:
            while chunk := self.read_chunk(self.deadline):
                parts.append(chunk)
        except (OSError, http.client.HTTPException):
            return b"".join(parts), False
        # A peer that closes early ends the read quietly; the bytes still owed tell.
        return b"".join(parts), not self._response.length
