"""What a usable answer looks like, per endpoint: the rules a transport applies to bodies and stream events.

Each `Endpoint` carries its own rules: its method, what a whole 2xx body must hold, how each event
of its streams counts (content, end, error...) and how a stream that cannot complete is ended for
the caller. The transports and the gateway apply them without knowing which endpoint they serve.
Standard library only.

Sources: the OpenAI API reference (chat streaming, completions, embeddings, models, Responses
streaming events) and openai-python (`src/openai/_streaming.py`: a data event holding an `error`
object raises `APIError`; `src/openai/types/responses/*`: the Responses event types).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Callable

from .events import Event, error_event


class Kind(enum.Enum):
    """What one dispatched stream event means to the caller's answer."""

    CONTENT = "content"  # carries the answer: the first one commits the caller to this upstream
    OTHER = "other"  # relayed, but proves nothing yet (e.g. Azure's prompt-filter chunk with no choices)
    KEEPALIVE = "keepalive"  # empty data: neither relayed nor proof of progress
    END = "end"  # the stream is complete
    FAILED = "failed"  # the stream is complete, but reports that the upstream failed (Responses' `response.failed`)
    ERROR = "error"  # the upstream reports an error inside the stream
    MALFORMED = "malformed"  # breaks the endpoint's format


EventKind = Callable[[Event], Kind]
# (message, code, the last event relayed or None) -> the event that ends a stream which cannot complete.
ErrorEvent = Callable[[str, str, "Event | None"], bytes]


def openai_error_event(message: str, code: str, last: Event | None) -> bytes:
    """The error event of chat and completion streams: `{"error": {...}}`, which openai-python raises as an APIError."""
    return error_event(message, code)


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible route and its answer rules.

    `body_problem(body)` returns why a complete 2xx body is no answer (a short phrase for logs), or
    None when it is one. `event_kind(event)` classifies a dispatched stream event; it is None for an
    endpoint that never streams, whose requests are sent and answered whole whatever their body
    says. `error_event(message, code, last)` is the event that ends a stream which cannot complete,
    in the endpoint's own error shape. `end_is_answer` says whether the end event holds the whole
    answer, so that a stream ending before any content is complete (the Responses API's final event
    carries the response object, which may rightly hold no output, e.g. `response.incomplete` when
    a content filter stopped it); a bare `[DONE]` before any content answers nothing.
    """

    path: str
    method: str
    body_problem: Callable[[bytes], str | None]
    event_kind: EventKind | None = None
    error_event: ErrorEvent = openai_error_event
    end_is_answer: bool = False

    @property
    def streams(self) -> bool:
        """Whether the endpoint answers with an event stream when asked to (it has an event kind)."""
        return self.event_kind is not None


def json_object(data: str | bytes) -> dict | None:
    """`data` parsed as a JSON object, or None when it is anything else: not JSON, not UTF-8, another JSON
    value, or nested too deep to parse (json raises RecursionError past the interpreter's recursion limit,
    which an upstream or a caller can reach with a few hundred kilobytes of brackets)."""
    return _parsed(json.loads, data)


def json_outline(data: str | bytes) -> dict | None:
    """Like `json_object`, for checking a whole body's shape: only what the checks read is built.

    A body is parsed only to see what it holds, never relayed from the parse. So every number becomes
    None, and every object keeps only the keys in `OUTLINE_KEYS`; one that had others is a shared
    non-empty stand-in, so an `error` object stays truthy. Numbers are most of an embeddings answer,
    and the token objects of `logprobs` most of a chat completion asking for them: built in full,
    parsing takes 2.5-8x the body; as an outline about 1x (tracemalloc, with the decoded text).
    """
    return _parsed(_outline, data)


# Every key the shape checks read: the answer's list (`choices`, `data`, `output`), `error` and its
# `code`, and a request's `stream`. A check that reads another key must add it here.
OUTLINE_KEYS = frozenset({"choices", "data", "output", "error", "code", "stream"})
_EMPTY: dict = {}
_SOMETHING = {"": None}  # an object with keys the checks never read: still truthy


def _nothing(_: str) -> None:
    return None


def _outline_object(pairs: list[tuple[str, object]]) -> dict:
    kept = {key: value for key, value in pairs if key in OUTLINE_KEYS}
    return kept or (_SOMETHING if pairs else _EMPTY)


_OUTLINE = json.JSONDecoder(parse_float=_nothing, parse_int=_nothing, parse_constant=_nothing, object_pairs_hook=_outline_object)


def _outline(data: str | bytes) -> object:
    if isinstance(data, bytes):
        data = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads decodes bytes
    return _OUTLINE.decode(data)


def _parsed(parse: Callable[[str | bytes], object], data: str | bytes) -> dict | None:
    try:
        document = parse(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return document if isinstance(document, dict) else None


def choices_event_kind(event: Event) -> Kind:
    """Chat completion chunks and legacy completion chunks, which share one stream format.

    (OpenAI API reference: "The chat completion chunk object", "Create completion" with `stream`.)
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
    chunk = json_object(data)
    if chunk is None:
        return Kind.MALFORMED
    if chunk.get("error"):
        return Kind.ERROR
    if chunk.get("choices") or isinstance(chunk.get("usage"), dict):
        return Kind.CONTENT
    return Kind.OTHER


def _listed(key: str, missing: str) -> Callable[[bytes], str | None]:
    """A body rule: a JSON object without an `error` object whose `key` is a non-empty list."""

    def problem(body: bytes) -> str | None:
        document = json_outline(body)
        if document is None:
            return "not a JSON object"
        if document.get("error"):
            return "an error object"
        value = document.get(key)
        if not isinstance(value, list) or not value:
            return missing
        return None

    return problem


# A chat completion or a completion: `choices` holds the answer.
choices_body_problem = _listed("choices", "no choices")
# An embeddings answer: `data` holds one embedding per input.
embeddings_body_problem = _listed("data", "no embeddings")
# A model list (`object: list`): `data` names the models. An empty list serves nobody: another
# upstream may have models, so it fails over like any answer that is no answer.
models_body_problem = _listed("data", "no models")


# Responses API streaming events (OpenAI API reference "Streaming events"; openai-python
# `types/responses/response_stream_event.py`): each data is a JSON object whose `type` names it and
# carries a `sequence_number`. These three only report the response's status: they commit nothing.
_RESPONSE_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
# The stream is complete: the caller holds the final response object, whatever its status says.
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete"})
_RESPONSE_FAILED = "response.failed"


def responses_event_kind(event: Event) -> Kind:
    """Responses API events (https://platform.openai.com/docs/api-reference/responses-streaming).

    Content is every event that is part of the answer (`response.output_item.added`, text and
    tool-call deltas...): anything but the lifecycle events `response.created`,
    `response.in_progress` and `response.queued`, which are relayed but commit nothing. The stream
    ends with `response.completed` or `response.incomplete`; `response.failed` ends it too, saying
    the upstream failed. The error event is `type: error` (documented with `code` and `message` at the
    top level; OpenAI sends them nested in an `error` object, openai-dotnet#881), announced by
    `event: error`. There is no `[DONE]`: data that is not a JSON object with a string `type` breaks
    the stream.
    """
    data = event.data
    if not data.strip():
        return Kind.KEEPALIVE
    if event.type == "error":
        return Kind.ERROR
    document = json_object(data)
    if document is None:
        return Kind.MALFORMED
    kind = document.get("type")
    if kind == "error" or document.get("error"):
        return Kind.ERROR
    if not isinstance(kind, str):
        return Kind.MALFORMED
    if kind in _RESPONSE_ENDS:
        return Kind.END
    if kind == _RESPONSE_FAILED:
        return Kind.FAILED
    if kind in _RESPONSE_LIFECYCLE:
        return Kind.OTHER
    return Kind.CONTENT


def responses_body_problem(body: bytes) -> str | None:
    """A response object must be a JSON object with an `output` list and no `error` (a failed response has one)."""
    document = json_outline(body)
    if document is None:
        return "not a JSON object"
    if document.get("error"):
        return "an error object"
    if not isinstance(document.get("output"), list):
        return "no output"
    return None


def responses_error_event(message: str, code: str, last: Event | None) -> bytes:
    """The Responses API's error event, numbered after the last event the caller received.

    `code`, `message` and `param` sit at the top level, as the API reference and openai-python's
    `ResponseErrorEvent` have them, and again in an `error` object, as OpenAI sends them
    (openai-dotnet#881, Effect-TS/effect#7262) and as openai-python raises them: its stream raises
    `APIError` only for data holding an `error` object (`_streaming.py`).
    """
    sequence = 0
    previous = json_object(last.data) if last is not None else None
    if previous is not None and isinstance(previous.get("sequence_number"), int):
        sequence = previous["sequence_number"] + 1
    fields = {"code": code, "message": message, "param": None}
    payload = {"type": "error", **fields, "sequence_number": sequence, "error": {"type": "stream_error", **fields}}
    return Event("error", json.dumps(payload)).encode()


def error_summary(data: str | bytes) -> str:
    """`code: message` of an error the upstream reported, bounded, for logs and the caller's error event.

    Reads an OpenAI error object (`{"error": {...}}`), a Responses error event (`code` and `message`
    at the top level) and a failed response (`{"response": {"error": {...}}}`).
    """
    document = json_object(data)
    if document is None:
        return "unreadable error"
    error = document.get("error")
    if not isinstance(error, dict):
        response = document.get("response")
        error = response.get("error") if isinstance(response, dict) else None
    if not isinstance(error, dict):
        error = document if "message" in document else None
    if not isinstance(error, dict):
        return "unreadable error"
    code = error.get("code") or error.get("type") or "error"
    return f"{code}: {str(error.get('message') or '')[:200]}".rstrip(": ")


CHAT_COMPLETIONS = Endpoint("/v1/chat/completions", "POST", choices_body_problem, choices_event_kind)
COMPLETIONS = Endpoint("/v1/completions", "POST", choices_body_problem, choices_event_kind)
EMBEDDINGS = Endpoint("/v1/embeddings", "POST", embeddings_body_problem)
RESPONSES = Endpoint("/v1/responses", "POST", responses_body_problem, responses_event_kind, responses_error_event, end_is_answer=True)
MODELS = Endpoint("/v1/models", "GET", models_body_problem)
# Every route the gateway serves, in the order of the docs.
ENDPOINTS = (CHAT_COMPLETIONS, COMPLETIONS, EMBEDDINGS, RESPONSES, MODELS)
