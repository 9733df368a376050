"""The router core: attempt order, who is at fault, deadline, failsafe, and the answer when nothing worked. No I/O.

Adapters drive one request like this::

    with router.begin(RequestMeta(caller_region="eu-west-1")) as plan:
        for attempt in plan:
            outcome = transport.send(attempt, ...)
            plan.record(attempt, outcome)
        reply = plan.result()

This is the only retry loop: transports never retry on their own, and the answers it gives when
it has tried what it could tell clients not to add retries of their own (`x-should-retry: false`).
"""

from __future__ import annotations

import enum
import json
import logging
import math
import random as random_module
import time
from dataclasses import dataclass
from typing import Iterator

from .config import Config, Upstream
from .health import Clock, Random, State, UpstreamHealth
from .logfmt import logfmt
from .outcomes import DeadlineReached, HttpError, Interrupted, Outcome, OverLimit, ProxyOverloaded, StreamBroken, StreamFailed, StreamStarted, Success, describe
from .retry_after import parse_retry_after
from .surface import SHOULD_RETRY_HEADER, missing_model, relayable_headers

# The upstream whose answer the caller gets (`fallback`: the configured fallback's), on those answers only: an
# answer the router gives itself (every attempt failed, the deadline passed, nothing could be tried) names none,
# its body's `attempts` says who was tried and how each failed.
UPSTREAM_HEADER = "x-failover-upstream"
ATTEMPTS_HEADER = "x-failover-attempts"  # upstream attempts this request made: on every answer
# On answers no upstream took part in (health, readiness, failsafe, unknown routes).
NO_UPSTREAM_HEADERS = {ATTEMPTS_HEADER: "0"}
FALLBACK_HEADER = "x-failover-fallback"
# The router has tried what it could: a client retry would only multiply attempts.
DO_NOT_RETRY = {SHOULD_RETRY_HEADER: "false"}

log = logging.getLogger("failover.router")


class Verdict(enum.Enum):
    """What an attempt's outcome means for the request: deliver it, fail over, or stop (see classify)."""

    DELIVER = "deliver"  # success, or the caller's own mistake: hand it back as is
    THROTTLED = "throttled"  # 429, or 503 with Retry-After: fail over at once, hold the upstream
    FAILED = "failed"  # the upstream's fault: fail over, counts toward its breaker
    MISSING = "missing"  # 404 for a model this upstream lacks: fail over without spending a retry; counts only if another serves it
    ENDED = "ended"  # the router's deadline or the gateway ended it: nobody's fault, no further attempt


def classify(outcome: Outcome, upstream: Upstream) -> Verdict:
    """Who is at fault for `outcome` of an attempt on `upstream`, and so what happens next."""
    if isinstance(outcome, (Success, StreamStarted)):
        return Verdict.DELIVER
    if isinstance(outcome, (DeadlineReached, Interrupted, ProxyOverloaded, OverLimit)):
        return Verdict.ENDED
    if isinstance(outcome, HttpError):
        return _classify_status(outcome, upstream)
    return Verdict.FAILED


def _classify_status(error: HttpError, upstream: Upstream) -> Verdict:
    status = error.status
    if status < 400:
        # A redirect (Front Door answering plain HTTP, a maintenance page): the router follows none,
        # because following would send the caller's credentials wherever it points, and relaying
        # it would send the caller around the router. The upstream cannot answer from where it is.
        return Verdict.FAILED
    if status == 429:
        return Verdict.THROTTLED
    if status == 503 and parse_retry_after(error.headers, 0.0) is not None:
        # RFC 9110 15.6.4: a 503 may say how long the overload lasts; it is a throttle like 429.
        return Verdict.THROTTLED
    if status >= 500 or status in (408, 409):
        # 408 request timeout and 409 lock timeout are the server's state, not the request's
        # (openai-python retries both, `_should_retry`).
        return Verdict.FAILED
    if status in (401, 403) and upstream.headers_from_env:
        # The credential is the one the router injects for this upstream: its key is wrong, not the caller's.
        return Verdict.FAILED
    if status == 404 and missing_model(error.body):
        return Verdict.MISSING
    # 400 (context length, content filter, malformed JSON), 413, 422, 401/403 on the caller's own
    # key...: the request itself is wrong, so every other upstream would refuse it too.
    return Verdict.DELIVER


@dataclass(frozen=True)
class RequestMeta:
    """What the router knows of a request's caller: its region, preferred in active-active (None: no preference)."""

    caller_region: str | None = None


@dataclass(frozen=True)
class Attempt:
    """One try of one upstream: its number in the request (from 1) and its time limits, in seconds."""

    upstream: Upstream
    number: int
    first_byte_timeout: float
    # Seconds left in the overall deadline when the attempt starts; the
    # transport must finish (or give up) within it, stream included.
    budget: float


@dataclass(frozen=True)
class Reply:
    """What the adapter sends back. `body is None` means: the successful upstream
    response the adapter holds, with these headers added."""

    status: int
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True)
class _Tried:
    upstream: str
    outcome: str


class Router:
    """Per-upstream health and attempt order for every request of one process.

    `clock` is monotonic seconds (ejections, holds, deadlines); `wall_clock` is Unix time, for
    `Retry-After` dates; `random` returns [0, 1) for ejection jitter.
    """

    def __init__(self, config: Config, clock: Clock = time.monotonic, random: Random = random_module.random, wall_clock: Clock = time.time) -> None:
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._health = {u.name: UpstreamHealth(u.name, config.breaker, random, probe_timeout=config.timeouts.total) for u in config.upstreams}
        self._current_weight = {u.name: 0 for u in config.upstreams}
        self._index = {u.name: i for i, u in enumerate(config.upstreams)}

    def health(self, name: str) -> UpstreamHealth:
        """The breaker and rate-limit state of the upstream called `name` (KeyError for another name)."""
        return self._health[name]

    def begin(self, meta: RequestMeta = RequestMeta()) -> Plan:
        """A Plan for one request: the usable upstreams in the order to try them now.

        active-passive: by priority, the caller's region first within one; active-active: half-open upstreams
        first (their probe), then one weighted pick preferring the caller's region, then the rest as fallbacks.
        The request's deadline (timeouts.total) starts now.
        """
        now = self._clock()
        return Plan(self, self._order(meta, now), now)

    def is_ready(self) -> bool:
        """Whether at least one upstream may take a request now (what GET /ready reports)."""
        now = self._clock()
        return any(self._health[u.name].unavailable(now) is None for u in self.config.upstreams)

    def unavailable_reply(self) -> Reply:
        """503 naming every upstream and why it is out; `Retry-After` is the soonest recovery.

        `retry-after` is whole seconds, rounded up, at least 1; `retry-after-ms` is exact (OpenAI's
        SDKs prefer it). Clients may retry after that time: nothing was tried for this request.
        """
        return self._no_upstream_reply({})

    def _no_upstream_reply(self, extra: dict[str, object], headers: dict[str, str] | None = None) -> Reply:
        now = self._clock()
        upstreams = []
        recoveries = []
        for upstream in self.config.upstreams:
            health = self._health[upstream.name]
            reason = health.unavailable(now)
            recoveries.append(health.recovers_at(now))
            upstreams.append(
                {
                    "name": upstream.name,
                    "region": upstream.region,
                    "reason": reason.value if reason else "available",
                    "retry_after_seconds": round(recoveries[-1] - now, 3),
                }
            )
        soonest = min(recoveries) - now
        body = {
            "error": {
                "message": "No upstream could serve the request; retry after the time given in Retry-After.",
                "type": "service_unavailable",
                "code": "no_upstream_available",
                "upstreams": upstreams,
                **extra,
            }
        }
        reply_headers = {"content-type": "application/json", "retry-after": str(max(1, math.ceil(soonest)))}
        if soonest > 0:
            reply_headers["retry-after-ms"] = str(math.ceil(soonest * 1000))
        reply_headers.update(headers or NO_UPSTREAM_HEADERS)
        return Reply(503, reply_headers, json.dumps(body).encode())

    def _order(self, meta: RequestMeta, now: float) -> list[Upstream]:
        usable = [u for u in self.config.upstreams if self._health[u.name].unavailable(now) is None]

        def remote(upstream: Upstream) -> bool:
            return not (meta.caller_region and upstream.region == meta.caller_region)

        if self.config.topology == "active-passive":
            return sorted(usable, key=lambda u: (u.priority, remote(u), self._index[u.name]))

        def fallback_rank(upstream: Upstream) -> tuple[bool, int, int, int]:
            return (remote(upstream), upstream.priority, -upstream.weight, self._index[upstream.name])

        # Active-active: a recovered upstream is probed first so it rejoins
        # promptly; then one pick by smooth weighted round robin, preferring
        # the caller's region; the rest stay as fallbacks.
        probing = [u for u in usable if self._health[u.name].state(now) is State.HALF_OPEN]
        closed = [u for u in usable if u not in probing]
        order = sorted(probing, key=fallback_rank)
        if closed:
            first = self._weighted_pick([u for u in closed if not remote(u)] or closed)
            order.append(first)
            order.extend(sorted((u for u in closed if u is not first), key=fallback_rank))
        return order

    def _weighted_pick(self, group: list[Upstream]) -> Upstream:
        # nginx's smooth weighted round robin: even spread, no bursts.
        total = 0
        best: Upstream | None = None
        for upstream in group:
            self._current_weight[upstream.name] += upstream.weight
            total += upstream.weight
            if best is None or self._current_weight[upstream.name] > self._current_weight[best.name]:
                best = upstream
        assert best is not None
        self._current_weight[best.name] -= total
        return best

    def _hold_seconds(self, error: HttpError) -> float:
        limit = self.config.rate_limit
        asked = parse_retry_after(error.headers, self._wall_clock())
        return min(limit.default_cooldown if asked is None else asked, limit.max_cooldown)


class Plan:
    """One request's attempts. Iterate for the next attempt; record each outcome; then `result()`."""

    def __init__(self, router: Router, queue: list[Upstream], started: float) -> None:
        self._router = router
        self._queue = queue
        self._started = started
        self._log: list[_Tried] = []
        self._verdicts: list[Verdict] = []
        self._failures = 0
        self._delivered: tuple[Attempt, Outcome] | None = None
        self._last_failure: tuple[Attempt, Outcome] | None = None
        self._missing: list[Attempt] = []  # 404 model-missing, judged when the plan learns if another serves it
        self._pending: Attempt | None = None  # handed out, verdict not yet recorded
        self._deadline_hit = False
        self._ended = False
        self._overloaded = False  # the gateway ran out of its own resources (ProxyOverloaded)
        self._over_limit: OverLimit | None = None  # the answer exceeded one of the gateway's own limits

    def __iter__(self) -> Iterator[Attempt]:
        return self

    def __next__(self) -> Attempt:
        router = self._router
        if self._delivered is not None or self._ended or self._failures > router.config.max_retries:
            raise StopIteration
        while self._queue:
            now = router._clock()
            remaining = self._started + router.config.timeouts.total - now
            if remaining < router.config.timeouts.min_attempt:
                self._deadline_hit = True
                raise StopIteration
            upstream = self._queue.pop(0)
            if not router._health[upstream.name].try_acquire(now):
                continue  # taken out (or its probe taken) by a concurrent request since planning
            self._pending = Attempt(upstream, len(self._log) + 1, min(router.config.timeouts.first_byte, remaining), remaining)
            return self._pending
        raise StopIteration

    def record(self, attempt: Attempt, outcome: Outcome) -> None:
        """Take the outcome of `attempt` (or, for a committed stream, how it ended) and decide what it means."""
        router = self._router
        now = router._clock()
        health = router._health[attempt.upstream.name]
        if self._delivered is not None and self._delivered[0] is attempt:
            self._pending = None
            self._record_stream_end(attempt, outcome, health, now)
            return
        verdict = classify(outcome, attempt.upstream)
        # Only once it is classified: if classifying raised, `close()` must still give back a claimed probe.
        self._pending = None
        self._log.append(_Tried(attempt.upstream.name, describe(outcome)))
        self._verdicts.append(verdict)
        if verdict is Verdict.DELIVER:
            self._delivered = (attempt, outcome)
            if isinstance(outcome, StreamStarted):
                self._pending = attempt  # verdict comes when the stream ends
            else:
                # A caller's mistake answered sanely counts as a response, as in Envoy's
                # consecutive-5xx outlier detection: only the upstream's faults add up.
                health.record_success(now)
            if isinstance(outcome, (Success, StreamStarted)):
                for missing in self._missing:  # another upstream serves the model they lack
                    router._health[missing.upstream.name].record_failure(now)
            return
        self._last_failure = (attempt, outcome)
        log.warning(
            logfmt(
                event="attempt_failed",
                upstream=attempt.upstream.name,
                attempt=attempt.number,
                outcome=describe(outcome),
                verdict=verdict.value,
            )
        )
        if verdict is Verdict.THROTTLED:
            assert isinstance(outcome, HttpError)
            health.record_throttle(now, router._hold_seconds(outcome))
        elif verdict is Verdict.FAILED:
            health.record_failure(now)
            self._failures += 1
        elif verdict is Verdict.MISSING:
            # Like a throttle, it spends no retry: every usable upstream is asked before the
            # caller hears that nobody serves the model.
            health.release(now)
            self._missing.append(attempt)
        else:
            health.release(now)
            self._ended = True
            self._overloaded = isinstance(outcome, ProxyOverloaded)
            self._over_limit = outcome if isinstance(outcome, OverLimit) else None

    def _record_stream_end(self, attempt: Attempt, outcome: Outcome, health: UpstreamHealth, now: float) -> None:
        # The end of a stream already committed to the caller: too late to fail over, but the
        # breaker (and a half-open probe) hears of it, unless the router or the gateway ended it.
        if isinstance(outcome, (StreamBroken, StreamFailed)):
            health.record_failure(now)
            log.warning(logfmt(event="stream_broken", upstream=attempt.upstream.name, attempt=attempt.number, outcome=describe(outcome)))
        elif isinstance(outcome, Success):
            health.record_success(now)
        else:
            health.release(now)
            log.info(logfmt(event="stream_ended", upstream=attempt.upstream.name, attempt=attempt.number, outcome=describe(outcome)))

    def result(self) -> Reply:
        """The answer: the delivered one, or the failsafe, fallback, or exhausted answer (see the module docs)."""
        router = self._router
        if self._delivered is not None:
            attempt, outcome = self._delivered
            if isinstance(outcome, HttpError):
                return self._relay(attempt, outcome)
            return Reply(outcome.status, self._served_by(attempt.upstream.name), None)
        if not self._log:
            if self._deadline_hit:
                return self._synthetic(504, "deadline_exceeded", "The request deadline passed before an upstream could be tried.")
            fallback = router.config.fallback
            if fallback is None:
                return router.unavailable_reply()
            headers = {"content-type": fallback.content_type, FALLBACK_HEADER: "true", UPSTREAM_HEADER: "fallback", ATTEMPTS_HEADER: "0"}
            return Reply(fallback.status, headers, fallback.body.encode())
        assert self._last_failure is not None
        attempt, outcome = self._last_failure
        if all(verdict is Verdict.MISSING for verdict in self._verdicts):
            # No upstream tried has the model: the caller asked for one that is not served here.
            assert isinstance(outcome, HttpError)
            return self._relay(attempt, outcome)
        if self._overloaded:
            message = "The proxy has no capacity left for another upstream connection; retry shortly."
            return self._synthetic(503, "proxy_overloaded", message, {"retry-after": "1"}, "service_unavailable")
        if self._over_limit is not None:
            message = f"The upstream's answer is larger than this proxy accepts: {self._over_limit.detail}."
            return self._synthetic(502, "response_too_large", message, DO_NOT_RETRY, "server_error")
        if (self._ended or self._deadline_hit) and router.is_ready():
            return self._synthetic(504, "upstream_timeout", "The request deadline passed before an upstream answered.", DO_NOT_RETRY)
        # Every attempt failed: one answer whatever the timing, the same as when none could be
        # tried (503, Retry-After = soonest recovery), with this request's attempts, and no client
        # retry on top of the router's own.
        return router._no_upstream_reply({"attempts": self._attempts()}, {**self._tried(), **DO_NOT_RETRY})

    def proxy_error(self) -> Reply:
        """500 `proxy_error`: the adapter failed while handling the request (a fault of the proxy's own, logged
        there), with this request's attempts. Clients may retry it: no upstream is blamed."""
        return self._synthetic(500, "proxy_error", "The proxy failed while handling the request; its log has the details.", error_type="server_error")

    def shutting_down(self, reason: str) -> Reply:
        """503 `proxy_shutting_down` with `connection: close`: the gateway is stopping before this request was
        answered, and stopped the attempt in flight (recorded as `Interrupted(reason)`: nobody's fault).
        Clients may retry it, elsewhere: this process takes no further request."""
        if self._pending is not None and self._delivered is None:
            self.record(self._pending, Interrupted(reason))
        message = "The proxy is shutting down and stopped the request before it was answered; retry it."
        return self._synthetic(503, "proxy_shutting_down", message, {"connection": "close"}, "service_unavailable")

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the plan. An attempt left unrecorded (caller went away, adapter
        error) must not keep a half-open probe claimed."""
        if self._pending is not None:
            self._router._health[self._pending.upstream.name].release(self._router._clock())
            self._pending = None

    def _tried(self) -> dict[str, str]:
        return {ATTEMPTS_HEADER: str(len(self._log))}

    def _served_by(self, upstream: str) -> dict[str, str]:
        return {UPSTREAM_HEADER: upstream, **self._tried()}

    def _attempts(self) -> list[dict[str, str]]:
        return [{"upstream": entry.upstream, "outcome": entry.outcome} for entry in self._log]

    def _relay(self, attempt: Attempt, error: HttpError) -> Reply:
        headers = relayable_headers(error.headers)
        headers.update(self._served_by(attempt.upstream.name))
        return Reply(error.status, headers, error.body)

    def _synthetic(self, status: int, code: str, message: str, extra_headers: dict[str, str] | None = None, error_type: str = "upstream_error") -> Reply:
        body = {"error": {"message": message, "type": error_type, "code": code, "attempts": self._attempts()}}
        headers = {"content-type": "application/json"}
        headers.update(self._tried())
        headers.update(extra_headers or {})
        return Reply(status, headers, json.dumps(body).encode())
