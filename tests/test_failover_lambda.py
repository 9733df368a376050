"""The Lambda handler, invoked with function URL events against fake regions on 127.0.0.1."""

import base64
import json
import time

import pytest

from failover import lambda_handler
from failover.config import parse_config
from failover.lambda_handler import LambdaProxy
from tests.failover_fakes import chat, config_doc, regions_in_thread


def event(body=None, method="POST", path="/v1/chat/completions", headers=None, base64_body=False):
    raw = json.dumps(body) if body is not None else None
    if raw is not None and base64_body:
        raw = base64.b64encode(raw.encode()).decode()
    return {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path}},
        "body": raw,
        "isBase64Encoded": base64_body,
    }


def proxy_for(fakes, topology="active-passive", caller_region=None, environ=None, **sections):
    return LambdaProxy(parse_config(config_doc(fakes, topology, **sections)), caller_region, environ or {})


def test_success_in_the_function_url_response_shape():
    with regions_in_thread("own", "other") as (_, (own, other)):
        response = proxy_for([own, other]).handle(event(chat(), headers={"authorization": "Bearer caller"}))
        assert response["statusCode"] == 200 and response["isBase64Encoded"] is False
        assert response["headers"]["x-failover-upstream"] == "own" and response["headers"]["x-failover-attempts"] == "1"
        assert json.loads(response["body"])["choices"][0]["message"]["content"] == "Hello from own."
        assert own.seen[0].headers["authorization"] == "Bearer caller"
        assert len(other.seen) == 0


def test_base64_bodies_are_decoded():
    with regions_in_thread("own") as (_, (own,)):
        response = proxy_for([own]).handle(event(chat(), base64_body=True))
        assert response["statusCode"] == 200 and own.seen[0].stream is False


def test_own_region_first_in_active_active_then_failover_to_another():
    with regions_in_thread("far", "own") as (_, (far, own)):
        proxy = proxy_for([far, own], "active-active", caller_region="region-own")
        first = proxy.handle(event(chat()))
        own.mode = "reset"
        second = proxy.handle(event(chat()))
        assert first["headers"]["x-failover-upstream"] == "own"
        assert second["headers"]["x-failover-upstream"] == "far" and second["headers"]["x-failover-attempts"] == "2"
        assert (len(own.seen), len(far.seen)) == (2, 1)


def test_azure_key_is_read_from_the_named_environment_variable():
    with regions_in_thread("fleet", "azure") as (_, (fleet, azure)):
        fleet.mode = "http-500"
        doc = config_doc([fleet, azure])
        doc["upstreams"][1]["headers_from_env"] = {"api-key": "AZURE_KEY"}
        proxy = LambdaProxy(parse_config(doc), None, {"AZURE_KEY": "from-env"})
        assert proxy.handle(event(chat()))["statusCode"] == 200
        assert azure.seen[0].headers["api-key"] == "from-env" and "api-key" not in fleet.seen[0].headers


def test_the_function_url_signature_stays_with_the_function_url():
    with regions_in_thread("fleet") as (_, (fleet,)):
        signed = {"authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/lambda/aws4_request, Signature=abc", "x-amz-date": "20261122T000000Z"}
        assert proxy_for([fleet]).handle(event(chat(), headers=signed))["statusCode"] == 200
        assert "authorization" not in fleet.seen[0].headers and "x-amz-date" not in fleet.seen[0].headers
        assert proxy_for([fleet]).handle(event(chat(), headers={"authorization": "Bearer model-token"}))["statusCode"] == 200
        assert fleet.seen[1].headers["authorization"] == "Bearer model-token"


def test_429_moves_on_and_holds_the_throttled_region():
    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode, a.retry_after = "http-429", "1"
        proxy = proxy_for([a, b])
        responses = [proxy.handle(event(chat())) for _ in range(4)]
        assert [r["headers"]["x-failover-upstream"] for r in responses] == ["b"] * 4
        assert [r["headers"]["x-failover-attempts"] for r in responses] == ["2", "1", "1", "1"]
        assert len(a.seen) == 1


def test_silent_region_gets_one_attempt_within_the_first_byte_timeout():
    with regions_in_thread("silent", "b") as (_, (silent, b)):
        silent.mode = "hang"
        started = time.monotonic()
        response = proxy_for([silent, b]).handle(event(chat()))
        assert response["statusCode"] == 200 and response["headers"]["x-failover-upstream"] == "b"
        assert time.monotonic() - started < 0.4 + 1.0
        assert (len(silent.seen), len(b.seen)) == (1, 1)


def test_buffered_stream_is_complete_or_not_a_200():
    with regions_in_thread("a") as (_, (a,)):
        proxy = proxy_for([a])
        whole = proxy.handle(event(chat(stream=True)))
        assert whole["headers"]["content-type"] == "text/event-stream"
        assert whole["body"].rstrip().endswith("data: [DONE]")
        a.mode = "stream-cut"
        cut = proxy.handle(event(chat(stream=True)))
        assert cut["statusCode"] == 503 and "data: [DONE]" not in cut["body"]
        assert json.loads(cut["body"])["error"]["attempts"][0]["outcome"].startswith("stream_broken")
        assert len(a.seen) == 2


@pytest.mark.parametrize("fault", ["malformed", "no-done", "stream-stall", "stream-cut"])
def test_a_buffered_stream_that_breaks_anywhere_fails_over(fault):
    # Nothing reaches the caller before the end of a buffered answer, so there is no first byte to lose.
    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode = fault
        response = proxy_for([a, b]).handle(event(chat(stream=True)))
        assert response["statusCode"] == 200 and response["headers"]["x-failover-upstream"] == "b"
        assert response["body"].rstrip().endswith("data: [DONE]") and '"content": " b"' in response["body"]
        assert "event: error" not in response["body"]
        assert (len(a.seen), len(b.seen)) == (1, 1)


def test_stream_that_breaks_before_its_first_event_fails_over():
    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode = "reset"
        response = proxy_for([a, b]).handle(event(chat(stream=True)))
        assert response["headers"]["x-failover-upstream"] == "b" and response["body"].rstrip().endswith("[DONE]")


def test_context_length_error_goes_back_unchanged():
    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode = "context-length"
        response = proxy_for([a, b]).handle(event(chat()))
        assert response["statusCode"] == 400
        assert json.loads(response["body"])["error"]["code"] == "context_length_exceeded"
        assert (len(a.seen), len(b.seen)) == (1, 0)


def test_all_regions_down_gives_503_then_ready_reports_it():
    with regions_in_thread("a", "b") as (host, (a, b)):
        host.call(a.stop())
        host.call(b.stop())
        proxy = proxy_for([a, b], breaker={"failure_threshold": 1, "base_ejection": 5.0, "max_ejection": 5.0, "jitter": 0.0})
        first = proxy.handle(event(chat()))
        second = proxy.handle(event(chat()))
        ready = proxy.handle(event(method="GET", path="/ready"))
        assert first["statusCode"] == 503 and first["headers"]["x-should-retry"] == "false"
        assert second["statusCode"] == 503 and second["headers"]["retry-after"] == "5" and second["headers"]["x-failover-attempts"] == "0"
        assert ready["statusCode"] == 503
        assert json.loads(ready["body"])["error"]["code"] == "no_upstream_available"


def test_handler_reads_config_from_the_environment_and_keeps_state_between_invocations(monkeypatch):
    with regions_in_thread("a", "b") as (_, (a, b)):
        a.mode = "http-500"
        monkeypatch.setenv("FAILOVER_CONFIG", json.dumps(config_doc([a, b])))
        monkeypatch.setenv("AWS_REGION", "region-b")
        monkeypatch.setattr(lambda_handler, "_proxy", None)
        responses = [lambda_handler.handler(event(chat()), None) for _ in range(4)]
        assert [r["headers"]["x-failover-attempts"] for r in responses] == ["2", "2", "1", "1"]  # breaker state survived
        assert len(a.seen) == 2
        health = lambda_handler.handler(event(method="GET", path="/health"), None)
        assert health["statusCode"] == 200


def test_handler_refuses_bad_config_without_leaking_it(monkeypatch):
    monkeypatch.setenv("FAILOVER_CONFIG", json.dumps({"topology": "mesh", "upstreams": []}))
    monkeypatch.setattr(lambda_handler, "_proxy", None)
    response = lambda_handler.handler(event(chat()), None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "proxy_misconfigured" and "mesh" not in response["body"]


def test_unknown_route_is_404():
    with regions_in_thread("a") as (_, (a,)):
        assert proxy_for([a]).handle(event(method="GET", path="/v1/models"))["statusCode"] == 404
