"""The official OpenAI Python SDK as the caller, through the real gateway, against fake regions on 127.0.0.1.

The SDK brings its own behaviour: it retries 408/409/429/5xx and connection errors twice by
default, obeys `x-should-retry` and `retry-after(-ms)`, and raises an APIError on an error
object inside a stream (openai-python `_base_client.py`, `_streaming.py`).
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

import openai
import pytest

from tests.failover_fakes import chat, config_doc, gateway, regions, run

MESSAGES = chat()["messages"]


@contextlib.asynccontextmanager
async def sdk_through_gateway(*names: str) -> AsyncIterator[tuple[openai.AsyncOpenAI, list]]:
    async with regions(*names) as fakes:
        async with gateway(config_doc(fakes)) as (client, _):
            # The SDK's defaults, as callers have them: max_retries=2.
            async with openai.AsyncOpenAI(base_url=f"{client.base_url}/v1", api_key="caller-key", timeout=10) as sdk:
                yield sdk, fakes


def test_a_completion_fails_over_behind_the_sdks_back():
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b)):
            a.mode = "reset"
            completion = await sdk.chat.completions.create(model="any", messages=MESSAGES)
            return completion, len(a.seen), len(b.seen), b.seen[0].headers["authorization"]

    completion, seen_a, seen_b, authorization = run(scenario())
    assert completion.choices[0].message.content == "Hello from b."
    assert (seen_a, seen_b) == (1, 1) and authorization == "Bearer caller-key"


def test_a_stream_with_usage_arrives_whole():
    async def scenario():
        async with sdk_through_gateway("a") as (sdk, _):
            stream = await sdk.chat.completions.create(model="any", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
            return [chunk async for chunk in stream]

    chunks = run(scenario())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from a."
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 9


def test_a_callers_mistake_reaches_the_sdk_intact_after_one_attempt():
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b)):
            a.mode = "context-length"
            with pytest.raises(openai.BadRequestError) as raised:
                await sdk.chat.completions.create(model="any", messages=MESSAGES)
            return raised.value, len(a.seen), len(b.seen)

    error, seen_a, seen_b = run(scenario())
    assert error.status_code == 400 and error.code == "context_length_exceeded"
    assert error.message.endswith("This model's maximum context length is 8192 tokens.")
    assert error.body == {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
    assert (seen_a, seen_b) == (1, 0)


def test_a_stream_that_breaks_after_content_raises_in_the_sdk():
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b)):
            a.mode = "stream-cut"
            stream = await sdk.chat.completions.create(model="any", messages=MESSAGES, stream=True)
            received = []
            with pytest.raises(openai.APIError) as raised:
                async for chunk in stream:
                    received.append(chunk.choices[0].delta.content)
            return received, raised.value, len(b.seen)

    received, error, seen_b = run(scenario())
    assert received == ["Hello", " from"]  # what the caller already holds is not taken back
    assert error.body["code"] == "upstream_stream_broken" and "connection cut" in error.message
    assert seen_b == 0


@pytest.mark.parametrize("fault", ["http-429", "http-503"])
def test_one_sdk_call_under_throttling_reaches_each_region_once(fault):
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, fakes):
            for fake in fakes:
                fake.mode, fake.retry_after = fault, "7"
            with pytest.raises(openai.InternalServerError) as raised:
                await sdk.chat.completions.create(model="any", messages=MESSAGES)
            return raised.value, [len(fake.seen) for fake in fakes]

    error, seen = run(scenario())
    # The router tried both regions and said so (x-should-retry: false): the SDK's two retries add nothing.
    assert seen == [1, 1]
    assert error.status_code == 503 and error.code == "no_upstream_available"
    assert error.response.headers["x-should-retry"] == "false" and int(error.response.headers["retry-after"]) >= 1
