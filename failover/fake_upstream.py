"""A small OpenAI-shaped model server that can misbehave on purpose.

Used to watch a failover by hand (`python -m failover fake-upstream`) and as
the "regions" in the fault-injection tests. It speaks just enough HTTP/1.1
(keep-alive, Content-Length requests, chunked streams) on raw asyncio sockets,
so each fault is exactly the bytes a broken server would send. Like a real
server it sends `date` and `server` headers, and it honours
`stream_options.include_usage` (a last chunk with `usage` and no choices).
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate

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
    "raw",  # answer a stream with 200 and the bytes in `raw_stream`, chunk by chunk
)


@dataclass
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    headers: dict[str, str]
    stream: bool
    body: dict
    connection: int  # the client's port: requests with the same one came over one kept-alive connection
    caller_left_at: float | None = None  # when the peer closed the connection before the answer was complete


class FakeUpstream:
    def __init__(self, name: str, mode: str = "none", retry_after: str | None = None, pace: float = 0.05) -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {mode!r}; choose from {', '.join(FAIL_MODES)}")
        self.name = name
        self.mode = mode
        self.retry_after = retry_after
        self.pace = pace  # seconds between events in "slow" and between comments in "keepalive-*"
        self.raw_stream: list[bytes] = []
        self.script: deque[str] = deque()  # one-shot modes used before `mode`
        # When set, streams pause after their first event until it is set: shows a stream is relayed as it comes.
        self.gate: asyncio.Event | None = None
        self.seen: list[Seen] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeUpstream:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, host, port, reuse_address=True)
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

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
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
        path = request_line.split(" ")[1] if " " in request_line else "/"
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        seen = Seen(time.monotonic(), path, headers, body.get("stream") is True, body, writer.get_extra_info("peername")[1])
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
        error = _ERRORS.get(mode)
        if error is not None:
            status, document = error
            extra = {"retry-after": self.retry_after} if self.retry_after is not None and status in (429, 503) else {}
            return await self._json(writer, status, document, extra)
        if not seen.stream:
            if mode == "stream-cut":
                writer.write(self._head(200, "application/json", {"content-length": "500"}) + b"{\"id\": \"chatcmpl")
                await writer.drain()
                writer.transport.abort()
                return False
            if mode == "error-200":
                return await self._json(writer, 200, _SERVER_ERROR)
            if mode == "no-choices":
                return await self._json(writer, 200, {**self._completion(), "choices": []})
            return await self._json(writer, 200, self._completion())
        return await self._stream(mode, seen, reader, writer)

    async def _stream(self, mode: str, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(self._head(200, "text/event-stream", {"cache-control": "no-cache", "transfer-encoding": "chunked"}))
        if mode == "raw":
            for part in self.raw_stream:
                await self._chunk(writer, part)
            return await self._last_chunk(writer)
        if mode == "error-event":
            await self._chunk(writer, b"event: error\ndata: " + json.dumps(_SERVER_ERROR).encode() + b"\n\n")
            return await self._last_chunk(writer)
        if mode == "error-200":
            await self._chunk(writer, b"data: " + json.dumps(_SERVER_ERROR).encode() + b"\n\n")
            await self._chunk(writer, b"data: [DONE]\n\n")
            return await self._last_chunk(writer)
        if mode in ("keepalive-cut", "keepalive-stall"):
            for _ in range(3 if mode == "keepalive-cut" else 10**9):
                await self._chunk(writer, b": keep-alive\n\n")
                if await self._stopped_or_left_within(self.pace, reader, seen):
                    return False
            writer.transport.abort()
            return False
        words = ["Hello", " from", f" {self.name}", "."]
        if mode == "slow":
            words = [f" word{i}" for i in range(200)]
        for index, word in enumerate(words):
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
            await self._chunk(writer, b"data: " + json.dumps(self._delta(word)).encode() + b"\n\n")
            if mode == "slow" and await self._stopped_or_left_within(self.pace, reader, seen):
                return False
        await self._chunk(writer, b"data: " + json.dumps(self._delta(None, finish="stop")).encode() + b"\n\n")
        if (seen.body.get("stream_options") or {}).get("include_usage") is True:
            await self._chunk(writer, b"data: " + json.dumps({**self._delta(None), "choices": [], "usage": _USAGE}).encode() + b"\n\n")
        if mode != "no-done":
            await self._chunk(writer, b"data: [DONE]\n\n")
        return await self._last_chunk(writer)

    async def _until_stopped_or_left(self, reader: asyncio.StreamReader, seen: Seen) -> None:
        await self._stopped_or_left_within(None, reader, seen)

    async def _stopped_or_left_within(self, seconds: float | None, reader: asyncio.StreamReader, seen: Seen) -> bool:
        """Wait up to `seconds` (None: for ever); True if the server stopped or the peer closed the connection."""
        left = asyncio.ensure_future(reader.read(1))  # b"" once the peer has closed
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, pending = await asyncio.wait((left, stopping), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if left in done and not left.exception() and left.result() == b"":
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

    def _completion(self) -> dict:
        return {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"fake-{self.name}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Hello from {self.name}."}, "finish_reason": "stop"}],
            "usage": _USAGE,
        }

    def _delta(self, content: str | None, finish: str | None = None) -> dict:
        delta = {"content": content} if content is not None else {}
        return {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": f"fake-{self.name}",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }


_USAGE = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
_SERVER_ERROR = {"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": None, "code": None}}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
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
    upstream = await FakeUpstream(name, mode, retry_after).start(port=port)
    print(f"fake upstream {name!r} listening on {upstream.url} (fail mode: {mode})", flush=True)
    await asyncio.Event().wait()
