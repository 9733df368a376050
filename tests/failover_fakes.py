"""Helpers for the failover tests: fake regions on 127.0.0.1 and a gateway in front of them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any, AsyncIterator, Awaitable, Iterator, TypeVar

import httpx
import uvicorn

from failover.config import parse_config
from failover.fake_upstream import FakeUpstream
from failover.gateway import bind, create_app, server, unread_limit
from failover.router import Router

T = TypeVar("T")

# For faults that are a silence (a hang, a stall): short allowances, so a test waits them out quickly.
FAST_TIMEOUTS = {"connect": 0.3, "first_byte": 0.4, "total": 3.0, "stream_idle": 0.3, "min_attempt": 0.1}
# The default: allowances no loaded machine reaches, so only the fault a test sets up moves a request
# (a busy event loop can take longer than FAST_TIMEOUTS' 0.3 s to connect to a healthy region).
PATIENT_TIMEOUTS = {"connect": 2.0, "first_byte": 5.0, "total": 10.0, "stream_idle": 5.0, "min_attempt": 0.1}
FAST_BREAKER = {"failure_threshold": 2, "base_ejection": 0.2, "max_ejection": 1.0, "jitter": 0.0}


def run(scenario: Awaitable[T], timeout: float = 10.0) -> T:
    """Run one async scenario, bounded so a hang fails the test instead of the suite."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def config_doc(upstreams: list[FakeUpstream], topology: str = "active-passive", **sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "topology": topology,
        "upstreams": [
            {"name": up.name, "url": up.url, "priority": index, "region": f"region-{up.name}"} for index, up in enumerate(upstreams)
        ],
        "timeouts": PATIENT_TIMEOUTS,
        "breaker": FAST_BREAKER,
        "rate_limit": {"default_cooldown": 0.3, "max_cooldown": 0.5},
    }
    doc.update(sections)
    return doc


@contextlib.asynccontextmanager
async def regions(*names: str) -> AsyncIterator[list[FakeUpstream]]:
    fakes = [await FakeUpstream(name).start() for name in names]
    try:
        yield fakes
    finally:
        for fake in fakes:
            await fake.stop()


@contextlib.asynccontextmanager
async def gateway(doc: dict[str, Any], caller_region: str | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, Router]]:
    """The real gateway (uvicorn + starlette + aiohttp transport) on an ephemeral port."""
    config = parse_config(doc)
    router = Router(config)
    sock = bind("127.0.0.1", 0, unread_limit(config))  # as `python -m failover serve` binds
    uvicorn_server = server(create_app(config, router=router, caller_region=caller_region))
    # What `serve()` does, without its main loop, which only notices `should_exit` every 0.1 s;
    # one tick of it sets the `date` header the answers carry.
    uvicorn_server.config.load()
    uvicorn_server.lifespan = uvicorn_server.config.lifespan_class(uvicorn_server.config)
    await uvicorn_server.startup(sockets=[sock])
    await uvicorn_server.on_tick(0)
    port = sock.getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:
            yield client, router
    finally:
        await _stop(uvicorn_server, sock)


async def _stop(uvicorn_server: uvicorn.Server, sock: socket.socket) -> None:
    """uvicorn's `shutdown()` less its fixed 0.1 s pause (a tenth of a second per test adds up):
    stop listening, end idle connections, let running requests finish, then the app's lifespan."""
    for listener in uvicorn_server.servers:
        listener.close()
    sock.close()
    for connection in list(uvicorn_server.server_state.connections):
        connection.shutdown()
    if uvicorn_server.server_state.tasks:
        await asyncio.wait(list(uvicorn_server.server_state.tasks), timeout=5)
    await uvicorn_server.lifespan.shutdown()


def chat(stream: bool = False) -> dict[str, Any]:
    return {"model": "any", "messages": [{"role": "user", "content": "hi"}], "stream": stream}


class RegionsInThread:
    """Fake regions served from a background event loop, for blocking callers (the Lambda handler)."""

    def __init__(self, *names: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._names = names
        self.fakes: list[FakeUpstream] = []

    def call(self, coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=5)  # type: ignore[arg-type]

    def __enter__(self) -> list[FakeUpstream]:
        self._thread.start()
        self.fakes = [self.call(FakeUpstream(name).start()) for name in self._names]
        return self.fakes

    def __exit__(self, *exc_info: object) -> None:
        for fake in self.fakes:
            self.call(fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


@contextlib.contextmanager
def regions_in_thread(*names: str) -> Iterator[tuple[RegionsInThread, list[FakeUpstream]]]:
    host = RegionsInThread(*names)
    with host as fakes:
        yield host, fakes
