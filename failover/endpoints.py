"""What a usable answer looks like, per endpoint: the rules a transport applies to bodies and stream events.

Each `Endpoint` carries its own rules, so an endpoint whose streams end another way (the Responses
API's `response.completed`, for one) plugs in its own functions without touching the transports.
Standard library only.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Callable

from .events import Event


class Kind(enum.Enum):
    """What one dispatched stream event means to the caller's answer."""

    CONTENT = "content"  # carries the answer: the first one commits the caller to this upstream
    OTHER = "other"  # relayed, but proves nothing yet (e.g. Azure's prompt-filter chunk with no choices)
    KEEPALIVE = "keepalive"  # empty data: neither relayed nor proof of progress
    END = "end"  # the stream is complete
    ERROR = "error"  # the upstream reports an error inside the stream
    MALFORMED = "malformed"  # breaks the endpoint's format


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible route and its answer rules.

    `event_kind(event)` classifies a dispatched stream event; `body_problem(body)` returns why a
    complete 2xx body is no answer (a short phrase for logs), or None when it is one.
    """

    path: str
    event_kind: Callable[[Event], Kind]
    body_problem: Callable[[bytes], str | None]


def chat_event_kind(event: Event) -> Kind:
    """Chat completion chunks (https://platform.openai.com/docs/api-reference/chat-streaming).

    Content is a chunk with a non-empty `choices` list or a `usage` object (the last chunk when the
    caller asked for `stream_options.include_usage`, whose `choices` is empty). A chunk with neither,
    such as Azure OpenAI's first chunk (`choices: []` and `prompt_filter_results`), is relayed but
    commits nothing. An `event: error`, or data holding an `error` object (which openai-python raises
    as an APIError), is an error; `data: [DONE]` ends the stream; data that is not JSON breaks it.
    """
    data = event.data
    if not data.strip():
        return Kind.KEEPALIVE
    if event.type == "error":
        return Kind.ERROR
    if data == "[DONE]" or data.strip() == "[DONE]":
        return Kind.END
    try:
        chunk = json.loads(data)
    except ValueError:
        return Kind.MALFORMED
    if not isinstance(chunk, dict):
        return Kind.MALFORMED
    if chunk.get("error"):
        return Kind.ERROR
    if chunk.get("choices") or isinstance(chunk.get("usage"), dict):
        return Kind.CONTENT
    return Kind.OTHER


def chat_body_problem(body: bytes) -> str | None:
    """A chat completion must be a JSON object with a non-empty `choices` list and no `error` object."""
    try:
        completion = json.loads(body)
    except ValueError:
        return "not JSON"
    if not isinstance(completion, dict):
        return "not a JSON object"
    if completion.get("error"):
        return "an error object"
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    return None


def error_summary(data: str | bytes) -> str:
    """`code: message` of an OpenAI-style error object, bounded, for logs and the caller's error event."""
    try:
        document = json.loads(data)
    except ValueError:
        return "unreadable error"
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return "unreadable error"
    code = error.get("code") or error.get("type") or "error"
    return f"{code}: {str(error.get('message') or '')[:200]}".rstrip(": ")


CHAT_COMPLETIONS = Endpoint("/v1/chat/completions", chat_event_kind, chat_body_problem)
