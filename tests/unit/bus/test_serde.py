"""Decoding turns every kind of bad message into a MessageError that says what is wrong."""

from __future__ import annotations

import base64
import json

import pytest

from monitor.bus.deadletter import deadletter_record
from monitor.bus.records import DeadLetterRecord
from monitor.bus.serde import decode, encode
from monitor.errors import MessageError
from monitor.models import Article


def test_round_trip() -> None:
    art = Article(id="x", feed_id="f", url="https://example.org/x", title="Titre é")
    assert decode(encode(art), Article) == art


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, "empty message"),
        (b"", "empty message"),
        (b"{oops", "not a valid Article"),
        (json.dumps({"schema_version": 1, "id": "x"}).encode(), "feed_id"),
        (json.dumps({"schema_version": 7}).encode(), "schema_version"),
    ],
)
def test_bad_messages_raise_message_error(value: bytes | None, needle: str) -> None:
    with pytest.raises(MessageError, match=needle):
        decode(value, Article)


def test_deadletter_record_keeps_the_original_bytes() -> None:
    text = json.loads(deadletter_record(DeadLetterRecord("t", 1, 7, b"k", b"{bad", "invalid_message", "e")))
    assert (text["topic"], text["partition"], text["offset"], text["value"]) == ("t", 1, 7, "{bad")
    raw = json.loads(deadletter_record(DeadLetterRecord("t", 0, 0, None, b"\xff\x00", "handler_error", "e")))
    assert base64.b64decode(raw["value_base64"]) == b"\xff\x00"
    assert raw["key"] is None
