"""Structured log lines: `event=attempt_failed upstream=primary attempt=1 outcome=http_503`.

logfmt (key=value pairs, values quoted when they hold spaces or quotes) reads well in a terminal
and is parsed by CloudWatch Logs Insights (`parse`), Loki and most log tools. Names, statuses and
outcomes; an outcome may carry the upstream's own error code and message (at most 200 characters,
`endpoints.error_summary`). Never request or response bodies, keys or header values.

A value comes from wherever the line's fields came from, an upstream's error message included, so
it must never end the line or add one: control and line-separator characters are escaped inside a
quoted value (`\\n`, `\\r`, `\\t`, `\\xNN`, `\\uNNNN`, as go-logfmt and JSON do), and a line can
only ever be the line its fields make.
"""

from __future__ import annotations

import re
from typing import Any


def logfmt(**fields: Any) -> str:
    """One line of `key=value` pairs in the order given; floats with 3 decimals, None as `-`."""
    return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


_BARE = re.compile(r'[^\s"=\\]+')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    if text.isprintable() and _BARE.fullmatch(text):
        return text
    return '"' + "".join(_escaped(character) for character in text) + '"'


def _escaped(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    if character == " " or character.isprintable():
        return character
    # Control characters, and what viewers break lines at (U+0085, U+2028, U+2029).
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
