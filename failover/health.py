"""Per-upstream health: a circuit breaker with growing ejections, plus rate-limit holds.

Modelled on Envoy outlier detection: an upstream is ejected after N
consecutive failures for `base_ejection * ejections` seconds, capped at
`max_ejection`, shortened by a random jitter fraction. When the ejection ends
the breaker is half-open and lends exactly one probe request at a time.
"""

from __future__ import annotations

import enum
import logging
from typing import Callable

from .config import Breaker
from .logfmt import logfmt

log = logging.getLogger("failover.breaker")

Clock = Callable[[], float]
Random = Callable[[], float]


class State(enum.Enum):
    """The circuit breaker's state: closed (serving), open (ejected) or half-open (one probe may go)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Unavailable(enum.Enum):
    """Why no request may go to an upstream now: its breaker is open, it is held after a 429, or its probe is out."""

    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    PROBE_IN_FLIGHT = "probe_in_flight"


class UpstreamHealth:
    """One upstream's breaker and rate-limit hold; times are the router's monotonic clock, in seconds.

    Each transition (open, half-open when the probe goes out, closed) is logged as a structured line
    on the `failover.breaker` logger.
    """

    def __init__(self, name: str, breaker: Breaker, random: Random, probe_timeout: float) -> None:
        self.name = name
        self._breaker = breaker
        self._random = random
        # A probe whose result never came back (caller vanished) is given up
        # after this long, so a lost probe cannot keep the upstream out forever.
        self._probe_timeout = probe_timeout
        self._consecutive_failures = 0
        self._ejections = 0
        self._open_until: float | None = None
        self._closed_since = 0.0
        self._probe_started: float | None = None
        self._throttled_until = 0.0

    def state(self, now: float) -> State:
        """The breaker's state at `now` (monotonic seconds): open until the ejection ends, then half-open."""
        if self._open_until is None:
            return State.CLOSED
        return State.OPEN if now < self._open_until else State.HALF_OPEN

    def unavailable(self, now: float) -> Unavailable | None:
        """Why no new request may go to this upstream now, or None if one may."""
        state = self.state(now)
        if state is State.OPEN:
            return Unavailable.CIRCUIT_OPEN
        if now < self._throttled_until:
            return Unavailable.RATE_LIMITED
        if state is State.HALF_OPEN and self._probe_busy(now):
            return Unavailable.PROBE_IN_FLIGHT
        return None

    def recovers_at(self, now: float) -> float:
        """Earliest time a request may be sent here again (now if already possible)."""
        times = [now, self._throttled_until]
        if self._open_until is not None:
            times.append(self._open_until)
        if self.state(now) is State.HALF_OPEN and self._probe_busy(now):
            assert self._probe_started is not None
            times.append(self._probe_started + self._probe_timeout)
        return max(times)

    def try_acquire(self, now: float) -> bool:
        """Claim the right to send one request; in half-open this takes the single probe."""
        if self.unavailable(now) is not None:
            return False
        if self.state(now) is State.HALF_OPEN:
            self._probe_started = now
            log.info(logfmt(event="breaker_half_open", upstream=self.name, probe="sent"))
        return True

    def release(self, now: float) -> None:
        """Give back a probe whose attempt produced no verdict on health."""
        if self.state(now) is State.HALF_OPEN:
            self._probe_started = None

    def record_success(self, now: float) -> None:
        """Records a good answer at `now`: closes a half-open breaker and resets the failure count.

        A success that arrives while the breaker is still open (a request sent before the ejection) changes nothing.
        """
        if self._open_until is not None:
            if now < self._open_until:
                return  # a slow request from before the ejection says nothing about now
            self._open_until = None
            self._probe_started = None
            self._closed_since = now
            log.info(logfmt(event="breaker_closed", upstream=self.name))
        self._consecutive_failures = 0

    def record_failure(self, now: float) -> None:
        """Records a failure at `now`: a failed probe ejects again, and failure_threshold in a row eject.

        Ejections grow with each one (base_ejection x count, capped at max_ejection) and are forgiven after
        a whole max_ejection of health. Nothing changes while the breaker is open.
        """
        state = self.state(now)
        if state is State.OPEN:
            return
        self._consecutive_failures += 1
        if state is State.HALF_OPEN:
            self._eject(now)  # the probe failed
            return
        if self._consecutive_failures >= self._breaker.failure_threshold:
            self._eject(now)

    def record_throttle(self, now: float, seconds: float) -> None:
        """Holds the upstream for `seconds` from `now` (a 429 or a 503 with Retry-After); its breaker does not move."""
        self._throttled_until = max(self._throttled_until, now + seconds)
        self.release(now)
        log.info(logfmt(event="upstream_held", upstream=self.name, seconds=seconds))

    def _eject(self, now: float) -> None:
        # Ejections are forgiven after staying healthy for a whole max ejection.
        if self._open_until is None and now - self._closed_since >= self._breaker.max_ejection:
            self._ejections = 0
        self._ejections += 1
        capped = min(self._breaker.base_ejection * self._ejections, self._breaker.max_ejection)
        ejection = capped * (1.0 - self._breaker.jitter * self._random())
        self._open_until = now + ejection
        self._probe_started = None
        failures, self._consecutive_failures = self._consecutive_failures, 0
        log.warning(logfmt(event="breaker_open", upstream=self.name, ejection_seconds=ejection, ejections=self._ejections, after_failures=failures))

    def _probe_busy(self, now: float) -> bool:
        return self._probe_started is not None and now - self._probe_started < self._probe_timeout
