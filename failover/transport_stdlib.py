"""Blocking HTTP transport on the standard library, for the Lambda handler.

Standard library only, so the function's deployment package needs no build
step. Like the httpx transport it sends one attempt, never retries, and
reports the outcome. Streams are read to the end here because a function URL
in BUFFERED mode returns the whole body at once: nothing reaches the caller
before the end, so a stream that breaks anywhere still fails over.

Its stream check is the older, stricter one (line by line, LF and CRLF only);
the gateway's transport follows the WHATWG rules and the endpoint rules.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .config import Timeouts
from .outcomes import ConnectError, DeadlineReached, FirstByteTimeout, HttpError, Outcome, StreamBroken, StreamStarted, Success
from .router import Attempt
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
        sse = _SseReader()
        events: list[bytes] = []
        # Buffered: the caller holds nothing until the end, so any break is a failure the router can fail over from.
        while not sse.done:
            limit = min(self._clock() + self._timeouts.stream_idle, reader.deadline) if events else first_byte_by
            try:
                chunk = reader.read_chunk(limit)
                if not chunk:
                    return BufferedExchange(StreamBroken("ended without [DONE]" if events else "ended before any event"))
                events.extend(sse.feed(chunk))
            except TimeoutError:
                if limit >= reader.deadline:
                    return BufferedExchange(DeadlineReached())
                return BufferedExchange(StreamBroken("stalled: no event in time") if events else FirstByteTimeout())
            except (OSError, http.client.HTTPException) as error:
                return BufferedExchange(StreamBroken(f"connection cut ({type(error).__name__})"))
            except _MalformedEvent as error:
                return BufferedExchange(StreamBroken(str(error)))
        return BufferedExchange(StreamStarted(status), headers, b"".join(events), end=Success(status))


class _MalformedEvent(ValueError):
    """A `data:` line that is neither JSON nor `[DONE]`."""


class _SseReader:
    """Whole events as they arrive, each checked line by line."""

    def __init__(self) -> None:
        self._buffer = b""
        self.done = False  # saw `data: [DONE]`, the only proof a stream is complete

    def feed(self, chunk: bytes) -> list[bytes]:
        # Normalised after joining, so a CRLF split across two chunks is still one line ending.
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events = []
        while not self.done and b"\n\n" in self._buffer:
            event, self._buffer = self._buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._check(line[5:].strip())
            events.append(event + b"\n\n")
        return events

    def _check(self, value: bytes) -> None:
        if value == b"[DONE]":
            self.done = True
            return
        try:
            json.loads(value)
        except ValueError:
            raise _MalformedEvent("a data line is neither JSON nor [DONE]") from None


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
