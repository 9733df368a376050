import json

import pytest

from failover.sse import MalformedEvent, SseReader, error_event


def test_events_are_released_whole_even_when_split_across_chunks():
    reader = SseReader()
    assert reader.feed(b'data: {"a"') == []
    assert reader.feed(b': 1}\n') == []
    assert reader.feed(b'\ndata: {"b": 2}\n\ndata: [DO') == [b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n']
    assert not reader.done
    assert reader.feed(b"NE]\n\n") == [b"data: [DONE]\n\n"]
    assert reader.done


def test_crlf_comments_and_named_events_pass():
    reader = SseReader()
    events = reader.feed(b": keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata: {}\r\n\r\ndata: [DONE]\r\n\r\n")
    assert events == [b": keep-alive\n\n", b"event: message\nid: 7\ndata: {}\n\n", b"data: [DONE]\n\n"]
    assert reader.done


def test_nothing_after_done_is_read():
    reader = SseReader()
    assert reader.feed(b"data: [DONE]\n\ndata: trailing junk\n\n") == [b"data: [DONE]\n\n"]


@pytest.mark.parametrize("line", [b"data: {not json", b"data: hello", b"data:"])
def test_a_data_line_that_is_neither_json_nor_done_is_malformed(line):
    with pytest.raises(MalformedEvent):
        SseReader().feed(line + b"\n\n")


def test_error_event_is_an_sse_error_with_a_json_body():
    event = error_event("cut", "upstream_stream_broken")
    assert event.startswith(b"event: error\ndata: ") and event.endswith(b"\n\n")
    payload = json.loads(event.split(b"data: ", 1)[1])
    assert payload == {"error": {"message": "cut", "type": "stream_error", "code": "upstream_stream_broken"}}


def test_a_crlf_split_across_two_chunks_still_ends_the_event():
    reader = SseReader()
    assert reader.feed(b'data: {"a": 1}\r\n\r') == []
    assert reader.feed(b'\ndata: {"b": 2}\r\n\r\n') == [b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n']
