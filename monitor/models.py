"""Wire contracts: the versioned JSON messages on the topics.

Every message carries ``schema_version`` so a consumer can refuse (dead-letter) what it does not
understand instead of mis-reading it. Bump the version on any incompatible change.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "Article",
    "ArticleRef",
    "EntityMention",
    "Evidence",
    "Match",
    "article_id",
    "canonical_url",
    "utcnow",
]

SCHEMA_VERSION: Literal[1] = 1

# Query parameters that identify a campaign or a click, never the article: dropped so that the same
# story reached through two newsletters gets one id.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "xtor", "at_medium", "at_campaign"}
)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def canonical_url(url: str) -> str:
    """Return ``url`` without fragment, tracking parameters, default port or host case.

    Two links to the same article must canonicalise to the same string, or the article is published twice.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))


def article_id(guid: str | None, url: str | None) -> str:
    """Return the stable id of an article: a hash of its GUID, else of its canonical URL.

    GUIDs that are URLs are canonicalised too, because many feeds use the link as the GUID and
    add tracking parameters to it.
    """
    key = (guid or "").strip() or (url or "").strip()
    if not key:
        raise ValueError("an article needs a GUID or a URL to get a stable id")
    if key.startswith(("http://", "https://")):
        key = canonical_url(key)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION


class Article(_Message):
    """One feed item, normalised: what the ingestor publishes on the ``articles`` topic."""

    id: str = Field(min_length=1, description="stable id from the GUID or canonical URL (see article_id)")
    feed_id: str = Field(min_length=1)
    url: str
    guid: str | None = None
    title: str
    summary: str = ""
    text: str = Field("", description="plain-text body; equals the summary when the feed carries no more")
    text_source: Literal["summary", "feed", "page"] = Field(
        "summary",
        description="where ``text`` comes from: the feed's summary only, the feed's full content, or the "
        "article page (full-text extraction); 'feed' and 'page' mean full text",
    )
    language: str | None = Field(None, description="ISO 639-1 code, e.g. 'fr'; None when unknown")
    published: datetime | None = None
    fetched_at: datetime = Field(default_factory=utcnow)
    tags: tuple[str, ...] = ()
    feed_title: str = Field("", description="the feed's own title (the outlet's name), '' when it has none")

    @property
    def body(self) -> str:
        """Return the richest text available: the full text, else the summary."""
        return self.text or self.summary


class ArticleRef(BaseModel):
    """A short reference to an article, carried by alerts so a reader can follow every source."""

    model_config = ConfigDict(frozen=True)

    id: str
    feed_id: str
    title: str
    url: str
    published: datetime | None = None
    language: str | None = Field(None, description="ISO 639-1 code of the article, None when unknown")
    feed_title: str = Field("", description="the feed's own title, '' when it has none")

    @classmethod
    def of(cls, article: Article, language: str | None = None) -> ArticleRef:
        """Return the reference to ``article``; ``language``: the one it was read in, if it declares none."""
        return cls(
            id=article.id,
            feed_id=article.feed_id,
            title=article.title,
            url=article.url,
            published=article.published,
            language=article.language or language,
            feed_title=article.feed_title,
        )


class EntityMention(BaseModel):
    """An entity found in an article: by NER (label only) or linked to a gazetteer id."""

    model_config = ConfigDict(frozen=True)

    text: str
    label: str = Field(description="PER, LOC, ORG, MISC, ... (spaCy labels) or the gazetteer type")
    start: int = Field(ge=0, description="character offset in the analysed text")
    end: int = Field(ge=0)
    entity_id: str | None = Field(None, description="gazetteer id, e.g. 'vladimir_putin', when linked")
    source: Literal["ner", "gazetteer"] = "ner"


class Evidence(BaseModel):
    """Why a condition of a rule held: the sentence and what in it satisfied the condition."""

    model_config = ConfigDict(frozen=True)

    condition: str = Field(description="which condition of the rule this sentence satisfied")
    sentence: str
    entities: tuple[EntityMention, ...] = ()
    terms: tuple[str, ...] = Field((), description="keywords or phrases found in the sentence")
    start: int | None = Field(None, ge=0, description="offset of the sentence in the analysed text")
    end: int | None = Field(None, ge=0)
    places: tuple[EntityMention, ...] = Field(
        (), description="places named in the sentence (gazetteer LOC entities, NER LOC/GPE spans)"
    )
    article_id: str | None = Field(None, description="the article the sentence is from (set by the alerter)")


class Match(_Message):
    """A watchlist that fired on an article, with its evidence: published on the ``matches`` topic."""

    id: str = Field(description="hash of rule id and article id: re-delivery yields the same id")
    rule: str = Field(description="watchlist id")
    rule_name: str
    severity: str = "info"
    score: float
    article: Article
    evidence: tuple[Evidence, ...] = ()
    entities: tuple[str, ...] = Field((), description="gazetteer ids of the watched entities involved")
    matched_at: datetime = Field(default_factory=utcnow)
    receivers: tuple[str, ...] = Field((), description="receiver names the rule routes to; empty: default")
    dedup_window_s: float | None = Field(
        None, description="the rule's dedup window in seconds; None: the alerter's default"
    )
    owner: str = Field("", description="who answers for the rule")
    rule_tags: tuple[str, ...] = Field((), description="the rule's tags, for routing")
    language: str | None = Field(None, description="the language the matcher read the article in")
    event: dict[str, str] = Field(
        default_factory=dict, description="what the rule's alerts report, per language ('en': 'Meeting')"
    )
    entity_names: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="display names of ``entities`` per language, '' key: the default name",
    )

    @staticmethod
    def make_id(rule: str, article_id: str) -> str:
        """Return the id of the match of ``rule`` on ``article_id``."""
        return hashlib.sha256(f"{rule}\x00{article_id}".encode()).hexdigest()[:24]


class Alert(_Message):
    """A notification to a desk: published on the ``alerts`` topic once it is stored in the outbox."""

    id: str
    rule: str
    rule_name: str
    severity: str = "info"
    title: str
    summary: str = ""
    articles: tuple[ArticleRef, ...]
    evidence: tuple[Evidence, ...] = ()
    entities: tuple[str, ...] = ()
    match_ids: tuple[str, ...] = ()
    created_at: datetime = Field(default_factory=utcnow)
    revision: int = Field(1, ge=1, description="bumped each time an article joins the alert's event")
    updated_at: datetime | None = Field(None, description="when the last article joined; None: never")
    tags: tuple[str, ...] = Field((), description="tags of the articles (from their feeds), for routing")
    changes: tuple[str, ...] = Field((), description="material changes since the first message (escalations)")
    receivers: tuple[str, ...] = Field((), description="receivers the alert was routed to")
    event: dict[str, str] = Field(default_factory=dict, description="what happened, per language")
    entity_names: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="display names of the entities per language, '' key: default"
    )
