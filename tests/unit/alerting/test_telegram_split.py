"""telegram.split_html: messages within 4,096 UTF-16 units, each part well-formed; tgram:// URL parsing."""

from __future__ import annotations

import re

import pytest

from monitor.alerting.telegram import parse_tgram, split_html
from monitor.errors import ConfigError


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _balanced(part: str) -> bool:
    stack: list[str] = []
    for closing, name in re.findall(r"<(/?)([a-z]+)[^>]*>", part):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


def test_short_message_is_one_part() -> None:
    assert split_html("<b>hi</b> &amp; bye") == ["<b>hi</b> &amp; bye"]


def test_long_message_is_split_between_lines_and_stays_well_formed() -> None:
    block = (
        '<b>Source</b>: <a href="https://e.org/?a=1&amp;b=2">a title</a>\n<blockquote>'
        + "mot " * 60
        + "</blockquote>\n"
    )
    html = block * 40
    parts = split_html(html, limit=1000, max_parts=50)
    assert len(parts) > 1
    for part in parts:
        assert _units(part) <= 1000
        assert _balanced(part), part
        assert not re.search(r"&[#\w]*$", part)  # no entity cut in two
    assert "".join(parts).replace("\n", "") == html.replace("\n", "")


def test_a_tag_open_at_a_cut_is_closed_and_reopened() -> None:
    html = "<blockquote>" + "word " * 400 + "</blockquote>"
    parts = split_html(html, limit=500, max_parts=10)
    assert all(p.startswith("<blockquote>") and p.endswith("</blockquote>") for p in parts)
    assert all(_units(p) <= 500 for p in parts)


def test_emoji_count_twice() -> None:
    parts = split_html("🚨" * 3000, limit=4096, max_parts=5)
    assert all(_units(p) <= 4096 for p in parts)
    assert sum(len(p) for p in parts) == 3000


def test_past_max_parts_the_last_says_truncated() -> None:
    parts = split_html("line\n" * 5000, limit=4096, max_parts=2)
    assert len(parts) == 2
    assert parts[-1].endswith("… (truncated)")
    assert all(_units(p) <= 4096 for p in parts)


def test_tgram_url_gives_one_target_per_chat() -> None:
    targets = parse_tgram("tgram://123456:ABC-def_1/-1001234/@desk_chan?format=html", "where")
    assert [t.chat_id for t in targets] == ["-1001234", "@desk_chan"]
    assert targets[0].token == "123456:ABC-def_1"


@pytest.mark.parametrize(
    "url", ["tgram://not-a-token/123", "tgram://123456:s3cretTOKEN", "tgram://123:ABC/bad chat"]
)
def test_bad_tgram_url_names_the_place_never_the_token(url: str) -> None:
    with pytest.raises(ConfigError, match=r"alert\.receivers\.x") as e:
        parse_tgram(url, "alert.receivers.x")
    assert "s3cret" not in str(e.value)
