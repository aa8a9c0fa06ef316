"""Read the seed articles from ../shared/seeds at test time (their text never enters the repository)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import yaml

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
_DATE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*")


@dataclass(frozen=True)
class Seed:
    """One seed article: its file name, title, date, body and expected watchlists."""

    name: str
    title: str
    published: datetime | None
    body: str
    labels: frozenset[str]


def load_seeds() -> list[Seed]:
    """Return the five seeds with the labels of labels.yaml."""
    labels = yaml.safe_load((SEEDS / "labels.yaml").read_text(encoding="utf-8"))["articles"]
    seeds = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines = list(path.read_text(encoding="utf-8").splitlines())
        first = next(i for i, ln in enumerate(lines) if ln.strip())
        title, published = lines[first].strip(), None
        m = _DATE.match(lines[first])
        if m:
            published = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC)
            title = lines[first][m.end() :].strip()
        body = "\n".join(lines[first + 1 :]).strip()
        seeds.append(Seed(path.name, title, published, body, frozenset(labels[path.name]["labels"])))
    return seeds


def seeds_as_rss(
    seeds: list[Seed],
    base_url: str = "https://seeds.example.org",
    *,
    plain: bool = False,
    language: bool = True,
) -> bytes:
    """Return an RSS 2.0 document with one item per seed (link and GUID derived from the file name).

    ``plain`` writes each description as plain text with line breaks (as many feeds do) instead of
    HTML paragraphs; ``language=False`` leaves the channel's ``<language>`` out.
    """
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = "newsmon seed articles"
    ET.SubElement(channel, "link").text = base_url
    if language:
        ET.SubElement(channel, "language").text = "fr"
    for seed in seeds:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = seed.title
        ET.SubElement(item, "link").text = f"{base_url}/{seed.name.removesuffix('.txt')}"
        ET.SubElement(item, "guid", isPermaLink="false").text = seed.name
        if seed.published:
            ET.SubElement(item, "pubDate").text = format_datetime(seed.published)
        # Paragraphs as HTML, as news feeds carry them: a heading must not run into the next sentence.
        paragraphs = [p.strip() for p in seed.body.splitlines() if p.strip()]
        if plain:
            ET.SubElement(item, "description").text = "\n".join(paragraphs)
        else:
            ET.SubElement(item, "description").text = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, encoding="unicode")).encode("utf-8")
