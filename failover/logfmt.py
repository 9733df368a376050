"""Structured log lines: `event=attempt_failed upstream=primary attempt=1 outcome=http_503`.

logfmt (key=value pairs, values quoted when they hold spaces or quotes) reads well in a terminal
and is parsed by CloudWatch Logs Insights (`parse`), Loki and most log tools. Names and outcomes
only: never request or response bodies, never header values.
"""

from __future__ import annotations

from typing import Any


def logfmt(**fields: Any) -> str:
    """One line of `key=value` pairs in the order given; floats with 3 decimals, None as `-`."""
    parts = []
    for key, value in fields.items():
        if value is None:
            text = "-"
        elif isinstance(value, float):
            text = f"{value:.3f}"
        else:
            text = str(value)
        if not text or any(c in text for c in ' "=\\'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
