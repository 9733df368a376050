"""A small OpenAI-shaped model server that can misbehave on purpose.

Used to watch a failover by hand (`python -m failover fake-upstream`) and as
the "regions" in the fault-injection tests. It speaks just enough HTTP/1.1
(keep-alive, Content-Length requests, chunked streams) on raw asyncio sockets,
so each fault is exactly the bytes a broken server would send. Like a real
server it sends `date` and `server` headers, and it honours
`stream_options.include_usage` (a last chunk with `usage` and no choices).

It answers `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`
(floats, or base64 with `encoding_format: base64`), `/v1/responses` and
`GET /v1/models` in the shapes of the OpenAI API reference (a Responses stream
is its typed, numbered events, from `response.created` to `response.completed`;
its error event is the one OpenAI sends), and `GET /health` as model servers do.
With `flavor="azure"` the model list is Azure OpenAI's (`GET /openai/v1/models`:
the resource's models with `created_at`, `capabilities` and `lifecycle_status`).
Any other route is a 404, and every fault mode applies to every route.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from typing import Callable

FAIL_MODES = (
    "none",  # answer normally
    "http-500",  # 500 with a JSON error body
    "http-429",  # 429, with Retry-After when `retry_after` is set
    "http-503",  # 503 overloaded, with Retry-After when `retry_after` is set
    "http-408",  # 408 request timeout
    "http-409",  # 409 conflict (a lock timeout)
    "context-length",  # 400 context_length_exceeded, as OpenAI sends it
    "content-filter",  # 400 content_filter, as Azure OpenAI sends it
    "bad-key",  # 401 invalid_api_key, as OpenAI sends it for a wrong key
    "forbidden",  # 403, as Azure OpenAI sends it for a key without access
    "model-not-found",  # 404 model_not_found, as OpenAI sends it for a model it does not serve
    "deployment-not-found",  # 404 DeploymentNotFound, as Azure OpenAI sends it
    "error-200",  # 200 whose body (or first stream event) is an error object, as vLLM sends some errors
    "no-choices",  # 200 whose completion has an empty choices list
    "reset",  # read the request, then reset the connection before any header
    "hang",  # read the request, then never answer
    "stream-cut",  # send part of the answer, then drop the connection
    "stream-stall",  # send the first event, then go silent
    "malformed",  # send an event whose data is not JSON
    "no-done",  # end the stream cleanly but without `data: [DONE]`
    "error-event",  # answer a stream with 200 and an `event: error` first
    "keepalive-cut",  # answer a stream with 200, send only `:` keep-alive comments, then drop the connection
    "keepalive-stall",  # answer a stream with 200, then only `:` keep-alive comments, forever
    "slow",  # stream a long answer, one event every `pace` seconds
    "redirect",  # 307 to another path of itself, as a load balancer's maintenance page or Front Door's HTTP-to-HTTPS rule does
    "raw",  # answer a stream with 200 and the bytes in `raw_stream`, chunk by chunk
    "raw-response",  # write the bytes in `raw_response` as they are (status line, headers, body), then do `raw_end`
)
# The raw modes send bytes only code can set (FakeUpstream.raw_stream, raw_response), so the command line does not offer them.
COMMAND_LINE_FAIL_MODES = tuple(mode for mode in FAIL_MODES if not mode.startswith("raw"))
RAW_ENDS = (
    "keep",  # keep the connection for the next request
    "close",  # close the connection
    "stall",  # say nothing more until the peer leaves or the server stops
)
FLAVORS = ("openai", "azure")  # whose model list shape GET /v1/models answers with


@dataclass
class Seen:
    """One request as a FakeUpstream received it: arrival time (monotonic seconds), path, headers, body, connection."""

    at: float  # time.monotonic() when the request arrived
    path: str
    headers: dict[str, str]
    stream: bool
    body: dict
    connection: int  # the client's port: requests with the same one came over one kept-alive connection
    method: str = "POST"
    caller_left_at: float | None = None  # when the peer closed the connection before the answer was complete


class FakeUpstream:
    """An OpenAI-shaped model server on asyncio sockets that misbehaves on demand, for tests and local tries.

    mode: one of FAIL_MODES (`none` answers normally), changeable while it runs; `script` holds one-shot
    modes used before it; retry_after: the Retry-After of `http-429` and `http-503`; pace: seconds between slow events;
    flavor: `openai` or `azure`, the shape of its model list. `raw_stream` holds the event-stream body
    parts of the `raw` mode; `raw_response` the byte strings the `raw-response` mode writes one by one,
    `raw_pause` seconds apart, and `raw_end` (one of RAW_ENDS) what either raw mode does next (for
    `raw`, `keep` sends the last chunk first). Every request is appended to `seen`.
    Raises ValueError for an unknown mode or flavor.
    """

    def __init__(self, name: str, mode: str = "none", retry_after: str | None = None, pace: float = 0.05, flavor: str = "openai") -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {mode!r}; choose from {', '.join(FAIL_MODES)}")
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; choose from {', '.join(FLAVORS)}")
        self.name = name
        self.flavor = flavor
        self.mode = mode
        self.retry_after = retry_after
        self.pace = pace  # seconds between events in "slow" and between comments in "keepalive-*"
        self.raw_stream: list[bytes] = []
        self.raw_response: list[bytes] = []
        self.raw_end = "keep"
        self.raw_pause = 0.0
        self.script: deque[str] = deque()  # one-shot modes used before `mode`
        # When set, streams pause after their first event until it is set: shows a stream is relayed as it comes.
        self.gate: asyncio.Event | None = None
        self.seen: list[Seen] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()  # one per open connection
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, once started."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeUpstream:
        """Listens on `host`:`port` (0: any free port) and returns itself; OSError when it cannot listen."""
        self._stopping = asyncio.Event()
        # A backlog like a model server's (uvicorn's 2048), not asyncio's 100: a burst of connections
        # beyond the backlog waits for a SYN retransmission (1 s), which no connect timeout here allows.
        self._server = await asyncio.start_server(self._connection, host, port, reuse_address=True, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the port and drop every open connection, like a region going away."""
        self._stopping.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None
        if self._handlers:  # their connections are aborted: each ends at its next read
            await asyncio.wait(list(self._handlers), timeout=1.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
            handler.add_done_callback(self._handlers.discard)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.split(" ")[0] if rest else "/"
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than json can parse
            body = {}
        body = body if isinstance(body, dict) else {}
        seen = Seen(time.monotonic(), path, headers, body.get("stream") is True, body, writer.get_extra_info("peername")[1], method)
        self.seen.append(seen)
        mode = self.script.popleft() if self.script else self.mode
        try:
            return await self._answer(mode, seen, reader, writer)
        except ConnectionError:
            seen.caller_left_at = time.monotonic()
            raise

    async def _answer(self, mode: str, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if mode == "reset":
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if mode == "hang":
            await self._until_stopped_or_left(reader, seen)
            return False
        if mode == "raw-response":
            return await self._raw_response(seen, reader, writer)
        if mode == "redirect":
            writer.write(self._head(307, "text/plain", {"location": f"{self.url}/elsewhere{seen.path}", "content-length": "0"}))
            await writer.drain()
            return True
        api = _APIS.get((seen.method, seen.path.partition("?")[0]))
        if api is None:
            return await self._json(writer, 404, {"error": {"message": f"Invalid URL ({seen.method} {seen.path})", "type": "invalid_request_error", "param": None, "code": None}})
        error = _ERRORS.get(mode)
        if error is not None:
            status, document = error
            extra = {"retry-after": self.retry_after} if self.retry_after is not None and status in (429, 503) else {}
            return await self._json(writer, status, document, extra)
        if not seen.stream or not api.streams:
            if mode == "stream-cut":
                writer.write(self._head(200, "application/json", {"content-length": "500"}) + b"{\"id\": \"chatcmpl")
                await writer.drain()
                writer.transport.abort()
                return False
            if mode == "error-200":
                return await self._json(writer, 200, _SERVER_ERROR)
            whole = api.whole(self, seen.body)
            if mode == "no-choices":
                whole[api.answer_key] = []
            return await self._json(writer, 200, whole)
        return await self._stream(mode, seen, reader, writer, api)

    async def _stream(self, mode: str, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, api: _Api) -> bool:
        writer.write(self._head(200, "text/event-stream", {"cache-control": "no-cache", "transfer-encoding": "chunked"}))
        if mode == "raw":
            for part in self.raw_stream:
                await self._chunk(writer, part)
            return await self._raw_end(seen, reader, writer, self._last_chunk)
        assert api.stream is not None
        events = api.stream(self, seen.body)
        for event in events.opening:
            await self._chunk(writer, event)
        if mode == "error-event":
            await self._chunk(writer, events.error)
            return await self._last_chunk(writer)
        if mode == "error-200":
            await self._chunk(writer, b"data: " + json.dumps(_SERVER_ERROR).encode() + b"\n\n")
            if events.end:
                await self._chunk(writer, events.end)
            return await self._last_chunk(writer)
        if mode in ("keepalive-cut", "keepalive-stall"):
            for _ in range(3 if mode == "keepalive-cut" else 10**9):
                await self._chunk(writer, b": keep-alive\n\n")
                if await self._stopped_or_left_within(self.pace, reader, seen):
                    return False
            writer.transport.abort()
            return False
        pieces = events.pieces
        if mode == "slow":
            pieces = [events.piece(f" word{i}") for i in range(200)]
        for index, piece in enumerate(pieces):
            if mode == "stream-cut" and index == 2:
                await writer.drain()
                writer.transport.abort()
                return False
            if index == 1 and self.gate is not None:
                await writer.drain()
                await self.gate.wait()
            if mode == "stream-stall" and index == 1:
                await writer.drain()
                await self._until_stopped_or_left(reader, seen)
                return False
            if mode == "malformed" and index == 1:
                await self._chunk(writer, b"data: {\"choices\": [{\"delta\": {\"content\"\n\n")
                continue
            await self._chunk(writer, piece)
            if mode == "slow" and await self._stopped_or_left_within(self.pace, reader, seen):
                return False
        for event in events.closing:
            await self._chunk(writer, event)
        if mode != "no-done" and events.end:
            await self._chunk(writer, events.end)
        return await self._last_chunk(writer)

    async def _raw_response(self, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        for index, part in enumerate(self.raw_response):
            if index and self.raw_pause:
                await asyncio.sleep(self.raw_pause)
            writer.write(part)
            await writer.drain()
        return await self._raw_end(seen, reader, writer)

    async def _raw_end(self, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, last: Callable | None = None) -> bool:
        """Does `raw_end`; True when the connection is kept for the next request. `last` writes what ends the body."""
        if self.raw_end not in RAW_ENDS:
            raise ValueError(f"unknown raw_end {self.raw_end!r}; choose from {', '.join(RAW_ENDS)}")
        if self.raw_end == "stall":
            await self._until_stopped_or_left(reader, seen)
            return False
        if self.raw_end == "keep" and last is not None:
            await last(writer)
        return self.raw_end == "keep"

    async def _until_stopped_or_left(self, reader: asyncio.StreamReader, seen: Seen) -> None:
        await self._stopped_or_left_within(None, reader, seen)

    async def _stopped_or_left_within(self, seconds: float | None, reader: asyncio.StreamReader, seen: Seen) -> bool:
        """Wait up to `seconds` (None: for ever); True if the server stopped or the peer closed the connection."""
        left = asyncio.ensure_future(reader.read(1))  # b"" once the peer has closed
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, pending = await asyncio.wait((left, stopping), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        # Cancelled for good before the connection reads its next request (two reads at once would raise).
        await asyncio.gather(*pending, return_exceptions=True)
        # The peer closed (end of stream) or reset the connection (it closed with our bytes unread).
        if left in done and (left.exception() is not None or left.result() == b""):
            seen.caller_left_at = time.monotonic()
        return bool(done)

    @staticmethod
    async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _last_chunk(writer: asyncio.StreamWriter) -> bool:
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def _head(self, status: int, content_type: str, extra: dict[str, str]) -> bytes:
        head = f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: {content_type}\r\ndate: {formatdate(usegmt=True)}\r\nserver: fake-upstream\r\n"
        for key, value in extra.items():
            head += f"{key}: {value}\r\n"
        return (head + "\r\n").encode()

    async def _json(self, writer: asyncio.StreamWriter, status: int, document: dict, extra: dict[str, str] | None = None) -> bool:
        body = json.dumps(document).encode()
        writer.write(self._head(status, "application/json", {"content-length": str(len(body)), **(extra or {})}) + body)
        await writer.drain()
        return True


_USAGE = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
_SERVER_ERROR = {"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": None, "code": None}}
_REASONS = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
# The error bodies as the providers send them.
_ERRORS: dict[str, tuple[int, dict]] = {
    "http-500": (500, {"error": {"message": "internal error", "type": "server_error", "code": None}}),
    "http-429": (429, {"error": {"message": "rate limited", "type": "requests", "code": "rate_limit_exceeded"}}),
    "http-503": (503, {"error": {"message": "The engine is currently overloaded, please try again later.", "type": "server_error", "code": None}}),
    "http-408": (408, {"error": {"message": "Request timed out.", "type": "server_error", "code": None}}),
    "http-409": (409, {"error": {"message": "The request conflicted with another; try again.", "type": "server_error", "code": None}}),
    "context-length": (400, {"error": {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
    "content-filter": (400, {"error": {"message": "The response was filtered due to the prompt triggering content management policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400}}),
    "bad-key": (401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}),
    "forbidden": (403, {"error": {"code": "PermissionDenied", "message": "The principal does not have access to this deployment."}}),
    "model-not-found": (404, {"error": {"message": "The model `any` does not exist or you do not have access to it.", "type": "invalid_request_error", "param": None, "code": "model_not_found"}}),
    "deployment-not-found": (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}),
}


async def run(name: str, port: int, mode: str, retry_after: str | None) -> None:
    """Serves a FakeUpstream named `name` on 127.0.0.1:`port` in `mode` until cancelled (Ctrl-C)."""
    upstream = await FakeUpstream(name, mode, retry_after).start(port=port)
    print(f"fake upstream {name!r} listening on {upstream.url} (fail mode: {mode})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        # Close what callers hold and let each connection's task end, so Ctrl-C leaves no task to be
        # cancelled mid-read (asyncio logs each such one with a traceback).
        await upstream.stop()


# --- the API's shapes, per route ---------------------------------------------------------------------


@dataclass
class _Events:
    """One stream's events (each one encoded, blank line included): what opens it before any content,
    the pieces of the answer (faults strike between them), what closes it, its end marker, the error
    event this API sends, and `piece(text)` for more pieces (the `slow` mode's long answer)."""

    opening: list[bytes]
    pieces: list[bytes]
    closing: list[bytes]
    end: bytes | None
    error: bytes
    piece: Callable[[str], bytes]


@dataclass(frozen=True)
class _Api:
    streams: bool
    answer_key: str  # the list that holds the answer: emptied by the `no-choices` fault
    whole: Callable[[FakeUpstream, dict], dict]
    stream: Callable[[FakeUpstream, dict], _Events] | None = None


def _words(upstream: FakeUpstream) -> list[str]:
    return ["Hello", " from", f" {upstream.name}", "."]


def _data(document: dict) -> bytes:
    return b"data: " + json.dumps(document).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"
_CHAT_ERROR_EVENT = b"event: error\n" + _data(_SERVER_ERROR)


def _chat_whole(upstream: FakeUpstream, body: dict) -> dict:
    message = {"role": "assistant", "content": "".join(_words(upstream))}
    return {**_head("chatcmpl", "chat.completion", upstream), "choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": _USAGE}


def _chat_stream(upstream: FakeUpstream, body: dict) -> _Events:
    def chunk(content: str | None, finish: str | None = None) -> dict:
        delta = {"content": content} if content is not None else {}
        return {**_head("chatcmpl", "chat.completion.chunk", upstream), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    closing = [_data(chunk(None, finish="stop"))]
    if (body.get("stream_options") or {}).get("include_usage") is True:
        closing.append(_data({**chunk(None), "choices": [], "usage": _USAGE}))
    return _Events([], [_data(chunk(word)) for word in _words(upstream)], closing, _DONE, _CHAT_ERROR_EVENT, lambda text: _data(chunk(text)))


def _completion_whole(upstream: FakeUpstream, body: dict) -> dict:
    choice = {"text": "".join(_words(upstream)), "index": 0, "logprobs": None, "finish_reason": "stop"}
    return {**_head("cmpl", "text_completion", upstream), "choices": [choice], "usage": _USAGE}


def _completion_stream(upstream: FakeUpstream, body: dict) -> _Events:
    def chunk(text: str, finish: str | None = None) -> dict:
        return {**_head("cmpl", "text_completion", upstream), "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}

    closing = [_data(chunk("", finish="stop"))]
    if (body.get("stream_options") or {}).get("include_usage") is True:
        closing.append(_data({**chunk(""), "choices": [], "usage": _USAGE}))
    return _Events([], [_data(chunk(word)) for word in _words(upstream)], closing, _DONE, _CHAT_ERROR_EVENT, lambda text: _data(chunk(text)))


def _embeddings_whole(upstream: FakeUpstream, body: dict) -> dict:
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    vectors = [[0.1 * (index + 1), -0.2, 0.3] for index in range(count)]
    if body.get("encoding_format") == "base64":  # little-endian float32, as the API sends it
        encoded: list = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
    else:
        encoded = vectors
    data = [{"object": "embedding", "index": index, "embedding": vector} for index, vector in enumerate(encoded)]
    return {"object": "list", "data": data, "model": f"fake-{upstream.name}", "usage": {"prompt_tokens": 2, "total_tokens": 2}}


def _models_whole(upstream: FakeUpstream, body: dict) -> dict:
    if upstream.flavor == "azure":
        # Azure OpenAI v1 `GET /openai/v1/models`: the resource's models, not its deployments.
        capabilities = {"fine_tune": False, "inference": True, "completion": False, "chat_completion": True, "embeddings": False}
        model = {"id": f"fake-{upstream.name}", "object": "model", "created_at": 1735689600, "status": "succeeded", "capabilities": capabilities, "lifecycle_status": "generally-available", "deprecation": {"inference": 1830297600}}
        return {"object": "list", "data": [model]}
    return {"object": "list", "data": [{"id": f"fake-{upstream.name}", "object": "model", "created": 1735689600, "owned_by": "fake"}]}


def _response(upstream: FakeUpstream, status: str, text: str | None) -> dict:
    output = []
    if text is not None:
        content = [{"type": "output_text", "text": text, "annotations": []}]
        output.append({"id": f"msg_{upstream.name}", "type": "message", "role": "assistant", "status": "completed", "content": content})
    usage = {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9}
    return {
        "id": f"resp_{upstream.name}", "object": "response", "created_at": int(time.time()), "status": status,
        "model": f"fake-{upstream.name}", "output": output, "error": None, "incomplete_details": None,
        "instructions": None, "metadata": {}, "parallel_tool_calls": True, "temperature": 1.0, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "text": {"format": {"type": "text"}}, "usage": usage if status == "completed" else None,
    }  # fmt: skip


def _responses_whole(upstream: FakeUpstream, body: dict) -> dict:
    return _response(upstream, "completed", "".join(_words(upstream)))


def _responses_stream(upstream: FakeUpstream, body: dict) -> _Events:
    """Typed, numbered events (OpenAI API reference, "Streaming events"), each also named by `event:`."""
    numbers = iter(range(10**9))
    item = {"id": f"msg_{upstream.name}", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": item["id"], "output_index": 0, "content_index": 0}

    def event(kind: str, **fields: object) -> bytes:
        return f"event: {kind}\n".encode() + _data({"type": kind, "sequence_number": next(numbers), **fields})

    def delta(text: str) -> bytes:
        return event("response.output_text.delta", **where, delta=text, logprobs=[])

    opening = [event("response.created", response=_response(upstream, "in_progress", None)), event("response.in_progress", response=_response(upstream, "in_progress", None))]
    words = _words(upstream)
    first = event("response.output_item.added", output_index=0, item=item) + event("response.content_part.added", **where, part=part) + delta(words[0])
    pieces = [first, *(delta(word) for word in words[1:])]
    text = "".join(words)
    done_part = {**part, "text": text}
    closing = [
        event("response.output_text.done", **where, text=text, logprobs=[]),
        event("response.content_part.done", **where, part=done_part),
        event("response.output_item.done", output_index=0, item={**item, "status": "completed", "content": [done_part]}),
    ]
    end = event("response.completed", response=_response(upstream, "completed", text))
    # What OpenAI sends (openai-dotnet#881): the fields nested in `error`, next to `type` and `sequence_number`.
    error = event("error", error={"type": "server_error", "code": "server_error", "message": "The server had an error while processing your request.", "param": None})
    return _Events(opening, pieces, closing, end, error, delta)


def _head(prefix: str, kind: str, upstream: FakeUpstream) -> dict:
    return {"id": f"{prefix}-{upstream.name}", "object": kind, "created": int(time.time()), "model": f"fake-{upstream.name}"}


_APIS: dict[tuple[str, str], _Api] = {
    ("POST", "/v1/chat/completions"): _Api(True, "choices", _chat_whole, _chat_stream),
    ("POST", "/v1/completions"): _Api(True, "choices", _completion_whole, _completion_stream),
    ("POST", "/v1/embeddings"): _Api(False, "data", _embeddings_whole),
    ("POST", "/v1/responses"): _Api(True, "output", _responses_whole, _responses_stream),
    ("GET", "/v1/models"): _Api(False, "data", _models_whole),
    # A model server's health check (vLLM and TGI serve one), which load balancers and the drills probe.
    ("GET", "/health"): _Api(False, "checks", lambda upstream, body: {"status": "ok", "checks": ["model"]}),
}
