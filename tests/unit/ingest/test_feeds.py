"""The feeds file: valid files load, invalid ones fail with file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.ingest.feeds import FeedConfig, load_feeds, normalise_language

REPO = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_all_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
feeds:
  - id: lemonde
    url: https://www.lemonde.fr/international/rss_full.xml
    language: fr-FR
    tags: [international, fr]
    poll_interval_s: 120
    expected_period_s: 900
    full_text: true
  - id: local.sample
    url: file:///tmp/sample.xml
""",
    )
    feeds = load_feeds(path)
    assert feeds == [
        FeedConfig(
            id="lemonde",
            url="https://www.lemonde.fr/international/rss_full.xml",
            language="fr",
            tags=("international", "fr"),
            poll_interval_s=120,
            expected_period_s=900,
            full_text=True,
        ),
        FeedConfig(id="local.sample", url="file:///tmp/sample.xml"),
    ]


def test_shipped_feeds_file_is_valid() -> None:
    feeds = load_feeds(REPO / "deploy" / "feeds.yaml")
    assert 8 <= len(feeds) <= 12
    assert {f.language for f in feeds} == {"fr", "en"}
    assert all(f.url.startswith("https://") and f.tags for f in feeds)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n  - id: b\n    url: ftp://b.example/rss\n",
            ":5: feeds[1].url: scheme 'ftp' not allowed",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n  - id: b\n",
            ":4: feeds[1].url: Field required",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    language: french\n",
            ":4: feeds[0].language: 'french' is not a language code",
        ),
        (
            "feeds:\n  - id: a\n    url: https:///rss\n",
            ":3: feeds[0].url: URL has no host",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    poll_interval_s: 0\n",
            ":4: feeds[0].poll_interval_s: Input should be greater than 0",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    expected_period_s: -5\n",
            ":4: feeds[0].expected_period_s: Input should be greater than 0",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    full_text: sometimes\n",
            ":4: feeds[0].full_text: Input should be a valid boolean",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    tags: [x, [y]]\n",
            ":4: feeds[0].tags[1]: Input should be a valid string",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    colour: red\n",
            ":4: feeds[0].colour: unknown key; valid keys are [expected_period_s, full_text, id, language, "
            "poll_interval_s, tags, url]",
        ),
        (
            "feeds:\n  - id: a\n    url: https://a.example/rss\n    tags: international\n",
            ":4: feeds[0].tags: expected a list, such as [a, b] (got 'international')",
        ),
        (
            "feeds:\n  - id: bad id\n    url: https://a.example/rss\n",
            ":2: feeds[0].id: String should match pattern",
        ),
        ("feeds:\n  - just a string\n", ":2: feeds[0]: expected a mapping with id and url"),
        ("feeds:\n  - id: a\n   url: x\n", ":3: invalid YAML"),
        ("sources: []\n", ":1: expected a mapping with a 'feeds:' list"),
        ("feeds: []\nextra: 1\n", ":2: unknown key 'extra'; valid keys are ['feeds']"),
    ],
)
def test_errors_name_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    assert str(caught.value).startswith(str(path) + expected)


def test_duplicate_ids_are_rejected_with_both_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "feeds:\n  - id: a\n    url: https://a.example/1\n  - id: a\n    url: https://a.example/2\n",
    )
    with pytest.raises(
        ConfigError, match=r"feeds.yaml:4: feeds\[1\]\.id: duplicate feed id 'a' \(first at line 2\)"
    ):
        load_feeds(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "feeds:\n  - id: a\n    url: gopher://x\n  - id: b\n  - id: c\n    url: https://c.example/\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_feeds(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in lines] == ["3", "4"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read feeds file"):
        load_feeds(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fr-FR", "fr"),
        ("en_us", "en"),
        ("EN", "en"),
        ("x-default", None),
        ("fre", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_language(code: str | None, expected: str | None) -> None:
    assert normalise_language(code) == expected


def test_display_url_hides_credentials_and_tokens() -> None:
    feed = FeedConfig(id="a", url="https://user:secret@a.example:8443/rss?x=1")
    assert feed.display_url == "https://***@a.example:8443/rss?x=1"
    feed = FeedConfig(id="a", url="https://a.example/rss?lang=fr&token=t0k3n")
    assert feed.display_url == "https://a.example/rss?lang=fr&token=***"
