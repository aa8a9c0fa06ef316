"""Matching stage: watched entities (gazetteer + spaCy NER) and YAML watchlists turn Articles into Matches."""

from monitor.matching.engine import Analysis, MatchEngine

__all__ = ["Analysis", "MatchEngine"]
