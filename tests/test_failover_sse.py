"""Server-sent events: WHATWG decoding (failover/sse.py), canonical encoding (events.py) and the chat stream rules (endpoints.py).

The shapes come from the standard (html.spec.whatwg.org, "Server-sent events", 9.2.5-9.2.6) and
from what providers send (Azure OpenAI's prompt-filter chunk, vLLM's in-stream error objects).
"""

import asyncio
import json

import httpx
import pytest

from failover.endpoints import (
    Kind,
    choices_body_problem,
    choices_event_kind,
    embeddings_body_problem,
    error_summary,
    models_body_problem,
    responses_body_problem,
    responses_error_event,
    responses_event_kind,
)
from failover.events import Event, error_event
from failover.sse import EventTooLarge, events

CHUNK = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]})


def decode(*parts: bytes) -> list[Event]:
    async def chunks():
        for part in parts:
            yield part

    async def collect():
        return [event async for event in events(chunks())]

    return asyncio.run(collect())


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        # Lines ended by a bare CR, including one split from its event's blank line by a chunk boundary.
        ((b"data: a\r", b"\rdata: b\r\r"), [Event(data="a"), Event(data="b")]),
        ((b"data: a\r\n\r", b"\n"), [Event(data="a")]),
        # One event's JSON over two data lines: joined with a newline, still one JSON document.
        ((b'data: {"choices":\n', b'data: [1]}\n\n'), [Event(data='{"choices":\n[1]}')]),
        # An empty data line inside an event, and an event of only an empty data line.
        ((b"data: a\ndata:\ndata: b\n\ndata:\n\n",), [Event(data="a\n\nb"), Event(data="")]),
        # Comments, unknown fields and a line without a colon are ignored; "data" alone is an empty data field.
        ((b": keep-alive\n\nfoo: bar\nstray text\ndata: x\n\ndata\n\n",), [Event(data="x"), Event(data="")]),
        # The event type, an id (reported on the event that set it), a retry of digits only.
        ((b"event: ping\nid: 7\nretry: 3000\ndata: x\n\ndata: y\n\nretry: -5\ndata: z\n\n",), [Event("ping", "x", "7", 3000), Event(data="y"), Event(data="z")]),
        # One leading byte order mark is dropped, and the stream is UTF-8 (the charset an upstream names is not consulted).
        ((b"\xef\xbb\xbfdata: \xc3\xa9\n\n",), [Event(data="\u00e9")]),
        # An event not finished by a blank line when the stream ends: the standard discards it; it is
        # reported as unfinished, for the endpoint rules to discard unless it is the end marker.
        ((b"data: done\n\ndata: cut",), [Event(data="done"), Event(data="cut", unfinished=True)]),
        ((b"data: done\r\n\r\ndata: [DONE]\r\n",), [Event(data="done"), Event(data="[DONE]", unfinished=True)]),
        ((b"data: done\r\rdata: [DONE]\r",), [Event(data="done"), Event(data="[DONE]", unfinished=True)]),
    ],
    ids=["bare-cr", "crlf-split", "multi-line-json", "empty-data", "ignored-lines", "fields", "bom-utf8", "unfinished", "unfinished-crlf", "unfinished-cr"],
)
def test_event_stream_shapes_decode_as_the_standard_says(parts, expected):
    decoded = decode(*parts)
    # Blocks with no data (a lone comment, or what an `id` alone leaves) carry empty data: keep-alives.
    assert [e for e in decoded if e.data or e in expected] == expected


def test_every_byte_boundary_gives_the_same_events():
    stream = b'event: message\r\nid: 1\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: ping\rdata: [DONE]\r\r'
    whole = decode(stream)
    assert whole == [Event(data='{"a":\n1}', id="1"), Event(data="[DONE]")]
    for cut in range(1, len(stream)):
        assert decode(stream[:cut], stream[cut:]) == whole, cut


def test_an_event_ended_by_a_bare_cr_is_dispatched_without_waiting_for_the_next_chunk():
    pulled = []

    async def chunks():
        for part in (b"data: a\r\r", b"\ndata: b\r\r"):  # the LF is a line of its own: a blank line
            pulled.append(part)
            yield part

    async def first():
        async for event in events(chunks()):
            return event, len(pulled)

    assert asyncio.run(first()) == (Event(data="a"), 1)
    assert decode(b"data: a\r\r", b"\ndata: b\r\r") == [Event(data="a"), Event(data="b")]


@pytest.mark.parametrize("blank_line", [b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r", b"\n\r\n", b"\r\n\n", b"\r\r\n"])
def test_the_event_size_limit_counts_each_event_from_its_own_blank_line_in_every_line_end_style(blank_line):
    one = b"data: " + b"x" * 600 + blank_line  # 20 events of ~600 bytes under a 1024-byte limit, one chunk each
    assert len(decode_limited(1024, *[one] * 20)) == 20
    with pytest.raises(EventTooLarge):
        decode_limited(1024, b"data: " + b"x" * 2000 + blank_line)


def decode_limited(limit: int, *parts: bytes) -> list[Event]:
    async def chunks():
        for part in parts:
            yield part

    async def collect():
        return [event async for event in events(chunks(), limit)]

    return asyncio.run(collect())


@pytest.mark.parametrize("event", [Event(data=CHUNK), Event("error", '{"error": {}}', "9", 10), Event(data="a\n\nb"), Event(data="")])
def test_encoding_is_canonical_and_decodes_back_to_the_same_event(event):
    wire = event.encode()
    assert b"\r" not in wire and wire.endswith(b"\n\n")
    assert decode(wire) == [event]


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (Event(data=CHUNK), Kind.CONTENT),
        (Event(data=json.dumps({"choices": [], "usage": {"total_tokens": 9}})), Kind.CONTENT),
        (Event(data=json.dumps({"choices": [], "prompt_filter_results": [{"prompt_index": 0}]})), Kind.OTHER),
        (Event(data=""), Kind.KEEPALIVE),
        (Event(data="\n"), Kind.KEEPALIVE),
        (Event(data="[DONE]"), Kind.END),
        (Event("error", json.dumps({"error": {"message": "overloaded"}})), Kind.ERROR),
        (Event("error", "not json either"), Kind.ERROR),
        (Event(data=json.dumps({"error": {"message": "The model is not multimodal.", "code": 400}})), Kind.ERROR),
        (Event(data='{"choices": [{"delta": {"content"'), Kind.MALFORMED),
        (Event(data="hello"), Kind.MALFORMED),
        (Event(data="[1, 2]"), Kind.MALFORMED),
    ],
    ids=["choices", "usage-only", "azure-prompt-filter", "empty", "blank-lines", "done", "error-event", "error-event-not-json", "error-object", "cut-json", "text", "not-an-object"],
)
def test_what_counts_as_content_in_a_chat_stream(event, kind):
    assert choices_event_kind(event) is kind


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (json.dumps({"choices": [{"message": {"content": "hi"}}]}).encode(), None),
        (json.dumps({"error": {"message": "boom"}}).encode(), "an error object"),
        (json.dumps({"id": "x", "choices": []}).encode(), "no choices"),
        (json.dumps({"id": "x"}).encode(), "no choices"),
        (b"[]", "not a JSON object"),
        (b"<html>bad gateway</html>", "not a JSON object"),
    ],
)
def test_what_counts_as_an_answer_in_a_whole_chat_completion(body, problem):
    assert choices_body_problem(body) == problem


def test_error_event_is_an_sse_error_with_a_json_body():
    event = error_event("cut", "upstream_stream_broken")
    assert event.startswith(b"event: error\ndata: ") and event.endswith(b"\n\n")
    assert decode(event) == [Event("error", json.dumps({"error": {"message": "cut", "type": "stream_error", "code": "upstream_stream_broken"}}))]


def responses_event(kind: str, **fields) -> Event:
    return Event(kind, json.dumps({"type": kind, "sequence_number": 3, **fields}))


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (responses_event("response.created", response={}), Kind.OTHER),
        (responses_event("response.in_progress", response={}), Kind.OTHER),
        (responses_event("response.queued", response={}), Kind.OTHER),
        (responses_event("response.output_item.added", item={}), Kind.CONTENT),
        (responses_event("response.output_text.delta", delta="hi"), Kind.CONTENT),
        (responses_event("response.function_call_arguments.delta", delta="{"), Kind.CONTENT),
        (responses_event("response.completed", response={"error": None}), Kind.END),
        (responses_event("response.incomplete", response={"incomplete_details": {"reason": "max_output_tokens"}}), Kind.END),
        (responses_event("response.failed", response={"error": {"code": "server_error"}}), Kind.FAILED),
        (responses_event("error", code="server_error", message="documented shape"), Kind.ERROR),
        (responses_event("error", error={"code": "too_many_requests", "message": "shape OpenAI sends"}), Kind.ERROR),
        (Event(data=json.dumps({"error": {"message": "no type at all"}})), Kind.ERROR),
        (Event(data=""), Kind.KEEPALIVE),
        (Event(data="[DONE]"), Kind.MALFORMED),  # not a Responses event: its streams end with response.completed
        (Event(data=json.dumps({"delta": "hi"})), Kind.MALFORMED),
    ],
    ids=["created", "in-progress", "queued", "item-added", "text-delta", "tool-delta", "completed", "incomplete", "failed", "error-documented", "error-nested", "error-object", "empty", "done", "untyped"],
)
def test_what_counts_as_content_and_as_the_end_in_a_responses_stream(event, kind):
    assert responses_event_kind(event) is kind


@pytest.mark.parametrize(
    ("rule", "body", "problem"),
    [
        (responses_body_problem, {"object": "response", "status": "completed", "output": [], "error": None}, None),
        (responses_body_problem, {"object": "response", "status": "failed", "output": [], "error": {"code": "server_error"}}, "an error object"),
        (responses_body_problem, {"object": "response"}, "no output"),
        (embeddings_body_problem, {"object": "list", "data": [{"embedding": [0.1]}]}, None),
        (embeddings_body_problem, {"object": "list", "data": []}, "no embeddings"),
        (models_body_problem, {"object": "list", "data": [{"id": "m"}]}, None),
        (models_body_problem, {"object": "list", "data": []}, "no models"),
        (models_body_problem, {"error": {"message": "boom"}}, "an error object"),
    ],
)
def test_what_counts_as_an_answer_on_the_other_endpoints(rule, body, problem):
    assert rule(json.dumps(body).encode()) == problem


@pytest.mark.parametrize(
    ("data", "summary"),
    [
        ('{"error": {"code": "server_error", "message": "boom"}}', "server_error: boom"),
        ('{"type": "error", "code": "too_many_requests", "message": "slow down", "sequence_number": 2}', "too_many_requests: slow down"),
        ('{"type": "response.failed", "response": {"error": {"code": "server_error", "message": "crashed"}}}', "server_error: crashed"),
        ("not json", "unreadable error"),
    ],
)
def test_error_summaries_read_every_error_shape(data, summary):
    assert error_summary(data) == summary


def test_the_responses_error_event_follows_on_from_the_last_event_relayed():
    wire = responses_error_event("cut", "upstream_stream_broken", responses_event("response.output_text.delta", delta="hi"))
    (event,) = decode(wire)
    payload = json.loads(event.data)
    assert event.type == "error" and payload["type"] == "error" and payload["sequence_number"] == 4
    assert (payload["code"], payload["message"], payload["param"]) == ("upstream_stream_broken", "cut", None)
    assert payload["error"] == {"type": "stream_error", "code": "upstream_stream_broken", "message": "cut", "param": None}
    assert json.loads(decode(responses_error_event("cut", "c", None))[0].data)["sequence_number"] == 0
