"""What one attempt against an upstream ended with, as reported by a transport.

Who is at fault decides what happens next (`router.classify`): the upstream's faults fail over and
count toward its breaker; the caller's own mistakes go back unchanged; an attempt ended by the
router itself (its deadline) or by the gateway (shutting down) moves no breaker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union


@dataclass(frozen=True)
class Success:
    """2xx with a usable answer: a complete body, or a stream that reached its end marker."""

    status: int = 200


@dataclass(frozen=True)
class StreamStarted:
    """A 2xx stream's first content event arrived: the caller is committed to this upstream.

    Its health verdict waits for the end: `Success`, `StreamBroken`, or an ending that is nobody's fault.
    """

    status: int = 200


@dataclass(frozen=True)
class HttpError:
    """The upstream answered with a non-2xx status; headers use lower-case names."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ConnectError:
    """No connection, or it was reset before response headers."""

    detail: str = ""


@dataclass(frozen=True)
class FirstByteTimeout:
    """Connected, but no answer (headers and, for a stream, its first content event) within `timeouts.first_byte`."""


@dataclass(frozen=True)
class StreamBroken:
    """The body broke: cut, stalled past `timeouts.stream_idle`, malformed, an error event, or ended without its end marker.

    Whether it can still fail over (nothing reached the caller yet) is the router's call.
    """

    detail: str


@dataclass(frozen=True)
class StreamFailed:
    """A committed stream ended with the upstream's own report that it failed (the Responses API's
    `response.failed`), relayed to the caller as it came: the stream is complete, the answer is not.

    Counts against the upstream like a broken stream; the caller needs no error event of ours.
    """

    detail: str


@dataclass(frozen=True)
class BadAnswer:
    """A 2xx whose whole body is no answer: an error object, no choices, not JSON, or not a stream when one was asked."""

    detail: str


@dataclass(frozen=True)
class DeadlineReached:
    """The request's own deadline (`timeouts.total`) ended the attempt before the upstream's allowances ran out.

    The router's limit, not the upstream's failure: no breaker moves.
    """


@dataclass(frozen=True)
class ProxyOverloaded:
    """The gateway could not make the attempt for want of its own resources: no file descriptor left for
    a connection (EMFILE, ENFILE). Not the upstream's failure: no breaker moves, and no other upstream
    is tried (the next attempt would fail the same way); the caller gets `503 proxy_overloaded`."""

    detail: str


@dataclass(frozen=True)
class OverLimit:
    """The upstream's answer exceeds one of the gateway's own limits (`max_response_bytes` for a whole
    body, `max_event_bytes` for a stream event or what is held before content). The answer may well
    be valid (a large embeddings batch, an image in a Responses event): no breaker moves, and no other
    upstream is tried, which would send the same answer. The caller gets `502 response_too_large`, or
    after a stream's first content the error event with that code; `detail` names the setting."""

    detail: str


@dataclass(frozen=True)
class Interrupted:
    """The gateway ended the attempt (it is shutting down): nobody's failure, no breaker moves."""

    reason: str


Outcome = Union[Success, StreamStarted, HttpError, ConnectError, FirstByteTimeout, StreamBroken, StreamFailed, BadAnswer, DeadlineReached, Interrupted, ProxyOverloaded, OverLimit]


def describe(outcome: Outcome) -> str:
    """Short, body-free label for logs and error bodies, e.g. `http_503`, `stream_broken: connection cut (ReadError)`."""
    if isinstance(outcome, HttpError):
        return f"http_{outcome.status}"
    if isinstance(outcome, StreamBroken):
        return f"stream_broken: {outcome.detail}"
    if isinstance(outcome, StreamFailed):
        return f"stream_failed: {outcome.detail}"
    if isinstance(outcome, BadAnswer):
        return f"bad_answer: {outcome.detail}"
    if isinstance(outcome, ConnectError):
        return "connect_error"
    if isinstance(outcome, FirstByteTimeout):
        return "first_byte_timeout"
    if isinstance(outcome, DeadlineReached):
        return "deadline_reached"
    if isinstance(outcome, Interrupted):
        return f"interrupted: {outcome.reason}"
    if isinstance(outcome, ProxyOverloaded):
        return f"proxy_overloaded: {outcome.detail}"
    if isinstance(outcome, OverLimit):
        return f"over_limit: {outcome.detail}"
    if isinstance(outcome, StreamStarted):
        return "stream_started"
    return "success"
