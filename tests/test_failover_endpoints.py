"""Every OpenAI endpoint the gateway serves, called with the official `openai` SDK, against fake regions on 127.0.0.1.

The SDK parses what it gets into its own types (a completion, embeddings, a model page, typed
Responses events) and raises `APIError` on an error object inside a stream (`_streaming.py`), so
these tests check the shapes the gateway relays as a caller sees them, not as our code thinks of them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
import time
from typing import AsyncIterator

import httpx
import openai
import pytest

from failover.health import State
from tests.failover_fakes import FAST_BREAKER, config_doc, gateway, regions, run

PROMPT = [{"role": "user", "content": "hi"}]


@contextlib.asynccontextmanager
async def sdk_through_gateway(*names: str, **sections) -> AsyncIterator[tuple[openai.AsyncOpenAI, list, httpx.AsyncClient, object]]:
    async with regions(*names) as fakes:
        async with gateway(config_doc(fakes, **sections)) as (client, router):
            async with openai.AsyncOpenAI(base_url=f"{client.base_url}/v1", api_key="caller-key", max_retries=0, timeout=10) as sdk:
                yield sdk, fakes, client, router


async def call(sdk: openai.AsyncOpenAI, endpoint: str, stream: bool = False):
    """One SDK call to `endpoint`; a stream is read to its end. Returns what the caller can read of it."""
    if endpoint == "chat":
        if stream:
            chunks = [c async for c in await sdk.chat.completions.create(model="any", messages=PROMPT, stream=True)]
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return (await sdk.chat.completions.create(model="any", messages=PROMPT)).choices[0].message.content
    if endpoint == "completions":
        if stream:
            chunks = [c async for c in await sdk.completions.create(model="any", prompt="hi", stream=True)]
            return "".join(c.choices[0].text for c in chunks if c.choices)
        return (await sdk.completions.create(model="any", prompt="hi")).choices[0].text
    if endpoint == "responses":
        if stream:
            events = [e async for e in await sdk.responses.create(model="any", input="hi", stream=True)]
            assert events[-1].type == "response.completed"
            return "".join(e.delta for e in events if e.type == "response.output_text.delta")
        return (await sdk.responses.create(model="any", input="hi")).output_text
    if endpoint == "embeddings":
        return (await sdk.embeddings.create(model="any", input="hi")).model
    assert endpoint == "models"
    return [model.id async for model in sdk.models.list()]


def test_every_endpoint_answers_in_its_own_shape_whole_and_streamed():
    async def scenario():
        async with sdk_through_gateway("a") as (sdk, (a,), _, _router):
            answers = {
                "completion": await call(sdk, "completions"),
                "completion stream": await call(sdk, "completions", stream=True),
                "response": await call(sdk, "responses"),
                "response stream": await call(sdk, "responses", stream=True),
                "embeddings": await sdk.embeddings.create(model="any", input=["one", "two"]),
                "base64 embeddings": await sdk.embeddings.create(model="any", input="one", encoding_format="base64"),
                "models": await call(sdk, "models"),
            }
            return answers, [(seen.method, seen.path, seen.stream) for seen in a.seen]

    answers, seen = run(scenario())
    for name in ("completion", "completion stream", "response", "response stream"):
        assert answers[name] == "Hello from a.", name
    assert [e.embedding for e in answers["embeddings"].data] == [pytest.approx([0.1, -0.2, 0.3]), pytest.approx([0.2, -0.2, 0.3])]
    # Asked for base64, the caller gets the API's little-endian float32 bytes as they were sent.
    assert struct.unpack("<3f", base64.b64decode(answers["base64 embeddings"].data[0].embedding)) == pytest.approx((0.1, -0.2, 0.3))
    assert answers["models"] == ["fake-a"]
    assert seen == [
        ("POST", "/v1/completions", False),
        ("POST", "/v1/completions", True),
        ("POST", "/v1/responses", False),
        ("POST", "/v1/responses", True),
        ("POST", "/v1/embeddings", False),
        ("POST", "/v1/embeddings", False),
        ("GET", "/v1/models", False),
    ]


@pytest.mark.parametrize(
    ("endpoint", "stream", "fault"),
    [
        ("completions", False, "reset"),
        ("completions", True, "http-500"),
        ("embeddings", False, "http-500"),
        ("embeddings", False, "no-choices"),  # an answer with no embeddings is no answer
        ("responses", False, "error-200"),
        ("responses", True, "reset"),
        ("responses", True, "error-event"),  # after response.created and response.in_progress: nothing committed yet
        ("responses", True, "keepalive-cut"),
        ("models", False, "http-500"),
        ("models", False, "no-choices"),  # an empty model list serves nobody
    ],
)
def test_a_failure_before_the_first_byte_fails_over_behind_the_sdks_back(endpoint, stream, fault):
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b), _, _router):
            a.mode = fault
            answer = await call(sdk, endpoint, stream)
            return answer, len(a.seen), len(b.seen)

    answer, seen_a, seen_b = run(scenario())
    expected = {"embeddings": "fake-b", "models": ["fake-b"]}.get(endpoint, "Hello from b.")
    assert answer == expected  # held lifecycle events of a never reached the caller: everything is b's
    assert (seen_a, seen_b) == (1, 1)


@pytest.mark.parametrize("endpoint", ["completions", "responses"])
@pytest.mark.parametrize(("fault", "reason"), [("stream-cut", "connection cut"), ("no-done", "without its end marker")])
def test_a_stream_broken_after_its_first_content_raises_in_the_sdk_and_is_not_retried(endpoint, fault, reason):
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b), _, _router):
            a.mode = fault
            received = []
            with pytest.raises(openai.APIError) as raised:
                if endpoint == "completions":
                    async for chunk in await sdk.completions.create(model="any", prompt="hi", stream=True):
                        received.extend(c.text for c in chunk.choices)
                else:
                    async for event in await sdk.responses.create(model="any", input="hi", stream=True):
                        received.extend([event.delta] if event.type == "response.output_text.delta" else [])
            return received, raised.value, len(b.seen)

    received, error, seen_b = run(scenario())
    assert received[:2] == ["Hello", " from"]  # what the caller already holds is not taken back
    assert error.body["code"] == "upstream_stream_broken" and reason in error.message
    assert seen_b == 0


def test_a_broken_responses_stream_ends_with_the_responses_error_event_numbered_after_the_last_event():
    async def scenario():
        async with sdk_through_gateway("a") as (_, (a,), client, _router):
            a.mode = "stream-cut"
            response = await client.post("/v1/responses", json={"model": "any", "input": "hi", "stream": True})
            return response

    response = run(scenario())
    blocks = [block.split("\n") for block in response.text.strip().split("\n\n")]
    events = [(lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))) for lines in blocks]
    name, last = events[-1]
    before = events[-2][1]
    assert name == "error" and last["type"] == "error"
    # The documented fields at the top level (openai-python ResponseErrorEvent), and nested as OpenAI sends them.
    assert (last["code"], last["param"], last["sequence_number"]) == ("upstream_stream_broken", None, before["sequence_number"] + 1)
    assert last["error"]["code"] == "upstream_stream_broken" and last["error"]["message"] == last["message"]
    assert [n for n, _ in events[:-1]] == [e["type"] for _, e in events[:-1]]  # every relayed event kept its name
    assert "response.completed" not in response.text


def _responses_events(*types: str) -> list[bytes]:
    encoded = []
    for number, kind in enumerate(types):
        fields = {"delta": "hi", "item_id": "m", "output_index": 0, "content_index": 0} if kind.endswith(".delta") else {}
        if kind.startswith("response.") and not kind.startswith("response.output"):
            fields = {"response": {"id": "r", "object": "response", "status": kind.removeprefix("response."), "output": [], "error": {"code": "server_error", "message": "boom"} if kind == "response.failed" else None}}
        encoded.append(f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': number, **fields})}\n\n".encode())
    return encoded


def test_response_failed_before_content_fails_over_and_after_content_is_relayed_and_counts_against_the_upstream():
    async def scenario():
        async with sdk_through_gateway("a", "b", breaker={**FAST_BREAKER, "base_ejection": 30.0, "max_ejection": 30.0}) as (sdk, (a, b), client, router):
            a.mode, a.raw_stream = "raw", _responses_events("response.created", "response.failed")
            early = await client.post("/v1/responses", json={"model": "any", "input": "hi", "stream": True})
            a.raw_stream = _responses_events("response.created", "response.output_text.delta", "response.failed")
            events = [e async for e in await sdk.responses.create(model="any", input="hi", stream=True)]
            return early, events, len(b.seen), router.health("a").state(time.monotonic())

    early, events, seen_b, state = run(scenario())
    assert early.headers["x-failover-upstream"] == "b" and early.headers["x-failover-attempts"] == "2"
    assert [e.type for e in events] == ["response.created", "response.output_text.delta", "response.failed"]
    assert events[-1].response.error.code == "server_error"  # the upstream's own report, unchanged, with no error event of ours
    assert seen_b == 1 and state is State.OPEN  # two failures (failure_threshold 2): one before content, one after


def test_a_responses_stream_that_ends_before_any_content_is_a_complete_answer():
    # A response stopped before any output (a content filter, max_output_tokens) still ends with its final
    # event, which carries the response object: the same answer whole (`output: []`) is accepted too.
    async def scenario():
        async with sdk_through_gateway("a", "b") as (sdk, (a, b), client, router):
            a.mode, a.raw_stream = "raw", _responses_events("response.created", "response.incomplete")
            events = [e async for e in await sdk.responses.create(model="any", input="hi", stream=True)]
            # The final event without its blank line, as some servers end a stream.
            a.raw_stream = [*_responses_events("response.created", "response.output_text.delta"), _responses_events("x", "x", "response.completed")[-1].rstrip(b"\n") + b"\n"]
            unterminated = [e async for e in await sdk.responses.create(model="any", input="hi", stream=True)]
            return events, unterminated, len(b.seen), router.health("a")._consecutive_failures

    events, unterminated, seen_b, failures = run(scenario())
    assert [e.type for e in events] == ["response.created", "response.incomplete"] and events[-1].response.status == "incomplete"
    assert [e.type for e in unterminated] == ["response.created", "response.output_text.delta", "response.completed"]
    assert (seen_b, failures) == (0, 0)  # complete answers: no failover, nothing against the upstream


def test_models_come_from_the_first_usable_upstream_and_an_azure_list_reads_in_the_sdk():
    async def scenario():
        async with regions("fleet", "azure") as (fleet, azure):
            azure.flavor = "azure"
            doc = config_doc([fleet, azure], breaker={**FAST_BREAKER, "failure_threshold": 1, "base_ejection": 30.0, "max_ejection": 30.0})
            async with gateway(doc) as (client, _):
                async with openai.AsyncOpenAI(base_url=f"{client.base_url}/v1", api_key="k", max_retries=0) as sdk:
                    first = await call(sdk, "models")
                    fleet.mode = "http-500"
                    page = await sdk.models.list()
                    azure.mode = "http-500"
                    failed = []
                    for _ in range(2):
                        with pytest.raises(openai.InternalServerError) as raised:
                            await sdk.models.list()
                        failed.append(raised.value)
                    return first, page.data, failed, len(fleet.seen), len(azure.seen)

    first, azure_models, (tried, nothing), seen_fleet, seen_azure = run(scenario())
    assert first == ["fake-fleet"]
    # Azure OpenAI's list names the resource's models (created_at, capabilities), which the SDK reads as models.
    assert [m.id for m in azure_models] == ["fake-azure"] and azure_models[0].model_extra["capabilities"]["chat_completion"] is True
    # The last usable upstream fails: the router says what it tried, and that a client retry adds nothing.
    assert tried.status_code == 503 and tried.response.headers["x-should-retry"] == "false"
    assert [a["upstream"] for a in tried.body["attempts"]] == ["azure"]
    # Nothing usable: the failsafe answer, at once, without a network attempt.
    assert nothing.status_code == 503 and nothing.code == "no_upstream_available"
    assert int(nothing.response.headers["retry-after"]) >= 1 and nothing.response.headers["x-failover-attempts"] == "0"
    assert (seen_fleet, seen_azure) == (2, 2)


def test_an_embeddings_body_asking_to_stream_is_sent_and_answered_whole():
    # Only endpoints that stream read `stream` from the body: an embeddings answer is JSON whatever it says.
    async def scenario():
        async with sdk_through_gateway("a") as (_, (a,), client, _router):
            return await client.post("/v1/embeddings", json={"model": "any", "input": "hi", "stream": True}), a.seen[0]

    response, seen = run(scenario())
    assert response.status_code == 200 and response.json()["data"][0]["object"] == "embedding"
    assert seen.body["stream"] is True  # passed on untouched: the upstream judges its own parameters


def test_the_caller_leaving_a_responses_stream_stops_the_upstream():
    async def scenario():
        async with sdk_through_gateway("a") as (sdk, (a,), _, router):
            a.mode = "slow"
            stream = await sdk.responses.create(model="any", input="hi", stream=True)
            async for event in stream:
                if event.type == "response.output_text.delta":
                    break
            await stream.close()
            left = time.monotonic()
            while a.seen[0].caller_left_at is None and time.monotonic() - left < 2:
                await asyncio.sleep(0.01)
            return a.seen[0].caller_left_at, left, router.health("a")

    caller_left_at, left, health = run(scenario())
    assert caller_left_at is not None and caller_left_at - left < 0.5
    assert health.state(time.monotonic()) is State.CLOSED and health._consecutive_failures == 0
