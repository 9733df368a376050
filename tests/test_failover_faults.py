"""Fault injection against real HTTP servers on 127.0.0.1, through the real gateway.

Each scenario is bounded in time and checks what every upstream saw, not only
what the caller got.
"""

import asyncio
import json
import os
import socket
import time
from collections import Counter

import httpx
import pytest
from httpx_sse import EventSource

from failover.health import State
from tests.failover_fakes import FAST_BREAKER, FAST_TIMEOUTS, chat, config_doc, gateway, regions, run


def served_by(response) -> str:
    return response.headers["x-failover-upstream"]


def sse_data(text: str) -> list[str]:
    return [line[5:].strip() for line in text.split("\n") if line.startswith("data:")]


def test_region_killed_under_load_in_active_active_loses_no_request():
    requests, kill_at, concurrency = 200, 60, 10
    # Killing a region refuses or resets connections at once; the timeouts are generous so that a
    # loaded machine answering slowly cannot make a healthy region look dead.
    patient = {"connect": 2.0, "first_byte": 5.0, "total": 10.0, "stream_idle": 5.0, "min_attempt": 0.1}

    async def scenario():
        async with regions("a", "b", "c") as (a, b, c):
            doc = config_doc([a, b, c], "active-active", timeouts=patient, breaker={**FAST_BREAKER, "base_ejection": 30.0, "max_ejection": 30.0})
            async with gateway(doc) as (client, router):
                answers: list[tuple[int, int, str, str]] = []  # (number, status, served by, attempts)
                sent = 0

                async def worker():
                    nonlocal sent
                    while sent < requests:
                        sent += 1
                        number = sent
                        if number == kill_at:
                            await b.stop()  # closes b and drops its connections before any later request starts
                        response = await client.post("/v1/chat/completions", json=chat())
                        answers.append((number, response.status_code, served_by(response), response.headers["x-failover-attempts"]))

                await asyncio.gather(*(worker() for _ in range(concurrency)))
                now = time.monotonic()
                states = {name: router.health(name).state(now) for name in "abc"}
                return answers, states, len(b.seen)

    answers, states, seen_by_b = run(scenario(), timeout=60)
    assert sorted(number for number, *_ in answers) == list(range(1, requests + 1))
    assert [status for _, status, *_ in answers] == [200] * requests  # no request lost
    served = Counter(by for _, _, by, _ in answers)
    # b served only what it received before it died, and nothing sent after the kill.
    assert served["b"] <= seen_by_b and not [n for n, _, by, _ in answers if by == "b" and n > kill_at]
    assert states == {"a": State.CLOSED, "b": State.OPEN, "c": State.CLOSED}  # only the dead region was ejected
    # Its death cost at most one retry per request in flight, plus the failures that opened its breaker.
    retried = [by for _, _, by, attempts in answers if attempts == "2"]
    assert FAST_BREAKER["failure_threshold"] <= len(retried) <= concurrency + FAST_BREAKER["failure_threshold"] and "b" not in retried
    # a and c share what b no longer takes (round robin alternates between them once b is out).
    after_kill = Counter(by for n, _, by, _ in answers if n > kill_at)
    assert set(after_kill) == {"a", "c"} and min(after_kill.values()) > (requests - kill_at) / 3


def test_active_passive_fails_over_to_secondary_and_fails_back_after_one_probe():
    async def scenario():
        async with regions("primary", "secondary") as (primary, secondary):
            async with gateway(config_doc([primary, secondary])) as (client, router):
                primary.mode = "http-500"
                down = [await client.post("/v1/chat/completions", json=chat()) for _ in range(6)]
                assert [served_by(r) for r in down] == ["secondary"] * 6
                assert [r.headers["x-failover-attempts"] for r in down] == ["2", "2", "1", "1", "1", "1"]
                assert len(primary.seen) == 2  # breaker open: not hammered
                primary.mode = "none"
                recovered_at = time.monotonic()
                await asyncio.sleep(0.2)  # base ejection, no jitter
                back = [await client.post("/v1/chat/completions", json=chat()) for _ in range(5)]
                return back, primary.seen, recovered_at, len(secondary.seen)

    back, primary_seen, recovered_at, secondary_seen = run(scenario())
    assert [served_by(r) for r in back] == ["primary"] * 5
    assert len(primary_seen) == 2 + 5
    assert primary_seen[2].at - recovered_at < 0.2 + 0.5  # the probe came right after the cool-down
    assert secondary_seen == 6


def test_429_with_retry_after_moves_traffic_and_the_throttled_region_is_left_alone():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.retry_after = "http-429", "1"  # capped to 0.5 s by rate_limit.max_cooldown
            async with gateway(config_doc([a, b])) as (client, router):
                # The hold starts while the first request is in flight: after
                # `sent_at`, before `answered_at`.
                sent_at = time.monotonic()
                first = await client.post("/v1/chat/completions", json=chat())
                answered_at = time.monotonic()
                during = []
                while time.monotonic() - sent_at < 0.4:
                    during.append(await client.post("/v1/chat/completions", json=chat()))
                seen_during = len(a.seen)
                a.mode = "none"
                await asyncio.sleep(max(0.0, answered_at + 0.5 + 0.02 - time.monotonic()))
                after = await client.post("/v1/chat/completions", json=chat())
                return first, during, seen_during, after, len(a.seen)

    first, during, seen_during, after, seen_total = run(scenario())
    assert first.status_code == 200 and served_by(first) == "b" and first.headers["x-failover-attempts"] == "2"
    assert during and all(served_by(r) == "b" and r.headers["x-failover-attempts"] == "1" for r in during)
    assert seen_during == 1
    assert served_by(after) == "a" and seen_total == 2


def test_429_without_retry_after_holds_the_region_for_the_default_cooldown():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.script.append("http-429")
            async with gateway(config_doc([a, b])) as (client, _):
                first = await client.post("/v1/chat/completions", json=chat())
                second = await client.post("/v1/chat/completions", json=chat())
                await asyncio.sleep(0.32)
                third = await client.post("/v1/chat/completions", json=chat())
                return [served_by(r) for r in (first, second, third)], len(a.seen), len(b.seen)

    assert run(scenario()) == (["b", "b", "a"], 2, 2)


def test_429_everywhere_gives_the_failsafe_503_with_the_soonest_recovery_and_no_client_retry():
    async def scenario():
        async with regions("a", "b") as (a, b):
            for fake in (a, b):
                fake.mode, fake.retry_after = "http-429", "7"  # held for rate_limit.max_cooldown (0.5 s)
            async with gateway(config_doc([a, b])) as (client, _):
                during = await client.post("/v1/chat/completions", json=chat())
                after = await client.post("/v1/chat/completions", json=chat())
                return during, after, len(a.seen), len(b.seen)

    during, after, seen_a, seen_b = run(scenario())
    assert during.status_code == after.status_code == 503
    assert during.json()["error"]["code"] == after.json()["error"]["code"] == "no_upstream_available"
    assert during.headers["retry-after"] == after.headers["retry-after"] == "1"
    assert 0 < int(after.headers["retry-after-ms"]) <= int(during.headers["retry-after-ms"]) <= 500
    assert during.headers["x-should-retry"] == "false"  # both were tried: a client retry now would only add attempts
    assert (seen_a, seen_b) == (1, 1)


@pytest.mark.parametrize("fault", ["http-500", "reset"])
def test_one_failure_is_retried_once_on_the_next_region(fault):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.script.append(fault)
            async with gateway(config_doc([a, b])) as (client, _):
                failed_over = await client.post("/v1/chat/completions", json=chat())
                next_one = await client.post("/v1/chat/completions", json=chat())
                return failed_over, next_one, len(a.seen), len(b.seen)

    failed_over, next_one, seen_a, seen_b = run(scenario())
    assert failed_over.status_code == 200 and served_by(failed_over) == "b"
    assert failed_over.headers["x-failover-attempts"] == "2"
    assert failed_over.json()["choices"][0]["message"]["content"] == "Hello from b."
    assert served_by(next_one) == "a"  # one failure does not open the breaker
    assert (seen_a, seen_b) == (2, 1)


def test_a_body_cut_before_it_reached_the_caller_fails_over():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.script.append("stream-cut")
            async with gateway(config_doc([a, b])) as (client, _):
                response = await client.post("/v1/chat/completions", json=chat())
                return response, len(a.seen), len(b.seen)

    response, seen_a, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "b"
    assert response.json()["choices"][0]["message"]["content"] == "Hello from b."
    assert (seen_a, seen_b) == (1, 1)


def test_unknown_routes_and_methods_answer_with_an_error_naming_them_and_the_trace_headers():
    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a])) as (client, _):
                missing = await client.post("/v1/assistants", json={})
                wrong = [await client.get("/v1/chat/completions"), await client.delete("/v1/responses"), await client.post("/v1/models")]
                return missing, wrong, len(a.seen)

    missing, wrong, seen = run(scenario())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    # RFC 9110 15.5.6: a 405 names the methods the route takes in `Allow`.
    assert [(r.status_code, r.headers["allow"]) for r in wrong] == [(405, "POST"), (405, "POST"), (405, "GET, HEAD")]
    for response in wrong:
        error = response.json()["error"]
        assert error["code"] == "method_not_allowed" and error["type"] == "invalid_request_error"
        assert response.request.method in error["message"] and response.headers["allow"] in error["message"]
        assert "x-failover-upstream" not in response.headers and response.headers["x-failover-attempts"] == "0"
    assert seen == 0


def test_retries_are_bounded_even_when_every_region_fails():
    async def scenario():
        async with regions("a", "b", "c") as fakes:
            for fake in fakes:
                fake.mode = "http-500"
            async with gateway(config_doc(fakes)) as (client, _):
                response = await client.post("/v1/chat/completions", json=chat())
                return response, [len(f.seen) for f in fakes]

    response, seen = run(scenario())
    assert response.status_code == 503 and response.headers["x-failover-attempts"] == "2"
    assert response.headers["x-should-retry"] == "false" and "x-failover-upstream" not in response.headers
    assert seen == [1, 1, 0]


def test_a_region_that_never_answers_gets_one_attempt_and_does_not_eat_the_budget():
    async def scenario():
        async with regions("silent", "b") as (silent, b):
            silent.mode = "hang"
            async with gateway(config_doc([silent, b], timeouts=FAST_TIMEOUTS)) as (client, _):
                started = time.monotonic()
                response = await client.post("/v1/chat/completions", json=chat())
                return response, time.monotonic() - started, len(silent.seen), len(b.seen)

    response, elapsed, seen_silent, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "b"
    assert (seen_silent, seen_b) == (1, 1)
    assert elapsed < 0.4 + 1.0  # first-byte timeout plus the fallback, not the 3 s deadline


def test_a_stream_that_stays_silent_before_its_first_event_fails_over():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = "hang"
            async with gateway(config_doc([a, b], timeouts=FAST_TIMEOUTS)) as (client, _):
                response = await client.post("/v1/chat/completions", json=chat(stream=True))
                return response, len(a.seen), len(b.seen)

    response, seen_a, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "b"
    assert sse_data(response.text)[-1] == "[DONE]"
    assert (seen_a, seen_b) == (1, 1)


def test_streaming_passes_events_through_and_ends_with_done():
    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a])) as (client, _):
                async with client.stream("POST", "/v1/chat/completions", json=chat(stream=True)) as response:
                    events = [line async for line in response.aiter_lines() if line.startswith("data:")]
                return response, events

    response, events = run(scenario())
    assert response.headers["content-type"].startswith("text/event-stream")
    assert served_by(response) == "a" and response.headers["x-failover-attempts"] == "1"
    contents = [json.loads(e[5:])["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert "".join(c for c in contents if c) == "Hello from a."
    assert events[-1] == "data: [DONE]"


def test_streams_that_complete_leave_their_upstream_connection_for_the_next_request():
    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a])) as (client, _):
                for _ in range(3):
                    response = await client.post("/v1/chat/completions", json=chat(stream=True))
                    assert sse_data(response.text)[-1] == "[DONE]"
                return [seen.connection for seen in a.seen]

    connections = run(scenario())
    assert len(connections) == 3 and len(set(connections)) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("stream-cut", "connection cut"), ("stream-stall", "stalled"), ("malformed", "neither JSON"), ("no-done", "without its end marker")],
)
def test_a_stream_broken_after_delivery_ends_with_an_explicit_error_event(fault, reason):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = fault
            async with gateway(config_doc([a, b], timeouts=FAST_TIMEOUTS)) as (client, router):
                started = time.monotonic()
                response = await client.post("/v1/chat/completions", json=chat(stream=True))
                return response, time.monotonic() - started, len(a.seen), len(b.seen)

    response, elapsed, seen_a, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "a"
    data = sse_data(response.text)
    assert "[DONE]" not in data
    assert "event: error" in response.text
    error = json.loads(data[-1])["error"]
    assert error["code"] == "upstream_stream_broken" and reason in error["message"]
    assert all(d == data[-1] or json.loads(d)["object"] == "chat.completion.chunk" for d in data)  # nothing malformed leaked
    assert (seen_a, seen_b) == (1, 0)  # too late to fail over once bytes reached the caller
    assert elapsed < 0.3 + 1.0


@pytest.mark.parametrize("fault", ["context-length", "content-filter"])
def test_request_errors_are_returned_unchanged_after_one_attempt(fault):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = fault
            async with gateway(config_doc([a, b])) as (client, router):
                response = await client.post("/v1/chat/completions", json=chat())
                return response, len(a.seen), len(b.seen), router.health("a").state(time.monotonic())

    response, seen_a, seen_b, state = run(scenario())
    expected_code = {"context-length": "context_length_exceeded", "content-filter": "content_filter"}[fault]
    assert response.status_code == 400 and response.json()["error"]["code"] == expected_code
    assert served_by(response) == "a" and response.headers["x-failover-attempts"] == "1"
    assert (seen_a, seen_b) == (1, 0)
    assert state is State.CLOSED


def test_every_region_down_gives_a_clean_503_at_once_without_attempts():
    async def scenario():
        async with regions("a", "b") as (a, b):
            doc = config_doc([a, b], breaker={"failure_threshold": 1, "base_ejection": 5.0, "max_ejection": 5.0, "jitter": 0.0})
            await a.stop()
            await b.stop()
            async with gateway(doc) as (client, _):
                first = await client.post("/v1/chat/completions", json=chat())
                started = time.monotonic()
                second = await client.post("/v1/chat/completions", json=chat())
                elapsed = time.monotonic() - started
                ready = await client.get("/ready")
                alive = await client.get("/health")
                return first, second, elapsed, ready, alive

    first, second, elapsed, ready, alive = run(scenario())
    assert first.status_code == 503 and first.headers["x-failover-attempts"] == "2" and first.headers["x-should-retry"] == "false"
    assert [a["outcome"] for a in first.json()["error"]["attempts"]] == ["connect_error", "connect_error"]
    assert second.status_code == 503 and second.headers["x-failover-attempts"] == "0"
    assert second.headers["retry-after"] == "5"
    assert {u["name"]: u["reason"] for u in second.json()["error"]["upstreams"]} == {"a": "circuit_open", "b": "circuit_open"}
    assert elapsed < 0.2  # decided without touching the network
    assert ready.status_code == 503 and ready.json()["error"]["code"] == second.json()["error"]["code"] == "no_upstream_available"
    assert alive.status_code == 200


def test_degraded_mode_serves_the_static_fallback_when_everything_is_out():
    async def scenario():
        async with regions("a") as (a,):
            a.mode = "http-500"
            doc = config_doc([a], breaker={"failure_threshold": 1, "base_ejection": 5.0, "max_ejection": 5.0, "jitter": 0.0}, fallback={"body": {"error": {"message": "degraded"}}, "status": 503})
            async with gateway(doc) as (client, _):
                await client.post("/v1/chat/completions", json=chat())
                return await client.post("/v1/chat/completions", json=chat()), len(a.seen)

    response, seen = run(scenario())
    assert response.status_code == 503 and response.headers["x-failover-fallback"] == "true"
    assert response.json() == {"error": {"message": "degraded"}}
    assert seen == 1


def test_caller_credentials_are_forwarded_and_upstream_keys_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("FAKE_AZURE_KEY", "azure-secret")

    async def scenario():
        async with regions("fleet", "azure") as (fleet, azure):
            fleet.mode = "http-500"
            doc = config_doc([fleet, azure])
            doc["upstreams"][1]["headers_from_env"] = {"api-key": "FAKE_AZURE_KEY"}
            async with gateway(doc) as (client, _):
                await client.post("/v1/chat/completions", json=chat(), headers={"authorization": "Bearer caller", "x-internal": "no"})
                return fleet.seen[0].headers, azure.seen[0].headers

    fleet_headers, azure_headers = run(scenario())
    assert fleet_headers["authorization"] == "Bearer caller" and "api-key" not in fleet_headers
    assert azure_headers["api-key"] == "azure-secret"
    assert "x-internal" not in fleet_headers


# --- a stream commits on its first content event -------------------------------------------------


@pytest.mark.parametrize("fault", ["error-event", "error-200", "keepalive-cut", "keepalive-stall"])
def test_a_stream_that_fails_before_any_content_fails_over_within_the_first_byte_timeout(fault):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = fault
            async with gateway(config_doc([a, b], timeouts=FAST_TIMEOUTS)) as (client, router):
                started = time.monotonic()
                first = await client.post("/v1/chat/completions", json=chat(stream=True))
                elapsed = time.monotonic() - started
                second = await client.post("/v1/chat/completions", json=chat(stream=True))
                return first, second, elapsed, len(a.seen), len(b.seen), router.health("a").state(time.monotonic())

    first, second, elapsed, seen_a, seen_b, state = run(scenario())
    for response in (first, second):
        assert response.status_code == 200 and served_by(response) == "b" and response.headers["x-failover-attempts"] == "2"
        assert sse_data(response.text)[-1] == "[DONE]" and "error" not in response.text
    # Keep-alive comments do not stop the first-byte timer (0.4 s): the silent region costs that, not the 3 s deadline.
    assert elapsed < 0.4 + 1.0
    assert (seen_a, seen_b) == (2, 2) and state is State.OPEN  # two failures: the region is out


CHUNK = '{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}'
SPLIT_CHUNK = CHUNK.replace('"choices": ', '"choices":\ndata: ')


@pytest.mark.parametrize(
    "parts",
    [
        [f"data: {CHUNK}\r".encode(), f"\rdata: {CHUNK}\r\rdata: [DONE]\r\r".encode()],
        [f"data: {SPLIT_CHUNK}\n\n".encode(), b"data: [DONE]\n\n"],
        [b"data:\n\n: keep-alive\n\nfoo: bar\nid: 1\nretry: 100\n", f"data: {CHUNK}\n\ndata\n\ndata: [DONE]\n\n".encode()],
        [b'data: {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]}\n\n', f"data: {CHUNK}\r\n\r\ndata: [DONE]\r\n\r\n".encode()],
    ],
    ids=["bare-cr", "json-over-two-data-lines", "empty-data-comments-unknown-fields", "azure-prompt-filter-first"],
)
def test_valid_event_stream_shapes_are_relayed_whole(parts):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_stream = "raw", parts
            async with gateway(config_doc([a, b])) as (client, _):
                return await client.post("/v1/chat/completions", json=chat(stream=True)), len(b.seen)

    response, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "a" and seen_b == 0
    # Read back by httpx-sse's decoder, as a client would: every event whole, the last [DONE].
    relayed = list(EventSource(httpx.Response(200, headers=response.headers, content=response.content)).iter_sse())
    assert relayed[-1].data == "[DONE]" and all(e.event == "message" for e in relayed)
    contents = [c["delta"].get("content") for e in relayed[:-1] for c in json.loads(e.data)["choices"]]
    assert "hi" in contents and all(c in ("hi", None) for c in contents)


def test_events_held_before_content_are_not_delivered_when_the_stream_then_ends():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_stream = "raw", [b'data: {"choices": [], "prompt_filter_results": []}\n\n', b": bye\n\n"]
            async with gateway(config_doc([a, b])) as (client, _):
                return await client.post("/v1/chat/completions", json=chat(stream=True))

    response = run(scenario())
    assert response.status_code == 200 and served_by(response) == "b" and "prompt_filter_results" not in response.text


# --- who is at fault --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["http-408", "http-409", "model-not-found", "deployment-not-found", "error-200", "no-choices", "injected-key-refused"])
def test_faults_of_one_upstream_fail_over_and_count_against_it(fault, monkeypatch):
    monkeypatch.setenv("FAKE_REGION_KEY", "wrong-key")

    async def scenario():
        async with regions("a", "b") as (a, b):
            doc = config_doc([a, b])
            if fault == "injected-key-refused":
                doc["upstreams"][0]["headers_from_env"] = {"api-key": "FAKE_REGION_KEY"}
                a.mode = "bad-key"
            else:
                a.mode = fault
            async with gateway(doc) as (client, router):
                responses = [await client.post("/v1/chat/completions", json=chat()) for _ in range(3)]
                return responses, len(a.seen), router.health("a").state(time.monotonic())

    responses, seen_a, state = run(scenario())
    assert [r.status_code for r in responses] == [200] * 3
    assert [served_by(r) for r in responses] == ["b"] * 3
    assert [r.headers["x-failover-attempts"] for r in responses] == ["2", "2", "1"]
    assert responses[0].json()["choices"][0]["message"]["content"] == "Hello from b."
    assert seen_a == 2 and state is State.OPEN


def test_a_model_only_the_third_upstream_serves_is_reached_without_spending_the_retry():
    async def scenario():
        async with regions("a", "b", "c") as (a, b, c):
            a.mode, b.mode = "model-not-found", "deployment-not-found"
            async with gateway(config_doc([a, b, c])) as (client, router):  # max_retries: 1
                found = await client.post("/v1/chat/completions", json=chat())
                c.mode = "model-not-found"
                nowhere = await client.post("/v1/chat/completions", json=chat())
                return found, nowhere, [len(f.seen) for f in (a, b, c)]

    found, nowhere, seen = run(scenario())
    assert found.status_code == 200 and served_by(found) == "c" and found.headers["x-failover-attempts"] == "3"
    # Nobody serves it: every upstream was asked, and the 404 says so.
    assert nowhere.status_code == 404 and nowhere.headers["x-failover-attempts"] == "3"
    assert nowhere.json()["error"]["code"] == "model_not_found"
    assert seen == [2, 2, 2]


def test_an_upstream_redirect_fails_over_and_is_never_relayed():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = "redirect"
            async with gateway(config_doc([a, b])) as (client, router):
                moved = [await client.post("/v1/chat/completions", json=chat(stream=stream)) for stream in (False, True)]
                b.mode = "redirect"
                await asyncio.sleep(FAST_BREAKER["base_ejection"])  # a's ejection ends: both are tried again
                everywhere = await client.post("/v1/chat/completions", json=chat())
                return moved, everywhere, len(a.seen), [s.path for s in b.seen]

    moved, everywhere, seen_a, b_paths = run(scenario())
    for response in moved:
        assert response.status_code == 200 and served_by(response) == "b" and "location" not in response.headers
    assert everywhere.status_code == 503 and "location" not in everywhere.headers
    assert [a["outcome"] for a in everywhere.json()["error"]["attempts"]] == ["http_307", "http_307"]
    assert seen_a == 3 and "/elsewhere" not in " ".join(b_paths)  # never followed


def test_a_callers_own_key_refused_goes_back_unchanged_after_one_attempt():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = "bad-key"
            async with gateway(config_doc([a, b])) as (client, router):
                response = await client.post("/v1/chat/completions", json=chat(), headers={"authorization": "Bearer wrong"})
                return response, len(b.seen), router.health("a").state(time.monotonic())

    response, seen_b, state = run(scenario())
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert seen_b == 0 and state is State.CLOSED


def test_a_503_with_retry_after_holds_the_region_like_a_429():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.retry_after = "http-503", "1"  # held for rate_limit.max_cooldown (0.5 s)
            async with gateway(config_doc([a, b])) as (client, router):
                responses = [await client.post("/v1/chat/completions", json=chat()) for _ in range(3)]
                held = len(a.seen)
                a.mode = "none"
                await asyncio.sleep(0.55)
                after = await client.post("/v1/chat/completions", json=chat())
                return responses, held, after, router.health("a").state(time.monotonic())

    responses, held, after, state = run(scenario())
    assert [r.headers["x-failover-attempts"] for r in responses] == ["2", "1", "1"] and held == 1
    assert served_by(after) == "a" and state is State.CLOSED  # a hold is not a failure


# --- work ends with its caller, and the router's own deadline blames no one -------------------------


async def until(condition, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_a_caller_who_leaves_while_the_router_waits_cancels_the_attempt_and_plans_no_other():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = "hang"
            doc = config_doc([a, b], timeouts={**FAST_TIMEOUTS, "first_byte": 0.8})
            async with gateway(doc) as (client, router):
                with pytest.raises(httpx.ReadTimeout):
                    await client.post("/v1/chat/completions", json=chat(), timeout=0.2)
                left = time.monotonic()
                await until(lambda: a.seen[0].caller_left_at is not None)
                await asyncio.sleep(0.8)  # past a's first-byte timeout: the router would have tried b by now
                return a.seen[0].caller_left_at, left, len(b.seen), router.health("a")

    caller_left_at, left, seen_b, health = run(scenario())
    assert caller_left_at is not None and caller_left_at - left < 0.3  # a's request was cancelled, not left to time out
    assert seen_b == 0  # no further attempt for a caller who is gone
    assert health.state(time.monotonic()) is State.CLOSED and health._consecutive_failures == 0  # not a's failure


def test_a_caller_who_leaves_mid_stream_cancels_the_upstream_stream(caplog):
    caplog.set_level("INFO", logger="failover")

    async def scenario():
        async with regions("a") as (a,):
            a.mode = "slow"  # 200 events, one every 50 ms
            async with gateway(config_doc([a])) as (client, router):
                async with client.stream("POST", "/v1/chat/completions", json=chat(stream=True)) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            break
                left = time.monotonic()
                await until(lambda: a.seen[0].caller_left_at is not None)
                return a.seen[0].caller_left_at, left, router.health("a")

    caller_left_at, left, health = run(scenario())
    assert caller_left_at is not None and caller_left_at - left < 0.5
    assert health.state(time.monotonic()) is State.CLOSED and health._consecutive_failures == 0
    assert "event=caller_left method=POST path=/v1/chat/completions upstream=a attempt=1" in caplog.messages


def _gateway_side_open(caller: socket.socket) -> bool:
    """Whether the gateway still holds its end of the caller's connection (Linux's /proc/net/tcp lists it).

    A connection the OS gave up on (TCP_USER_TIMEOUT) is gone from the gateway's side at once; the peer
    is not told until it next sends, so the caller's own socket shows nothing."""
    mine, theirs = caller.getsockname()[1], caller.getpeername()[1]
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(int(row[1].split(":")[1], 16) == theirs and int(row[2].split(":")[1], 16) == mine for row in rows)


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="TCP_USER_TIMEOUT and /proc/net/tcp are Linux's")
def test_a_caller_who_stops_reading_a_stream_holds_the_upstream_no_longer_than_the_deadline(monkeypatch, caplog):
    monkeypatch.setattr("failover.gateway._SEND_GRACE_SECONDS", 0.2)
    caplog.set_level("INFO", logger="failover")
    # Events big enough to fill the socket buffers between the gateway and a caller who reads nothing.
    big = b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 60_000}}]}).encode() + b"\n\n"

    async def scenario():
        async with regions("a") as (a,):
            # Then silence, so the upstream notices the gateway leaving even when every byte fitted into
            # the sockets' buffers (loopback buffers grow to megabytes).
            a.mode, a.raw_stream, a.raw_end = "raw", [big] * 200, "stall"
            async with gateway(config_doc([a], timeouts={**FAST_TIMEOUTS, "total": 0.5})) as (client, router):
                loop = asyncio.get_running_loop()
                with socket.socket() as caller:
                    caller.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    caller.setblocking(False)
                    await loop.sock_connect(caller, (client.base_url.host, client.base_url.port))
                    assert _gateway_side_open(caller)  # the lookup sees the connection while it is there
                    body = json.dumps(chat(stream=True)).encode()
                    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
                    await loop.sock_sendall(caller, head + body)
                    sent_at = time.monotonic()
                    await until(lambda: bool(a.seen) and a.seen[0].caller_left_at is not None, within=5.0)
                    # Then the caller's own connection is dropped (TCP_USER_TIMEOUT), not left open with the unread
                    # answer queued for as long as the caller likes. Watched without reading, which would drain it.
                    await until(lambda: not _gateway_side_open(caller), within=8.0)
                    dropped = not _gateway_side_open(caller)
                    return a.seen[0].caller_left_at, sent_at, router.health("a"), dropped

    closed_at, sent_at, health, dropped = run(scenario(), timeout=20)
    assert closed_at is not None and closed_at - sent_at < 0.5 + 0.2 + 1.0  # the deadline and the grace, not the caller's whim
    assert dropped
    assert "event=caller_not_reading method=POST path=/v1/chat/completions upstream=a attempt=1" in caplog.messages
    assert health._consecutive_failures == 0  # the caller's doing, not the upstream's


def test_a_flowing_stream_cut_by_the_request_deadline_says_so_and_blames_no_region():
    async def scenario():
        async with regions("a") as (a,):
            a.mode = "slow"  # an event every 50 ms: flowing, far within stream_idle
            doc = config_doc([a], timeouts={**FAST_TIMEOUTS, "total": 0.5})
            async with gateway(doc) as (client, router):
                responses = [await client.post("/v1/chat/completions", json=chat(stream=True)) for _ in range(2)]
                return responses, router.health("a").state(time.monotonic())

    responses, state = run(scenario())
    for response in responses:
        assert response.status_code == 200 and served_by(response) == "a"
        data = sse_data(response.text)
        assert "[DONE]" not in data and json.loads(data[-1])["error"]["code"] == "deadline_exceeded"
    assert state is State.CLOSED  # two deadlines with a threshold of two: a healthy region is not ejected


# --- what an upstream sends that the gateway must survive, and must not pass on --------------------


def raw_answer(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    """One HTTP/1.1 response with a content length, header bytes exactly as given."""
    head = b"HTTP/1.1 %d X\r\n" % status + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


ANSWER = json.dumps({"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}).encode()
STREAMED = f"data: {CHUNK}\n\ndata: [DONE]\n\n".encode()
# Headers an upstream may send: the caller gets what describes the answer and what model APIs send for
# it, as ASCII; never what belongs to the upstream's own site, and never a value that cannot be relayed as it came.
ODD_HEADERS = [
    (b"x-request-id", b"req-1"),
    (b"apim-request-id", b"apim-1"),
    (b"x-ratelimit-remaining-tokens", b"9000"),
    (b"openai-processing-ms", b"12"),
    (b"x-ms-region", b"East US"),
    (b"openai-model", "made with \u2764".encode()),  # UTF-8 beyond Latin-1
    (b"x-ms-deployment-name", b"caf\xe9"),  # not UTF-8 at all
    (b"x-powered-by", "made with \u2764".encode()),
    (b"set-cookie", b"session=1; Path=/"),
    (b"set-cookie", b"affinity=2; Path=/"),
    (b"alt-svc", b'h3=":443"'),
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-should-retry", b"true"),
]
RELAYED = {"x-request-id": "req-1", "apim-request-id": "apim-1", "x-ratelimit-remaining-tokens": "9000", "openai-processing-ms": "12", "x-ms-region": "East US"}


def test_upstream_headers_are_relayed_by_an_allow_list_and_only_as_ascii():
    streamed_head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=iso-8859-1\r\ntransfer-encoding: chunked\r\n"

    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode = "raw-response"
            async with gateway(config_doc([a, b])) as (client, router):
                a.raw_response = [raw_answer(200, [(b"content-type", b"application/json; charset=utf-8"), *ODD_HEADERS], ANSWER)]
                whole = [await client.post("/v1/chat/completions", json=chat()) for _ in range(2)]  # the connection stays usable
                a.raw_response = [streamed_head + b"".join(n + b": " + v + b"\r\n" for n, v in ODD_HEADERS) + b"\r\n", chunk(STREAMED), b"0\r\n\r\n"]
                streamed = await client.post("/v1/chat/completions", json=chat(stream=True))
                return whole, streamed, len(b.seen)

    whole, streamed, seen_b = run(scenario())
    assert seen_b == 0  # an odd header is no reason to fail over
    for response in (*whole, streamed):
        assert response.status_code == 200 and served_by(response) == "a"
        relayed = {k: v for k, v in response.headers.items() if not k.startswith("x-failover-") and k not in ("date", "content-length", "transfer-encoding")}
        expected_type = "application/json; charset=utf-8" if response is not streamed else "text/event-stream; charset=utf-8"
        extra = {"cache-control": "no-cache"} if response is streamed else {}
        assert relayed == {**RELAYED, "content-type": expected_type, **extra}
    assert [r.json()["choices"][0]["message"]["content"] for r in whole] == ["ok", "ok"]
    assert sse_data(streamed.text)[-1] == "[DONE]"


def test_a_retry_after_that_is_no_number_holds_the_upstream_for_the_default_cooldown():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.retry_after = "http-429", "\u00b2"  # "²": str.isdigit() is True, float() raises
            async with gateway(config_doc([a, b])) as (client, router):
                responses = [await client.post("/v1/chat/completions", json=chat()) for _ in range(2)]
                return responses, len(a.seen), router.health("a").unavailable(time.monotonic())

    responses, seen_a, unavailable = run(scenario())
    assert [(r.status_code, served_by(r), r.headers["x-failover-attempts"]) for r in responses] == [(200, "b", "2"), (200, "b", "1")]
    assert seen_a == 1 and unavailable is not None and unavailable.value == "rate_limited"


def test_json_nested_deeper_than_the_parser_goes_is_no_answer_and_no_crash():
    deep = b"[" * 100_000 + b"]" * 100_000

    async def scenario():
        async with regions("a", "b") as (a, b):
            async with gateway(config_doc([a, b])) as (client, router):
                a.mode, a.raw_response = "raw-response", [raw_answer(200, [(b"content-type", b"application/json")], b'{"choices": ' + deep + b"}")]
                from_upstream = await client.post("/v1/chat/completions", json=chat())
                a.mode = "none"
                from_caller = await client.post("/v1/chat/completions", content=b'{"stream": ' + deep + b"}", headers={"content-type": "application/json"})
                return from_upstream, from_caller

    from_upstream, from_caller = run(scenario())
    assert from_upstream.status_code == 200 and served_by(from_upstream) == "b"  # a's answer was a bad one: failed over
    assert from_caller.status_code == 200 and served_by(from_caller) == "a"  # not a stream request: passed on whole


def test_a_fault_of_the_gateways_own_is_an_openai_shaped_500_on_a_connection_that_stays_usable(monkeypatch):
    from failover.router import Plan

    result = Plan.result
    calls = []

    def fails_once(plan):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return result(plan)

    monkeypatch.setattr(Plan, "result", fails_once)

    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a])) as (client, router):
                failed = await client.post("/v1/chat/completions", json=chat())
                after = await client.post("/v1/chat/completions", json=chat())
                return failed, after, [seen.connection for seen in a.seen]

    failed, after, _ = run(scenario())
    error = failed.json()["error"]
    assert failed.status_code == 500 and error["code"] == "proxy_error" and error["type"] == "server_error"
    assert error["attempts"] == [{"upstream": "a", "outcome": "success"}] and failed.headers["x-failover-attempts"] == "1"
    assert "connection" not in failed.headers  # kept alive: the next request needs no new connection
    assert after.status_code == 200 and served_by(after) == "a"


def test_a_fault_of_the_gateways_own_mid_stream_ends_it_with_an_error_event(monkeypatch):
    from failover.transport import UpstreamStream

    async def breaks(stream):
        raise RuntimeError("a bug")
        yield b""  # an async generator

    monkeypatch.setattr(UpstreamStream, "rest", breaks)

    async def scenario():
        async with regions("a") as (a,):
            async with gateway(config_doc([a])) as (client, router):
                response = await client.post("/v1/chat/completions", json=chat(stream=True))
                return response, router.health("a")

    response, health = run(scenario())
    data = sse_data(response.text)
    assert response.status_code == 200 and "[DONE]" not in data
    assert json.loads(data[0])["choices"] and json.loads(data[-1])["error"]["code"] == "proxy_error"
    assert health._consecutive_failures == 0 and health.unavailable(time.monotonic()) is None


def test_an_upstream_error_message_cannot_forge_a_log_line(caplog):
    caplog.set_level("INFO", logger="failover")
    forged = "boom\n2026-01-01 00:00:00,000 failover.breaker INFO event=breaker_closed upstream=b"
    error = json.dumps({"error": {"message": forged, "type": "server_error", "code": "oops"}})

    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_stream = "raw", [f"data: {CHUNK}\n\n".encode(), f"event: error\ndata: {error}\n\n".encode()]
            async with gateway(config_doc([a, b])) as (client, _):
                return await client.post("/v1/chat/completions", json=chat(stream=True))

    response = run(scenario())
    assert json.loads(sse_data(response.text)[-1])["error"]["code"] == "upstream_stream_broken"
    lines = [record.getMessage() for record in caplog.records if record.name.startswith("failover")]
    assert all("\n" not in line for line in lines)
    assert [line for line in lines if line.startswith("event=stream_broken")] == [
        'event=stream_broken upstream=a attempt=1 outcome="stream_broken: error event (oops: boom\\n2026-01-01 00:00:00,000 failover.breaker INFO event=breaker_closed upstream=b)"'
    ]


# --- bodies that stall, break or never end ------------------------------------------------------------

JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
CHUNKED_JSON_HEAD = JSON_HEAD + b"transfer-encoding: chunked\r\n\r\n"
SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
# Generous allowances, so that a fault noticed at once is told apart from one that waited them out.
PATIENT = {**FAST_TIMEOUTS, "first_byte": 2.0, "stream_idle": 2.0, "total": 6.0}


# A stall is ended by the idle allowance (0.5 s), far sooner than the deadline (6 s).
STALLING = {**FAST_TIMEOUTS, "first_byte": 0.5, "stream_idle": 0.5, "total": 6.0}


@pytest.mark.parametrize(
    ("parts", "end", "timeouts", "within"),
    [
        # Headers, one byte of a 500-byte body, then nothing.
        ([JSON_HEAD + b"content-length: 500\r\n\r\n{"], "stall", STALLING, 0.5 + 1.0),
        ([b"HTTP/1.1 500 Oops\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"], "stall", STALLING, 0.5 + 1.0),
        # A chunk size that is not hexadecimal (aiohttp's compiled parser then closes the connection itself):
        # noticed at once, long before the idle allowance (2 s).
        ([CHUNKED_JSON_HEAD, chunk(b'{"id":') + b"zz\r\n"], "stall", PATIENT, 1.0),
        ([CHUNKED_JSON_HEAD, chunk(b'{"id":') + b"zz\r\n"], "close", PATIENT, 1.0),
        ([CHUNKED_JSON_HEAD + chunk(b'{"id":') + b"zz\r\n"], "stall", PATIENT, 1.0),  # in the headers' own packet
    ],
    ids=["stalls-after-its-headers", "error-body-stalls", "malformed-chunk", "malformed-chunk-then-close", "malformed-with-the-head"],
)
def test_a_whole_body_that_stalls_or_breaks_fails_over_and_counts_against_its_upstream(parts, end, timeouts, within):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_response, a.raw_end, a.raw_pause = "raw-response", parts, end, 0.05
            async with gateway(config_doc([a, b], timeouts=timeouts)) as (client, router):
                started = time.monotonic()
                first = await client.post("/v1/chat/completions", json=chat())
                elapsed = time.monotonic() - started
                second = await client.post("/v1/chat/completions", json=chat())
                return first, second, elapsed, router.health("a").state(time.monotonic())

    first, second, elapsed, state = run(scenario())
    assert [(r.status_code, served_by(r), r.headers["x-failover-attempts"]) for r in (first, second)] == [(200, "b", "2")] * 2
    assert elapsed < within
    assert state is State.OPEN  # two failures of its own


def test_a_malformed_chunk_breaks_a_stream_at_once_before_and_after_its_first_content():
    content = f"data: {CHUNK}\n\n".encode()

    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_end, a.raw_pause = "raw-response", "stall", 0.05
            async with gateway(config_doc([a, b], timeouts=PATIENT)) as (client, router):
                a.raw_response = [SSE_HEAD, b"zz\r\n"]
                started = time.monotonic()
                before = await client.post("/v1/chat/completions", json=chat(stream=True))
                before_took = time.monotonic() - started
                a.raw_response = [SSE_HEAD, chunk(content), b"zz\r\n"]
                started = time.monotonic()
                after = await client.post("/v1/chat/completions", json=chat(stream=True))
                after_took = time.monotonic() - started
                return before, before_took, after, after_took

    before, before_took, after, after_took = run(scenario())
    assert (served_by(before), before.headers["x-failover-attempts"]) == ("b", "2") and sse_data(before.text)[-1] == "[DONE]"
    assert served_by(after) == "a" and sse_data(after.text)[0] == CHUNK
    assert json.loads(sse_data(after.text)[-1])["error"]["code"] == "upstream_stream_broken"
    assert before_took < 1.0 and after_took < 1.0  # neither waited for first_byte or stream_idle (2 s)


def test_the_gateways_own_connection_count_is_never_blamed_on_an_upstream():
    # More streams at once than aiohttp's default pool of 100 connections, each held open by the upstream.
    streams = 120

    async def scenario():
        async with regions("a") as (a,):
            a.gate = asyncio.Event()
            # Allowances no loaded machine reaches while the streams wait at the gate; connecting stays quick.
            held = {**FAST_TIMEOUTS, "connect": 1.0, "first_byte": 10.0, "stream_idle": 10.0, "total": 15.0}
            async with gateway(config_doc([a], timeouts=held)) as (client, router):
                many = httpx.AsyncClient(base_url=client.base_url, timeout=10.0, limits=httpx.Limits(max_connections=None))
                async with many:
                    calls = [asyncio.ensure_future(many.post("/v1/chat/completions", json=chat(stream=True))) for _ in range(streams)]
                    await until(lambda: len(a.seen) == streams, within=10.0)
                    all_open = len(a.seen)
                    a.gate.set()
                    responses = await asyncio.gather(*calls)
                return responses, all_open, router.health("a")._consecutive_failures

    responses, all_open, failures = run(scenario(), timeout=30)
    assert all_open == streams  # every stream held an upstream connection at the same time
    assert [r.status_code for r in responses] == [200] * streams and all(sse_data(r.text)[-1] == "[DONE]" for r in responses)
    assert failures == 0


def test_answers_over_the_gateways_own_limits_are_refused_at_once_without_blaming_anyone():
    # A valid answer can be that large (a big embeddings batch, a tool's image in a Responses event):
    # the limit is the gateway's, so no breaker moves and no other upstream is asked for the same answer.
    limits = {"max_response_bytes": 64 * 1024, "max_event_bytes": 16 * 1024}
    big_answer = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x" * 100_000}}]}).encode()
    filter_chunk = b'data: {"choices": [], "prompt_filter_results": [{"prompt_index": 0}]}\n\n'

    async def scenario():
        async with regions("a", "b") as (a, b):
            async with gateway(config_doc([a, b], timeouts=PATIENT, breaker={**FAST_BREAKER, "failure_threshold": 1}, **limits)) as (client, router):
                a.mode, a.raw_response = "raw-response", [raw_answer(200, [(b"content-type", b"application/json")], big_answer)]
                answers = {"whole": await client.post("/v1/chat/completions", json=chat())}
                a.mode, a.raw_end = "raw", "stall"
                for name, stream in {
                    "endless-line": [b"data: " + b"x" * (1024 * 1024)] * 10,  # 10 MB that never ends: not read to the end
                    "held-before-content": [filter_chunk] * 400,
                }.items():
                    a.raw_stream = stream
                    started = time.monotonic()
                    answers[name] = await client.post("/v1/chat/completions", json=chat(stream=True))
                    assert time.monotonic() - started < 1.0, name  # at once, not after an allowance ran out
                a.raw_stream = [f"data: {CHUNK}\n\n".encode(), b"data: " + b"x" * 20_000 + b"\n\n"]
                after_content = await client.post("/v1/chat/completions", json=chat(stream=True))
                return answers, after_content, len(b.seen), router.health("a")._consecutive_failures

    answers, after_content, seen_b, failures = run(scenario())
    for name, response in answers.items():
        error = response.json()["error"]
        assert (response.status_code, error["code"], response.headers["x-failover-attempts"]) == (502, "response_too_large", "1"), name
        assert "max_response_bytes" in error["message"] if name == "whole" else "max_event_bytes" in error["message"]
        assert response.headers["x-should-retry"] == "false"  # a retry would get the same answer
    error = json.loads(sse_data(after_content.text)[-1])["error"]
    assert served_by(after_content) == "a" and error["code"] == "response_too_large" and "max_event_bytes" in error["message"]
    assert (seen_b, failures) == (0, 0)  # nobody blamed (failure_threshold 1), nobody else asked


def test_a_whole_body_that_keeps_coming_is_read_to_its_end_however_slowly():
    # Headers at once, then the body in pieces over longer than first_byte (0.5 s), never idle for stream_idle:
    # as a server sending blank lines while it generates (DeepSeek's API does), or a large answer on a slow path.
    pieces = [b" "] * 12 + [ANSWER]

    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_end, a.raw_pause = "raw-response", "keep", 0.1
            a.raw_response = [JSON_HEAD + b"content-length: %d\r\n\r\n" % len(b"".join(pieces)), *pieces]
            async with gateway(config_doc([a, b], timeouts=STALLING)) as (client, router):
                return await client.post("/v1/chat/completions", json=chat()), len(b.seen)

    response, seen_b = run(scenario())
    assert response.status_code == 200 and served_by(response) == "a" and seen_b == 0
    assert response.json()["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize(
    "parts",
    [
        [f"data: {CHUNK}\n\n".encode(), b"data: [DONE]\n"],
        [f"data: {CHUNK}\r\n\r\n".encode(), b"data: [DONE]"],
    ],
    ids=["lf", "no-line-end"],
)
def test_a_done_marker_without_its_blank_line_still_completes_the_stream(parts):
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_stream = "raw", parts
            async with gateway(config_doc([a, b])) as (client, router):
                return await client.post("/v1/chat/completions", json=chat(stream=True)), len(b.seen), router.health("a")._consecutive_failures

    response, seen_b, failures = run(scenario())
    assert served_by(response) == "a" and sse_data(response.text) == [CHUNK, "[DONE]"] and "error" not in response.text
    assert (seen_b, failures) == (0, 0)


def test_an_event_the_stream_ends_inside_is_not_relayed_and_the_stream_is_broken():
    async def scenario():
        async with regions("a", "b") as (a, b):
            a.mode, a.raw_stream = "raw", [f"data: {CHUNK}\n\n".encode(), f"data: {CHUNK}".encode()]
            async with gateway(config_doc([a, b])) as (client, router):
                return await client.post("/v1/chat/completions", json=chat(stream=True)), router.health("a")._consecutive_failures

    response, failures = run(scenario())
    data = sse_data(response.text)
    assert data[0] == CHUNK and len(data) == 2  # the unfinished copy of the chunk is not passed on
    assert json.loads(data[-1])["error"]["code"] == "upstream_stream_broken" and failures == 1
