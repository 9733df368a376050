"""Structured log lines: `event=attempt_failed upstream=primary attempt=1 outcome=http_503`.

logfmt (key=value pairs, values quoted when they hold spaces or quotes) reads well in a terminal
and is parsed by CloudWatch Logs Insights (`parse`), Loki and most log tools. Names and outcomes
only: never request or response bodies, never header values.
"""

from __future__ import annotations

import re
from typing import Any


def logfmt(**fields: Any) -> str:
    """One line of `key=value` pairs in the order given; floats with 3 decimals, None as `-`."""
    return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


_BARE = re.compile(r'[^\s"=\\]+')


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
