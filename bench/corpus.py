"""A fixed, seeded corpus of ~600-word French and English articles, so runs are comparable.

Bodies are sentences of common news words; a share of the articles also holds one sentence that a
shipped watchlist fires on (two watched leaders meeting, a military parade), in the article's language.
English has no spaCy model in newsmon's default settings: English articles match through the gazetteer.
"""

from __future__ import annotations

import random

from monitor.models import Article

_WORDS = [
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "gouvernement",
    "président",
    "ministre",
    "réunion",
    "accord",
    "économie",
    "marché",
    "sécurité",
    "frontière",
    "élection",
    "parlement",
    "budget",
    "réforme",
    "crise",
    "énergie",
    "climat",
    "santé",
    "hôpital",
    "école",
    "université",
    "entreprise",
    "emploi",
    "salaire",
    "inflation",
    "banque",
    "euro",
    "dollar",
    "pétrole",
    "gaz",
    "électricité",
    "transport",
    "train",
    "avion",
    "port",
    "ville",
    "région",
    "pays",
    "monde",
    "Europe",
    "Asie",
    "Afrique",
    "Amérique",
    "sommet",
    "diplomatie",
    "armée",
    "défense",
    "coopération",
    "échange",
    "commerce",
    "annonce",
    "déclaration",
    "conférence",
    "presse",
    "journal",
    "rapport",
    "enquête",
    "justice",
    "tribunal",
    "police",
    "manifestation",
]
_WORDS_EN = [
    "the",
    "a",
    "of",
    "and",
    "in",
    "to",
    "government",
    "president",
    "minister",
    "meeting",
    "agreement",
    "economy",
    "market",
    "security",
    "border",
    "election",
    "parliament",
    "budget",
    "reform",
    "crisis",
    "energy",
    "climate",
    "health",
    "hospital",
    "school",
    "university",
    "company",
    "jobs",
    "wages",
    "inflation",
    "bank",
    "euro",
    "dollar",
    "oil",
    "gas",
    "electricity",
    "transport",
    "train",
    "plane",
    "port",
    "city",
    "region",
    "country",
    "world",
    "Europe",
    "Asia",
    "Africa",
    "America",
    "summit",
    "diplomacy",
    "army",
    "defence",
    "cooperation",
    "exchange",
    "trade",
    "announcement",
    "statement",
    "conference",
    "press",
    "newspaper",
    "report",
    "inquiry",
    "justice",
    "court",
    "police",
    "protest",
]
_SENTENCES_WITH_ENTITIES = (
    "Le président chinois Xi Jinping a rencontré jeudi à Pékin le dirigeant nord-coréen Kim Jong-un.",
    "Vladimir Poutine et Kim Jong-un ont tenu des entretiens au Kremlin.",
    "Un grand défilé militaire est prévu dans la capitale le mois prochain.",
)
_SENTENCES_WITH_ENTITIES_EN = (
    "Chinese President Xi Jinping met North Korean leader Kim Jong Un in Beijing on Thursday.",
    "Vladimir Putin and Kim Jong Un held talks at the Kremlin.",
    "A large military parade with tanks and troops is planned in the capital next month.",
)
#: Per language: the vocabulary of the filler sentences, and the sentences a shipped watchlist fires on.
LANGUAGES = {
    "fr": (_WORDS, _SENTENCES_WITH_ENTITIES),
    "en": (_WORDS_EN, _SENTENCES_WITH_ENTITIES_EN),
}


def make_corpus(
    n: int,
    *,
    watched_share: float = 0.1,
    words: int = 600,
    seed: int = 42,
    languages: tuple[str, ...] = ("fr",),
) -> list[Article]:
    """Return ``n`` articles of about ``words`` words; ``watched_share`` of them mention watched entities.

    With several ``languages`` each article draws its own; with one, the corpus is the same as before
    English existed (same seed, same articles), so figures stay comparable across versions.
    """
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown or not languages:
        raise ValueError(f"unknown languages {unknown}; valid languages are {sorted(LANGUAGES)}")
    rng = random.Random(seed)
    out: list[Article] = []
    for i in range(n):
        language = languages[0] if len(languages) == 1 else rng.choice(languages)
        vocabulary, watched = LANGUAGES[language]
        sentences: list[str] = []
        count = 0
        while count < words:
            length = rng.randint(8, 25)
            sentence = " ".join(rng.choice(vocabulary) for _ in range(length)).capitalize() + "."
            sentences.append(sentence)
            count += length
        if rng.random() < watched_share:
            sentences.insert(rng.randrange(len(sentences)), rng.choice(watched))
        out.append(
            Article(
                id=f"bench-{seed}-{i}",
                feed_id="bench",
                url=f"https://bench.invalid/{i}",
                title=f"Article {i}",
                text=" ".join(sentences),
                language=language,
            )
        )
    return out


def is_watched(article: Article) -> bool:
    """Return whether ``article`` holds one of the sentences a shipped watchlist fires on."""
    _, watched = LANGUAGES[article.language or "fr"]
    return any(sentence in article.text for sentence in watched)


def feed_corpora(
    feeds: int, per_feed: int, *, watched_share: float, seed: int, languages: tuple[str, ...] = ("fr", "en")
) -> list[list[Article]]:
    """Return ``per_feed`` articles for each of ``feeds`` feeds, each feed in one language (in turn).

    A news feed declares one language and its items are in it; cutting a mixed corpus into feeds gave
    each feed its first article's language, so half the articles were declared in the wrong one.
    """
    of_feed = [languages[f % len(languages)] for f in range(feeds)]
    counts = {lang: of_feed.count(lang) for lang in languages}
    pools = {
        lang: make_corpus(n * per_feed, watched_share=watched_share, seed=seed + k, languages=(lang,))
        for k, (lang, n) in enumerate(counts.items())
    }
    taken = dict.fromkeys(languages, 0)
    out: list[list[Article]] = []
    for lang in of_feed:
        start = taken[lang]
        out.append(pools[lang][start : start + per_feed])
        taken[lang] = start + per_feed
    return out
