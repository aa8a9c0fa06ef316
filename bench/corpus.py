"""A fixed, seeded corpus of ~600-word French articles, so runs are comparable."""

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
_SENTENCES_WITH_ENTITIES = (
    "Le président chinois Xi Jinping a rencontré jeudi à Pékin le dirigeant nord-coréen Kim Jong-un.",
    "Vladimir Poutine et Kim Jong-un ont tenu des entretiens au Kremlin.",
    "Un grand défilé militaire est prévu dans la capitale le mois prochain.",
)


def make_corpus(n: int, *, watched_share: float = 0.1, words: int = 600, seed: int = 42) -> list[Article]:
    """Return ``n`` articles of about ``words`` words; ``watched_share`` of them mention watched entities."""
    rng = random.Random(seed)
    out: list[Article] = []
    for i in range(n):
        sentences: list[str] = []
        count = 0
        while count < words:
            length = rng.randint(8, 25)
            sentence = " ".join(rng.choice(_WORDS) for _ in range(length)).capitalize() + "."
            sentences.append(sentence)
            count += length
        if rng.random() < watched_share:
            sentences.insert(rng.randrange(len(sentences)), rng.choice(_SENTENCES_WITH_ENTITIES))
        out.append(
            Article(
                id=f"bench-{seed}-{i}",
                feed_id="bench",
                url=f"https://bench.invalid/{i}",
                title=f"Article {i}",
                text=" ".join(sentences),
                language="fr",
            )
        )
    return out
