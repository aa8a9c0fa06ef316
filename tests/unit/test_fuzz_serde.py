"""Fuzz the message decoders: whatever a topic holds, decoding gives a valid model or a MessageError.

A consumer dead-letters a MessageError and goes on; any other exception would be a handler error at
best and, before the consumer loop caught everything, a dead stage. And a message that decodes must
encode again (the matcher re-publishes the Article inside its Match), or it would fail one stage later.
Runs are bounded (``max_examples``) and derandomised, so CI is fast and a failure replays.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.bus.serde import decode, encode
from monitor.errors import MessageError
from monitor.models import Article, EntityMention, Evidence, Match

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

_ARTICLE = Article(
    id="a1",
    feed_id="wire",
    url="https://wire.example.net/1",
    guid="g1",
    title="Lena Ostrova visits Valmont",
    summary="She met the mayor.",
    text="Lena Ostrova visited Valmont. She met the mayor.",
    language="en",
    published=datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
    tags=("europe",),
)
_MATCH = Match(
    id=Match.make_id("watch", "a1"),
    rule="watch",
    rule_name="Watch",
    severity="high",
    score=1.0,
    article=_ARTICLE,
    evidence=(
        Evidence(
            condition="who",
            sentence="Lena Ostrova visited Valmont.",
            entities=(EntityMention(text="Lena Ostrova", label="PER", start=0, end=12, entity_id="lena"),),
            terms=("visited",),
        ),
    ),
    entities=("lena",),
)

# Any text, lone surrogates included (JSON can carry them as \ud800; UTF-8 cannot).
_text = st.text(st.characters(exclude_categories=()))
# Any JSON value, including the awkward ones: surrogates, huge and tiny numbers, nesting.
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _mutations(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Return a valid message's JSON with some fields replaced by anything, removed, or added."""
    keys = sorted(template)
    replaced = st.dictionaries(st.sampled_from(keys), _json, max_size=3)
    removed = st.sets(st.sampled_from(keys), max_size=2)
    added = st.dictionaries(st.text(max_size=10), _json, max_size=2)
    return st.builds(
        lambda r, d, a: {k: v for k, v in {**template, **a, **r}.items() if k not in d},
        replaced,
        removed,
        added,
    )


def _check(value: bytes, model: type[Article] | type[Match]) -> None:
    try:
        decoded = decode(value, model)
    except MessageError as e:
        reason = str(e)
    else:
        reason = None
    if reason is not None:
        assert reason, "a rejection says why"
        return
    # What decodes must survive the next stage: encoded again and decoded to the same thing.
    assert decode(encode(decoded), model) == decoded


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes_decode_or_raise_message_error(value: bytes) -> None:
    _check(value, Article)
    _check(value, Match)


@FUZZ
@given(_json)
def test_any_json_value_decodes_or_raises_message_error(value: object) -> None:
    raw = json.dumps(value).encode()
    _check(raw, Article)
    _check(raw, Match)


@FUZZ
@given(_mutations(json.loads(encode(_ARTICLE))))
def test_mutated_articles_decode_or_raise_message_error(message: dict[str, Any]) -> None:
    _check(json.dumps(message).encode(), Article)


@FUZZ
@given(_mutations(json.loads(encode(_MATCH))), _mutations(json.loads(encode(_ARTICLE))))
def test_mutated_matches_decode_or_raise_message_error(
    message: dict[str, Any], article: dict[str, Any]
) -> None:
    _check(json.dumps(message).encode(), Match)
    _check(json.dumps({**message, "article": article}).encode(), Match)


@FUZZ
@given(_text)
def test_any_text_in_any_string_field_survives_a_round_trip(text: str) -> None:
    message = json.loads(encode(_MATCH))
    message["article"]["title"] = text
    message["evidence"][0]["sentence"] = text
    _check(json.dumps(message).encode(), Match)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    for depth in (1_000, 100_000):
        for value in (b"[" * depth, b'{"a":' * depth):
            _check(value, Article)
