import json
from collections import Counter

import pytest

from failover.config import parse_config
from failover.health import State, Unavailable
from failover.config import Upstream
from failover.outcomes import BadAnswer, ConnectError, DeadlineReached, FirstByteTimeout, HttpError, Interrupted, StreamBroken, StreamStarted, Success
from failover.retry_after import parse_retry_after
from failover.surface import missing_model
from failover.router import RequestMeta, Router, Verdict, classify


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_router(topology="active-passive", upstreams=None, clock=None, random=lambda: 0.0, **sections):
    doc = {
        "topology": topology,
        "upstreams": upstreams
        or [
            {"name": "a", "url": "http://a", "priority": 0, "region": "r1"},
            {"name": "b", "url": "http://b", "priority": 1, "region": "r2"},
            {"name": "c", "url": "http://c", "priority": 2, "region": "r3"},
        ],
        "timeouts": {"connect": 1, "first_byte": 5, "total": 20, "min_attempt": 0.5},
        "breaker": {"failure_threshold": 2, "base_ejection": 10, "max_ejection": 35, "jitter": 0.2},
        "rate_limit": {"default_cooldown": 4, "max_cooldown": 30},
    }
    doc.update(sections)
    return Router(parse_config(doc), clock=clock or FakeClock(), random=random, wall_clock=lambda: 1_700_000_000.0)


def serve(router, outcomes, meta=RequestMeta()):
    """Drive one request; `outcomes` maps upstream name -> outcome. Returns (tried, reply)."""
    tried = []
    with router.begin(meta) as plan:
        for attempt in plan:
            tried.append(attempt.upstream.name)
            plan.record(attempt, outcomes.get(attempt.upstream.name, Success()))
        return tried, plan.result()


def fail(router, name, times):
    for _ in range(times):
        serve(router, {name: ConnectError()})


# --- ordering -----------------------------------------------------------------


def test_active_passive_tries_by_priority():
    router = make_router(upstreams=[
        {"name": "second", "url": "http://b", "priority": 1},
        {"name": "first", "url": "http://a", "priority": 0},
    ])
    assert serve(router, {})[0] == ["first"]
    assert serve(router, {"first": HttpError(503)})[0] == ["first", "second"]


def test_active_passive_prefers_callers_region_within_a_priority_tier():
    router = make_router(upstreams=[
        {"name": "x", "url": "http://x", "priority": 0, "region": "us-east-1"},
        {"name": "y", "url": "http://y", "priority": 0, "region": "eu-west-1"},
        {"name": "z", "url": "http://z", "priority": 1, "region": "eu-west-1"},
    ])
    tried, _ = serve(router, {"y": HttpError(500)}, RequestMeta(caller_region="eu-west-1"))
    assert tried == ["y", "x"]


def test_active_active_spreads_by_weight_smoothly():
    router = make_router("active-active", upstreams=[
        {"name": "a", "url": "http://a", "weight": 5},
        {"name": "b", "url": "http://b", "weight": 1},
        {"name": "c", "url": "http://c", "weight": 1},
    ])
    firsts = [serve(router, {})[0][0] for _ in range(70)]
    assert Counter(firsts) == {"a": 50, "b": 10, "c": 10}
    # Smooth: nginx's sequence for 5/1/1 never sends more than 3 in a row to a.
    assert firsts[:7] == ["a", "a", "b", "a", "c", "a", "a"]


def test_active_active_prefers_callers_region_and_falls_back_to_others():
    router = make_router("active-active", upstreams=[
        {"name": "use1", "url": "http://a", "region": "us-east-1", "weight": 10},
        {"name": "euw1", "url": "http://b", "region": "eu-west-1"},
        {"name": "euw1-b", "url": "http://c", "region": "eu-west-1"},
    ])
    meta = RequestMeta(caller_region="eu-west-1")
    firsts = Counter(serve(router, {}, meta)[0][0] for _ in range(10))
    assert firsts == {"euw1": 5, "euw1-b": 5}
    tried, reply = serve(router, {"euw1": ConnectError(), "euw1-b": ConnectError()}, meta)
    assert set(tried) == {"euw1", "euw1-b"} and reply.status == 503  # one retry only
    router2 = make_router("active-active", upstreams=[
        {"name": "use1", "url": "http://a", "region": "us-east-1"},
        {"name": "euw1", "url": "http://b", "region": "eu-west-1"},
    ], max_retries=2)
    tried, reply = serve(router2, {"euw1": HttpError(500)}, meta)
    assert tried == ["euw1", "use1"] and reply.headers["x-failover-upstream"] == "use1"


def test_an_unknown_caller_region_spreads_over_everyone():
    router = make_router("active-active")
    firsts = Counter(serve(router, {}, RequestMeta(caller_region="ap-south-1"))[0][0] for _ in range(30))
    assert firsts == {"a": 10, "b": 10, "c": 10}


# --- error classes ------------------------------------------------------------


FLEET = Upstream("fleet", "http://fleet")
AZURE = Upstream("azure", "http://azure", headers_from_env=(("api-key", "AZURE_KEY"),))
MODEL_NOT_FOUND = json.dumps({"error": {"code": "model_not_found", "message": "The model `x` does not exist"}}).encode()
DEPLOYMENT_NOT_FOUND = json.dumps({"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}).encode()


@pytest.mark.parametrize(
    ("outcome", "upstream", "verdict"),
    [
        (Success(), FLEET, Verdict.DELIVER),
        (StreamStarted(), FLEET, Verdict.DELIVER),
        (HttpError(400), FLEET, Verdict.DELIVER),
        (HttpError(404), FLEET, Verdict.DELIVER),
        (HttpError(413), FLEET, Verdict.DELIVER),
        (HttpError(422), FLEET, Verdict.DELIVER),
        (HttpError(401), FLEET, Verdict.DELIVER),  # the caller's own key
        (HttpError(403), FLEET, Verdict.DELIVER),
        (HttpError(401), AZURE, Verdict.FAILED),  # the key the router injects
        (HttpError(403), AZURE, Verdict.FAILED),
        (HttpError(404, {}, MODEL_NOT_FOUND), FLEET, Verdict.MISSING),
        (HttpError(404, {}, DEPLOYMENT_NOT_FOUND), AZURE, Verdict.MISSING),
        (HttpError(408), FLEET, Verdict.FAILED),
        (HttpError(409), FLEET, Verdict.FAILED),
        (HttpError(429), FLEET, Verdict.THROTTLED),
        (HttpError(503, {"retry-after": "3"}), FLEET, Verdict.THROTTLED),
        (HttpError(503, {"retry-after-ms": "250"}), FLEET, Verdict.THROTTLED),
        (HttpError(503, {"retry-after": "soon"}), FLEET, Verdict.FAILED),
        (HttpError(500), FLEET, Verdict.FAILED),
        (HttpError(503), FLEET, Verdict.FAILED),
        (HttpError(301, {"location": "https://a/v1/chat/completions"}), FLEET, Verdict.FAILED),  # never followed, never relayed
        (HttpError(307, {"location": "http://a/elsewhere"}), AZURE, Verdict.FAILED),
        (HttpError(304), FLEET, Verdict.FAILED),
        (ConnectError(), FLEET, Verdict.FAILED),
        (FirstByteTimeout(), FLEET, Verdict.FAILED),
        (StreamBroken("cut"), FLEET, Verdict.FAILED),
        (BadAnswer("an error object"), FLEET, Verdict.FAILED),
        (DeadlineReached(), FLEET, Verdict.ENDED),
        (Interrupted("shutting down"), FLEET, Verdict.ENDED),
    ],
)
def test_classification(outcome, upstream, verdict):
    assert classify(outcome, upstream) is verdict


@pytest.mark.parametrize("code", ["context_length_exceeded", "content_filter"])
def test_request_errors_go_back_unchanged_after_one_attempt(code):
    router = make_router()
    body = json.dumps({"error": {"code": code}}).encode()
    tried, reply = serve(router, {"a": HttpError(400, {"content-type": "application/json", "x-request-id": "r1", "content-length": "9"}, body)})
    assert tried == ["a"]
    assert reply.status == 400 and reply.body == body
    assert reply.headers["x-request-id"] == "r1" and "content-length" not in reply.headers
    assert reply.headers["x-failover-upstream"] == "a" and reply.headers["x-failover-attempts"] == "1"
    assert router.health("a").state(router._clock()) is State.CLOSED


def test_5xx_and_connection_errors_retry_once_on_another_upstream():
    router = make_router()
    tried, reply = serve(router, {"a": HttpError(500), "b": ConnectError()})
    assert tried == ["a", "b"]
    assert reply.status == 503
    assert json.loads(reply.body)["error"]["attempts"] == [
        {"upstream": "a", "outcome": "http_500"},
        {"upstream": "b", "outcome": "connect_error"},
    ]


def test_when_every_attempt_failed_the_answer_is_the_failsafe_one_and_says_not_to_retry():
    clock = FakeClock()
    router = make_router(clock=clock, upstreams=[{"name": "a", "url": "http://a"}, {"name": "b", "url": "http://b"}])
    # The last upstream answered 503 without Retry-After: it is not relayed as if it were the whole story.
    tried, reply = serve(router, {"a": HttpError(429, {"retry-after": "7"}), "b": HttpError(503, {"content-type": "text/plain"}, b"busy")})
    assert tried == ["a", "b"] and reply.status == 503
    assert reply.headers["x-should-retry"] == "false"  # the router already tried every upstream
    assert reply.headers["retry-after"] == "1"  # b failed once and is still usable: soonest recovery is now
    error = json.loads(reply.body)["error"]
    assert error["code"] == "no_upstream_available"
    assert [u["reason"] for u in error["upstreams"]] == ["rate_limited", "available"]
    assert [a["outcome"] for a in error["attempts"]] == ["http_429", "http_503"]


def test_the_same_503_and_retry_after_whatever_the_timing_of_the_throttling():
    clock = FakeClock()
    router = make_router(clock=clock)
    throttled = {n: HttpError(429, {"retry-after": seconds}) for n, seconds in zip("abc", ["9", "3", "6"])}
    tried, during = serve(router, throttled)  # found out during this request
    assert tried == ["a", "b", "c"]
    clock.advance(1.0)
    tried, after = serve(router, {})  # already known: nothing is tried
    assert tried == []
    assert during.status == after.status == 503
    assert (during.headers["retry-after"], during.headers["retry-after-ms"]) == ("3", "3000")  # b comes back first
    assert (after.headers["retry-after"], after.headers["retry-after-ms"]) == ("2", "2000")
    assert json.loads(during.body)["error"]["code"] == json.loads(after.body)["error"]["code"] == "no_upstream_available"
    assert during.headers["x-should-retry"] == "false" and "x-should-retry" not in after.headers  # nothing was tried for it


def test_first_byte_timeout_moves_on_and_never_retries_the_same_upstream():
    router = make_router(max_retries=5)
    tried, reply = serve(router, {"a": FirstByteTimeout(), "b": FirstByteTimeout(), "c": FirstByteTimeout()})
    assert tried == ["a", "b", "c"] and reply.status == 503
    assert [a["outcome"] for a in json.loads(reply.body)["error"]["attempts"]] == ["first_byte_timeout"] * 3


def test_429_fails_over_at_once_without_spending_the_retry_and_holds_the_upstream():
    clock = FakeClock()
    router = make_router(clock=clock, max_retries=0)
    tried, reply = serve(router, {"a": HttpError(429, {"retry-after": "7"})})
    assert tried == ["a", "b"] and reply.status == 200
    assert router.health("a").unavailable(clock()) is Unavailable.RATE_LIMITED
    clock.advance(6.9)
    assert serve(router, {})[0] == ["b"]
    clock.advance(0.2)
    assert serve(router, {})[0] == ["a"]


def test_429_without_retry_after_uses_the_default_cooldown():
    clock = FakeClock()
    router = make_router(clock=clock)
    throttled = {n: HttpError(429, {"content-type": "application/json"}, b'{"error":{}}') for n in "abc"}
    throttled["a"] = HttpError(429)
    tried, reply = serve(router, throttled)
    # Every attempt failed: the answer is the router's, so it names no upstream as if one had served it.
    assert tried == ["a", "b", "c"] and reply.status == 503 and "x-failover-upstream" not in reply.headers
    assert reply.headers["x-failover-attempts"] == "3" and [a["upstream"] for a in json.loads(reply.body)["error"]["attempts"]] == ["a", "b", "c"]
    clock.advance(3.9)
    assert router.health("a").unavailable(clock()) is Unavailable.RATE_LIMITED
    clock.advance(0.2)
    assert router.health("a").unavailable(clock()) is None


def test_503_with_retry_after_holds_like_a_429_and_without_it_counts_as_a_failure():
    clock = FakeClock()
    router = make_router(clock=clock)
    for _ in range(3):
        tried, reply = serve(router, {"a": HttpError(503, {"retry-after": "2"})})
        assert tried[0] == "a" and reply.headers["x-failover-upstream"] == "b"
        assert router.health("a").unavailable(clock()) is Unavailable.RATE_LIMITED
        clock.advance(2.01)
    assert router.health("a").state(clock()) is State.CLOSED  # holds are not failures
    fail = {"a": HttpError(503)}
    serve(router, fail)
    serve(router, fail)
    assert router.health("a").state(clock()) is State.OPEN


def test_retry_after_is_capped():
    clock = FakeClock()
    router = make_router(clock=clock)
    serve(router, {"a": HttpError(429, {"retry-after": "86400"})})
    clock.advance(30.1)
    assert router.health("a").unavailable(clock()) is None


def test_429_does_not_count_toward_the_breaker():
    clock = FakeClock()
    router = make_router(clock=clock)
    for _ in range(5):
        serve(router, {"a": HttpError(429, {"retry-after-ms": "1"})})
        clock.advance(0.01)
    assert router.health("a").state(clock()) is State.CLOSED


# --- Retry-After parsing ----------------------------------------------------------

WALL = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": " 0 "}, 0.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),
        ({"retry-after": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5", "retry-after": "9"}, 0.2505),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "²"}, None),  # str.isdigit() says yes, float() raises
        ({"retry-after": "١٢"}, None),  # digits, but not ASCII ones
        ({"retry-after-ms": "²", "retry-after": "3"}, 3.0),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "1.5"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "Tue, 14 Nov 2023 22:13:50"}, 30.0),
        # Dates whose numbers overflow what a date can hold: unreadable, not an error.
        ({"retry-after": "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"}, None),
        ({"retry-after": "Mon, 01 Jan 2026 00:00:00 +99999999999999999999"}, None),
        ({"retry-after": "Mon, 01 Jan 2026 99999999999:00:00 GMT"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, seconds):
    assert parse_retry_after(headers, WALL) == (pytest.approx(seconds) if seconds is not None else None)


# --- breaker ----------------------------------------------------------------------


def test_breaker_opens_after_threshold_and_failover_traffic_skips_it():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 1)
    assert router.health("a").state(clock()) is State.CLOSED
    fail(router, "a", 1)
    assert router.health("a").state(clock()) is State.OPEN
    assert serve(router, {})[0] == ["b"]


def test_success_resets_the_consecutive_failure_count():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 1)
    serve(router, {})
    fail(router, "a", 1)
    assert router.health("a").state(clock()) is State.CLOSED


def test_half_open_lends_exactly_one_probe_then_closes_and_traffic_fails_back():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)
    assert router.health("a").state(clock()) is State.HALF_OPEN
    probe_plan = router.begin()
    probe = next(probe_plan)
    assert probe.upstream.name == "a"
    # While the probe is out, concurrent requests go elsewhere.
    for _ in range(3):
        assert serve(router, {})[0] == ["b"]
    assert router.health("a").unavailable(clock()) is Unavailable.PROBE_IN_FLIGHT
    probe_plan.record(probe, Success())
    assert probe_plan.result().status == 200
    assert router.health("a").state(clock()) is State.CLOSED
    assert serve(router, {})[0] == ["a"]


def test_active_active_sends_the_half_open_probe_first_so_a_region_rejoins_promptly():
    clock = FakeClock()
    router = make_router("active-active", clock=clock)
    for _ in range(6):
        serve(router, {"b": ConnectError()})
    assert router.health("b").state(clock()) is State.OPEN
    firsts = [serve(router, {})[0][0] for _ in range(4)]
    assert "b" not in firsts
    clock.advance(10.0)
    assert serve(router, {})[0] == ["b"]
    assert router.health("b").state(clock()) is State.CLOSED
    assert Counter(serve(router, {})[0][0] for _ in range(30)) == {"a": 10, "b": 10, "c": 10}


def test_failed_probe_reopens_for_longer_and_growth_is_capped():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)  # ejection 1: 10 s
    expected = [20.0, 30.0, 35.0, 35.0]  # base * ejections, capped at 35
    clock.advance(10.0)
    for duration in expected:
        tried, _ = serve(router, {"a": ConnectError()})
        assert tried[0] == "a"
        assert router.health("a").state(clock()) is State.OPEN
        clock.advance(duration - 0.01)
        assert router.health("a").state(clock()) is State.OPEN
        clock.advance(0.01)
        assert router.health("a").state(clock()) is State.HALF_OPEN


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_shortens_ejection_within_bounds(draw):
    clock = FakeClock()
    router = make_router(clock=clock, random=lambda: draw)
    fail(router, "a", 2)
    reopen = router.health("a").recovers_at(clock()) - clock()
    assert 10 * (1 - 0.2) <= reopen <= 10
    assert reopen == pytest.approx(10 * (1 - 0.2 * draw))


def test_ejections_are_forgiven_after_a_long_healthy_spell():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)
    serve(router, {})  # probe succeeds
    clock.advance(36.0)
    fail(router, "a", 2)
    assert router.health("a").recovers_at(clock()) - clock() == pytest.approx(10.0)


def test_abandoned_probe_is_released_when_the_plan_closes():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)
    with router.begin() as plan:
        assert next(plan).upstream.name == "a"
    assert router.health("a").unavailable(clock()) is None


def test_a_probe_whose_outcome_could_not_be_judged_is_released_when_the_plan_closes(monkeypatch):
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)

    def unjudgeable(outcome, upstream):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("failover.router.classify", unjudgeable)
    with pytest.raises(RecursionError), router.begin() as plan:
        plan.record(next(plan), Success())
    assert router.health("a").unavailable(clock()) is None  # not held until timeouts.total


def test_a_shutdown_answers_503_names_the_stopped_attempt_and_blames_nobody():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)  # a is half-open: the stopped attempt is its probe
    with router.begin() as plan:
        next(plan)
        reply = plan.shutting_down("the proxy is shutting down")
    error = json.loads(reply.body)["error"]
    assert reply.status == 503 and reply.headers["connection"] == "close" and reply.headers["x-failover-attempts"] == "1"
    assert error["code"] == "proxy_shutting_down" and error["attempts"] == [{"upstream": "a", "outcome": "interrupted: the proxy is shutting down"}]
    assert router.health("a").unavailable(clock()) is None  # the probe is given back, the breaker did not move


def test_stream_broken_after_delivery_counts_toward_the_breaker_but_keeps_the_reply():
    clock = FakeClock()
    router = make_router(clock=clock)
    for _ in range(2):
        with router.begin() as plan:
            attempt = next(plan)
            plan.record(attempt, StreamStarted())
            plan.record(attempt, StreamBroken("cut"))
            assert plan.result().status == 200 and plan.result().body is None
            assert list(plan) == []
    assert router.health("a").state(clock()) is State.OPEN


def test_streamed_probe_is_judged_when_the_stream_ends():
    clock = FakeClock()
    router = make_router(clock=clock)
    fail(router, "a", 2)
    clock.advance(10.0)
    with router.begin() as plan:
        attempt = next(plan)
        plan.record(attempt, StreamStarted())
        assert router.health("a").unavailable(clock()) is Unavailable.PROBE_IN_FLIGHT
        plan.record(attempt, Success())
    assert router.health("a").state(clock()) is State.CLOSED


# --- deadline -----------------------------------------------------------------------


def test_attempts_get_the_remaining_budget_and_none_starts_without_enough_left():
    clock = FakeClock()
    router = make_router(clock=clock, max_retries=5)
    with router.begin() as plan:
        first = next(plan)
        assert first.first_byte_timeout == 5 and first.budget == 20
        clock.advance(17.0)
        plan.record(first, FirstByteTimeout())
        second = next(plan)
        assert second.first_byte_timeout == pytest.approx(3.0) and second.budget == pytest.approx(3.0)
        clock.advance(2.6)
        plan.record(second, ConnectError())
        assert list(plan) == []  # 0.4 s left < min_attempt 0.5
        reply = plan.result()
    assert reply.status == 504
    assert router.health("c").state(clock()) is State.CLOSED


# --- failsafe -------------------------------------------------------------------------


def test_every_upstream_out_gives_an_immediate_503_naming_each_and_why():
    clock = FakeClock()
    router = make_router(clock=clock, random=lambda: 0.5)
    fail(router, "a", 2)  # open 9 s
    serve(router, {"a": ConnectError(), "b": HttpError(429, {"retry-after": "3"}), "c": ConnectError()})
    fail(router, "c", 1)  # c open 9 s
    clock.advance(1.2)
    tried, reply = serve(router, {})
    assert tried == []
    assert reply.status == 503
    assert reply.headers["retry-after"] == "2"  # b comes back in 1.8 s, rounded up
    assert reply.headers["x-failover-attempts"] == "0" and "x-failover-upstream" not in reply.headers
    upstreams = json.loads(reply.body)["error"]["upstreams"]
    assert [(u["name"], u["reason"]) for u in upstreams] == [("a", "circuit_open"), ("b", "rate_limited"), ("c", "circuit_open")]
    assert not router.is_ready()
    assert router.unavailable_reply().body == reply.body


def test_failsafe_retry_after_is_at_least_one_second():
    clock = FakeClock()
    router = make_router(clock=clock, upstreams=[{"name": "a", "url": "http://a"}])
    serve(router, {"a": HttpError(429, {"retry-after-ms": "100"})})
    assert serve(router, {})[1].headers["retry-after"] == "1"


def test_fallback_response_is_served_in_degraded_mode():
    clock = FakeClock()
    router = make_router(clock=clock, upstreams=[{"name": "a", "url": "http://a"}], fallback={"status": 200, "body": {"degraded": True}})
    fail(router, "a", 2)
    tried, reply = serve(router, {})
    assert tried == []
    assert reply.status == 200 and json.loads(reply.body) == {"degraded": True}
    assert reply.headers["x-failover-fallback"] == "true"
    assert router.unavailable_reply().status == 503  # readiness still tells the truth


# --- whose fault -----------------------------------------------------------------------


def test_an_upstreams_own_faults_fail_over_and_count_against_it():
    upstreams = [
        {"name": "a", "url": "http://a", "priority": 0, "headers_from_env": {"api-key": "A_KEY"}},
        {"name": "b", "url": "http://b", "priority": 1},
    ]
    for fault in (HttpError(408), HttpError(409), HttpError(401), HttpError(403), BadAnswer("an error object"), BadAnswer("no choices")):
        clock = FakeClock()
        router = make_router(clock=clock, upstreams=upstreams)
        for _ in range(2):
            tried, reply = serve(router, {"a": fault})
            assert tried == ["a", "b"] and reply.status == 200 and reply.headers["x-failover-upstream"] == "b", fault
        assert router.health("a").state(clock()) is State.OPEN, fault


def test_a_callers_own_key_refused_goes_back_unchanged():
    router = make_router()
    refused = HttpError(401, {"content-type": "application/json"}, b'{"error": {"code": "invalid_api_key"}}')
    tried, reply = serve(router, {"a": refused})
    assert tried == ["a"] and reply.status == 401 and reply.body == refused.body


@pytest.mark.parametrize(("code", "missing"), [("model_not_found", True), ("DeploymentNotFound", True), (["model_not_found"], False), ({"a": 1}, False), (None, False), (404, False)])
def test_a_404_says_a_model_is_missing_only_with_a_known_code(code, missing):
    assert missing_model(json.dumps({"error": {"message": "Not found", "code": code}}).encode()) is missing


def test_a_missing_model_fails_over_and_counts_only_where_another_upstream_serves_it():
    clock = FakeClock()
    router = make_router(clock=clock)
    missing = HttpError(404, {"content-type": "application/json"}, MODEL_NOT_FOUND)
    for _ in range(2):
        tried, reply = serve(router, {"a": missing})
        assert tried == ["a", "b"] and reply.status == 200
    assert router.health("a").state(clock()) is State.OPEN  # b serves the model: a lacks it
    # A missing model spends no retry (max_retries is 1): only the third upstream serves it, and it is reached.
    router = make_router(clock=clock)
    tried, reply = serve(router, {"a": missing, "b": missing})
    assert tried == ["a", "b", "c"] and reply.status == 200 and reply.headers["x-failover-upstream"] == "c"
    # ...and the retry a real failure may have is still there after them.
    tried, reply = serve(make_router(clock=clock), {"a": missing, "b": HttpError(500)})
    assert tried == ["a", "b", "c"] and reply.status == 200
    # A model nobody serves is the caller's mistake: every upstream is asked, the 404 goes back as is, and no breaker moves.
    router = make_router(clock=clock)
    for _ in range(3):
        tried, reply = serve(router, {name: missing for name in "abc"})
        assert tried == ["a", "b", "c"] and reply.status == 404 and reply.body == MODEL_NOT_FOUND
    assert all(router.health(name).state(clock()) is State.CLOSED for name in "abc")


def test_the_routers_own_deadline_on_a_flowing_stream_moves_no_breaker():
    clock = FakeClock()
    router = make_router(clock=clock, breaker={"failure_threshold": 2, "base_ejection": 10, "max_ejection": 35, "jitter": 0.0})

    def stream_that_ends(end):
        with router.begin() as plan:
            attempt = next(plan)
            plan.record(attempt, StreamStarted())
            plan.record(attempt, end)
            return attempt.upstream.name

    for end in (DeadlineReached(), Interrupted("the proxy is shutting down"), DeadlineReached()):
        assert stream_that_ends(end) == "a"
    assert router.health("a").state(clock()) is State.CLOSED
    for _ in range(2):
        stream_that_ends(StreamBroken("stalled: no event for 15 s"))
    assert router.health("a").state(clock()) is State.OPEN


def test_an_attempt_the_deadline_ended_stops_the_plan_without_blame():
    clock = FakeClock()
    router = make_router(clock=clock, max_retries=5)
    tried, reply = serve(router, {"a": DeadlineReached()})
    assert tried == ["a"] and reply.status == 504 and reply.headers["x-should-retry"] == "false"
    assert reply.headers["x-failover-attempts"] == "1" and "x-failover-upstream" not in reply.headers
    assert router.health("a").state(clock()) is State.CLOSED


def test_each_failed_attempt_and_breaker_transition_is_one_structured_log_line(caplog):
    clock = FakeClock()
    router = make_router(clock=clock)
    with caplog.at_level("INFO", logger="failover"):
        serve(router, {"a": HttpError(503)})
        serve(router, {"a": ConnectError()})
        clock.advance(10.0)
        serve(router, {})  # the probe succeeds
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "event=attempt_failed upstream=a attempt=1 outcome=http_503 verdict=failed",
        "event=attempt_failed upstream=a attempt=1 outcome=connect_error verdict=failed",
        "event=breaker_open upstream=a ejection_seconds=10.000 ejections=1 after_failures=2",
        "event=breaker_half_open upstream=a probe=sent",
        "event=breaker_closed upstream=a",
    ]


def test_log_values_are_quoted_only_when_they_would_break_the_line():
    from failover.logfmt import logfmt

    line = logfmt(event="attempt_failed", upstream="eu west", outcome="stream_broken: error event (code: x=1)", attempt=2, seconds=1.5, region=None, quote='say "hi"')
    assert line == 'event=attempt_failed upstream="eu west" outcome="stream_broken: error event (code: x=1)" attempt=2 seconds=1.500 region=- quote="say \\"hi\\""'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a\n2026-01-01 00:00:00,000 failover.breaker INFO event=breaker_closed upstream=u1", '"a\\n2026-01-01 00:00:00,000 failover.breaker INFO event=breaker_closed upstream=u1"'),
        ("cr\rlf", '"cr\\rlf"'),
        ("next\u2028line\x85too", '"next\\u2028line\\x85too"'),
        ("\x1b[31mred", '"\\x1b[31mred"'),  # a terminal escape sequence
        ("caf\u00e9", "caf\u00e9"),  # printable: as it is
        ("back\\slash", '"back\\\\slash"'),
    ],
)
def test_a_log_value_can_never_end_the_line_or_start_another(value, written):
    from failover.logfmt import logfmt

    line = logfmt(outcome=value)
    assert line == f"outcome={written}" and line.isprintable()
