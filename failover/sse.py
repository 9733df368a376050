"""Server-sent events, checked event by event as they pass through.

Only whole events go to the caller, so a malformed one is never half-sent.
"""

from __future__ import annotations

import json


class MalformedEvent(ValueError):
    """A `data:` line that is neither JSON nor `[DONE]`."""


class SseReader:
    def __init__(self) -> None:
        self._buffer = b""
        self.done = False  # saw `data: [DONE]`, the only proof a stream is complete

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add bytes; return the events completed by them, each ending in a blank line."""
        # Normalised after joining, so a CRLF split across two chunks is still one line ending.
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events = []
        while not self.done and b"\n\n" in self._buffer:
            event, self._buffer = self._buffer.split(b"\n\n", 1)
            self._check(event)
            events.append(event + b"\n\n")
        return events

    def _check(self, event: bytes) -> None:
        for line in event.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            value = line[5:].strip()
            if value == b"[DONE]":
                self.done = True
                continue
            try:
                json.loads(value)
            except ValueError:
                raise MalformedEvent("a data line is neither JSON nor [DONE]") from None


def error_event(message: str, code: str) -> bytes:
    """The explicit end of a broken stream, so it never passes for a complete answer."""
    payload = {"error": {"message": message, "type": "stream_error", "code": code}}
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


def broken_stream_event(detail: str) -> bytes:
    """How every adapter ends a stream that broke after its first event reached the caller."""
    return error_event(f"The upstream stream broke before completing ({detail}).", "upstream_stream_broken")
