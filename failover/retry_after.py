"""Reading how long a throttling upstream asks to be left alone."""

from __future__ import annotations

from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Mapping


def parse_retry_after(headers: Mapping[str, str], wall_now: float) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (delta-seconds or HTTP-date).

    `headers` uses lower-case names; `wall_now` is Unix time, needed for dates.
    Returns None when absent or unreadable, so the caller applies its default. Only ASCII digits are
    numbers (RFC 9110 5.6.1 and 10.2.3: `delta-seconds = 1*DIGIT`): `str.isdigit` and `float` would also
    take "²" or "١٢", and `float("²")` raises.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis.strip()) if millis.isascii() else -1.0
        except ValueError:
            value = -1.0
        if value >= 0 and value == value and value != float("inf"):
            return value / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):  # "01 Jan 99999999999999999999" overflows
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # HTTP-dates are always GMT
    try:
        return max(0.0, when.timestamp() - wall_now)
    except (OverflowError, ValueError):
        return None
