"""Decoding an upstream's server-sent events by the WHATWG rules, on httpx-sse.

httpx-sse's `EventSource.aiter_sse` follows "Parsing an event stream" and "Interpreting an event
stream" (WHATWG HTML 9.2.5-9.2.6): lines end in CRLF, LF or a bare CR (also when split across
chunks); a line starting with ":" is a comment; fields other than event/data/id/retry are ignored;
the `data:` lines of one event are joined with "\\n"; an event is dispatched at a blank line; an
unfinished event at the end of the stream is discarded. Where it departs from the standard this
module corrects it:

- the stream is decoded as UTF-8 with one leading byte order mark ignored, whatever charset the
  content type names (httpx would use the charset and keep the BOM, losing the first field);
- the standard keeps the last event ID across events, and httpx-sse reports it on every later
  event: `Event.id` is set only on the event whose `id` changed it;
- `retry` counts only when it is ASCII digits; httpx-sse's `int()` also takes "-5" or " 5": only
  values >= 0 are kept (a "+5" or " 5" still passes; callers of an LLM API do not reconnect by it);
- the standard dispatches nothing for a block without `data` (httpx-sse dispatches one when it
  carried `event`, `id` or `retry`): such an event, like one with empty data, has empty `data` and
  is a keep-alive to the endpoint rules, never relayed;
- the standard discards an event the stream ends inside (no blank line after it); it is yielded
  with `unfinished=True` instead, for the endpoint rules to discard unless it is the end marker:
  servers end streams with `data: [DONE]` and no blank line (openai/openai-node#2725), and a
  complete answer must not then be reported as broken.

Each event is also bounded: more than `max_event_bytes` since the last blank line raises
`EventTooLarge` before they are buffered further (a line is held whole until it ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator, Mapping

import httpx
from httpx_sse import EventSource

from .events import Event


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether `headers` (lower-case names) announce an event stream."""
    return headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream"


class EventTooLarge(Exception):
    """An event grew past `limit` bytes (counted from the last blank line, on the raw stream) before it ended."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event larger than {limit} bytes")
        self.limit = limit


async def events(chunks: AsyncIterable[bytes], max_event_bytes: int | None = None) -> AsyncIterator[Event]:
    """Each event the byte stream `chunks` dispatches, as it arrives; whatever reading `chunks` raises passes through.

    Raises `EventTooLarge` once an event exceeds `max_event_bytes` (None: no limit). httpx-sse reads
    an `httpx.Response`: one wraps the bytes, whichever client fetched them.
    """
    ending = _Ending()
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=ending.track(chunks, max_event_bytes))
    response.encoding = "utf-8-sig"  # the standard's decoding: UTF-8, one leading BOM dropped
    last_id = ""
    async for sse in EventSource(response).aiter_sse():
        changed = sse.id if sse.id != last_id else None
        last_id = sse.id
        retry = sse.retry if sse.retry is not None and sse.retry >= 0 else None
        if max_event_bytes is not None and len(sse.data) > max_event_bytes:
            raise EventTooLarge(max_event_bytes)  # arrived whole in one read: the raw count saw its blank line
        yield Event(sse.event, sse.data, changed, retry, unfinished=ending.reached)


# Two line ends in a row, in any of the standard's forms (CRLF, LF, CR): LF LF, CR CR, or LF then CR
# (whether or not an LF follows it). CRLF CRLF contains LF CR; CR LF LF contains LF LF.
_BLANK_LINES = (b"\n\n", b"\r\r", b"\n\r")


@dataclass
class _Ending:
    """Watches the raw stream: bounds each event's bytes and, when the stream ends inside an event,
    adds the blank line that dispatches it, noting that what is dispatched from then on is unfinished.

    A chunk ending in CR gets an LF after it (and one LF is dropped if the next chunk starts with
    one): httpx holds a final CR until it sees whether an LF follows, so a stream of bare-CR line
    ends would reach the caller, and its timers, one chunk late (the fault openai/openai-node#2309
    fixed the same way). CR and CRLF are the same line end, so the events are unchanged.
    """

    reached: bool = False

    async def track(self, chunks: AsyncIterable[bytes], limit: int | None) -> AsyncIterator[bytes]:
        since_blank_line = 0
        tail = b""  # the stream's last bytes, for a blank line split across two chunks
        ended_in_cr = False
        async for chunk in chunks:
            if ended_in_cr and chunk:
                ended_in_cr = False
                if chunk.startswith(b"\n"):
                    chunk = chunk[1:]  # the LF of a CRLF split across chunks, already added
            if not chunk:
                continue
            ended_in_cr = chunk.endswith(b"\r")
            if ended_in_cr:
                chunk += b"\n"
            window = tail + chunk
            if limit is not None:
                ends = max(window.rfind(blank) + len(blank) if blank in window else -1 for blank in _BLANK_LINES)
                since_blank_line = len(window) - ends if ends >= 0 else since_blank_line + len(chunk)
                if since_blank_line > limit:
                    raise EventTooLarge(limit)
            tail = window[-4:]
            yield chunk
        if not _ends_with_blank_line(tail):
            self.reached = True
            yield b"\n\n"


def _ends_with_blank_line(tail: bytes) -> bool:
    """Whether the bytes end with two line ends in a row (CRLF counting as one, as the standard says)."""
    last = _line_end_length(tail)
    return last > 0 and _line_end_length(tail[:-last]) > 0


def _line_end_length(data: bytes) -> int:
    if data.endswith(b"\r\n"):
        return 2
    return 1 if data.endswith((b"\n", b"\r")) else 0
