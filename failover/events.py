"""Server-sent events as the gateway relays them: one dispatched event, its wire form, and the error events.

Standard library only. Decoding from the wire follows the WHATWG rules and lives in `sse.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One dispatched event (WHATWG HTML, "Server-sent events", 9.2.6 Interpreting an event stream).

    `type` is "message" when the stream named none; `data` is its `data:` lines joined with "\\n";
    `id` is the event's own `id:` field (None when it had none) and `retry` its `retry:` field in
    milliseconds (None when absent or negative; httpx-sse also reads "+5" or " 5", see `sse.py`).
    `unfinished` marks an event the stream ended inside, before its blank line: the standard
    discards it, and so do the endpoint rules unless it is the stream's end marker (`sse.events`).
    """

    type: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None
    unfinished: bool = False

    def encode(self) -> bytes:
        """The event in canonical wire form: LF line endings, one `data:` line per line of data, a blank line."""
        head = ""
        if self.type != "message":
            head += f"event: {self.type}\n"
        if self.id is not None:
            head += f"id: {self.id}\n"
        if self.retry is not None:
            head += f"retry: {self.retry}\n"
        if "\n" in self.data:
            body = "".join(f"data: {line}\n" for line in self.data.split("\n"))
        else:
            body = f"data: {self.data}\n"
        return (head + body + "\n").encode()


def error_event(message: str, code: str) -> bytes:
    """An explicit error at the end of a stream, so it never passes for a complete answer.

    Shape: `event: error` and `data: {"error": {"message", "type": "stream_error", "code"}}`. OpenAI's
    SDKs raise an APIError on a data event holding an `error` object (openai-python `_streaming.py`).
    """
    payload = {"error": {"message": message, "type": "stream_error", "code": code}}
    return Event("error", json.dumps(payload)).encode()


# Why a committed stream ends with an error event (the `code` of that event).
BROKEN = "upstream_stream_broken"  # the upstream broke it after its first content
DEADLINE = "deadline_exceeded"  # the request's deadline passed while it flowed
SHUTTING_DOWN = "proxy_shutting_down"  # the gateway is stopping
PROXY_ERROR = "proxy_error"  # the gateway itself failed while relaying (a fault of its own, in its log)
TOO_LARGE = "response_too_large"  # an event exceeded the gateway's own max_event_bytes


def broken_message(detail: str) -> str:
    """The message of the error event ending a stream that broke after its first content reached the caller."""
    return f"The upstream stream broke before completing ({detail})."
