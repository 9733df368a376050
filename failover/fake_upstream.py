"""A small OpenAI-shaped model server that can misbehave on purpose.

Used to watch a failover by hand (`python -m failover fake-upstream`) and as
the "regions" in the fault-injection tests. It speaks just enough HTTP/1.1
(keep-alive, Content-Length requests, chunked streams) on raw asyncio sockets,
so each fault is exactly the bytes a broken server would send.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass

FAIL_MODES = (
    "none",  # answer normally
    "http-500",  # 500 with a JSON error body
    "http-429",  # 429, with Retry-After when `retry_after` is set
    "context-length",  # 400 context_length_exceeded, as OpenAI sends it
    "content-filter",  # 400 content_filter, as Azure OpenAI sends it
    "reset",  # read the request, then reset the connection before any header
    "hang",  # read the request, then never answer
    "stream-cut",  # send part of the answer, then drop the connection
    "stream-stall",  # send the first event, then go silent
    "malformed",  # send an event whose data line is not JSON
    "no-done",  # end the stream cleanly but without `data: [DONE]`
)


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the request arrived
    path: str
    headers: dict[str, str]
    stream: bool


class FakeUpstream:
    def __init__(self, name: str, mode: str = "none", retry_after: str | None = None) -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"unknown fail mode {mode!r}; choose from {', '.join(FAIL_MODES)}")
        self.name = name
        self.mode = mode
        self.retry_after = retry_after
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
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            stream = json.loads(body).get("stream") is True
        except (ValueError, AttributeError):
            stream = False
        self.seen.append(Seen(time.monotonic(), path, headers, stream))
        mode = self.script.popleft() if self.script else self.mode
        return await self._answer(mode, stream, writer)

    async def _answer(self, mode: str, stream: bool, writer: asyncio.StreamWriter) -> bool:
        if mode == "reset":
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if mode == "hang":
            await self._stopping.wait()
            return False
        if mode == "http-500":
            return await self._json(writer, 500, {"error": {"message": "internal error", "type": "server_error", "code": None}})
        if mode == "http-429":
            extra = {"retry-after": self.retry_after} if self.retry_after is not None else {}
            return await self._json(writer, 429, {"error": {"message": "rate limited", "type": "requests", "code": "rate_limit_exceeded"}}, extra)
        if mode == "context-length":
            error = {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
            return await self._json(writer, 400, {"error": error})
        if mode == "content-filter":
            error = {"message": "The response was filtered due to the prompt triggering content management policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400}
            return await self._json(writer, 400, {"error": error})
        if not stream:
            if mode == "stream-cut":
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"id\": \"chatcmpl")
                await writer.drain()
                writer.transport.abort()
                return False
            return await self._json(writer, 200, self._completion())
        return await self._stream(mode, writer)

    async def _stream(self, mode: str, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
        words = ["Hello", " from", f" {self.name}", "."]
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
                await self._stopping.wait()
                return False
            if mode == "malformed" and index == 1:
                await self._chunk(writer, b"data: {\"choices\": [{\"delta\": {\"content\"\n\n")
                continue
            await self._chunk(writer, b"data: " + json.dumps(self._delta(word)).encode() + b"\n\n")
        await self._chunk(writer, b"data: " + json.dumps(self._delta(None, finish="stop")).encode() + b"\n\n")
        if mode != "no-done":
            await self._chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    @staticmethod
    async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await writer.drain()

    @staticmethod
    async def _json(writer: asyncio.StreamWriter, status: int, document: dict, extra: dict[str, str] | None = None) -> bool:
        body = json.dumps(document).encode()
        reason = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}[status]
        head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        for key, value in (extra or {}).items():
            head += f"{key}: {value}\r\n"
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        return True

    def _completion(self) -> dict:
        return {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": f"fake-{self.name}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Hello from {self.name}."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
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


async def run(name: str, port: int, mode: str, retry_after: str | None) -> None:
    upstream = await FakeUpstream(name, mode, retry_after).start(port=port)
    print(f"fake upstream {name!r} listening on {upstream.url} (fail mode: {mode})", flush=True)
    await asyncio.Event().wait()
