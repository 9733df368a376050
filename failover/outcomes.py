"""What one attempt against an upstream ended with, as reported by a transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Union


@dataclass(frozen=True)
class Success:
    """The upstream answered 2xx with a complete body (or a stream ended with `[DONE]`)."""

    status: int = 200


@dataclass(frozen=True)
class StreamStarted:
    """A 2xx stream's first event arrived: the caller is committed to this upstream.

    Its health verdict waits for the end: `Success` or `StreamBroken`.
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
    """Connected, but nothing came back within the first-byte timeout."""


@dataclass(frozen=True)
class StreamBroken:
    """The body broke: cut, stalled, malformed, or ended without `[DONE]`.

    Whether it can still fail over (nothing reached the caller yet) is the router's call.
    """

    detail: str


Outcome = Union[Success, StreamStarted, HttpError, ConnectError, FirstByteTimeout, StreamBroken]


def no_event_in_time(delivered: bool, at_deadline: bool) -> Outcome:
    """A stream that went silent: before its first event the upstream never answered; after it, the stream broke."""
    if not delivered:
        return FirstByteTimeout()
    return StreamBroken(f"{'deadline' if at_deadline else 'stalled'}: no event in time")


def describe(outcome: Outcome) -> str:
    """Short, body-free label for logs and error bodies."""
    if isinstance(outcome, HttpError):
        return f"http_{outcome.status}"
    if isinstance(outcome, StreamBroken):
        return f"stream_broken: {outcome.detail}"
    if isinstance(outcome, ConnectError):
        return "connect_error"
    if isinstance(outcome, FirstByteTimeout):
        return "first_byte_timeout"
    if isinstance(outcome, StreamStarted):
        return "stream_started"
    return "success"
