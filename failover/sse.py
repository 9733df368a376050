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
  is a keep-alive to the endpoint rules, never relayed.
"""

from __future__ import annotations

from typing import AsyncIterable, AsyncIterator, Mapping

import httpx
from httpx_sse import EventSource

from .events import Event


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether `headers` (lower-case names) announce an event stream."""
    return headers.get("content-type", "").partition(";")[0].strip().lower() == "text/event-stream"


async def events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """Each event the byte stream `chunks` dispatches, as it arrives; whatever reading `chunks` raises passes through.

    httpx-sse reads an `httpx.Response`: one wraps the bytes, whichever client fetched them.
    """
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks)
    response.encoding = "utf-8-sig"  # the standard's decoding: UTF-8, one leading BOM dropped
    last_id = ""
    async for sse in EventSource(response).aiter_sse():
        changed = sse.id if sse.id != last_id else None
        last_id = sse.id
        retry = sse.retry if sse.retry is not None and sse.retry >= 0 else None
        yield Event(sse.event, sse.data, changed, retry)
