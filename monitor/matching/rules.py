"""Watchlist rules: the YAML schema and the loader that checks a rules folder before anything runs.

A rules folder holds ``entities.yaml`` (the gazetteer) and one YAML file per watchlist; the schema is
described for authors in ``rules/README.md``. Every mistake fails the load with ``path:line: field:
message``, because a rule that silently never fires is worse than a service that refuses to start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from monitor.errors import RuleError
from monitor.matching.durations import Duration
from monitor.matching.gazetteer import Gazetteer
from monitor.matching.terms import Term
from monitor.matching.yamlfile import LineIndex, load_yaml, validate

__all__ = [
    "ENTITIES_FILE",
    "Condition",
    "EntitySet",
    "Example",
    "Examples",
    "Filters",
    "Negation",
    "Rule",
    "RuleSet",
    "load_rule",
    "load_rule_set",
    "load_rules",
    "rule_files",
]

ENTITIES_FILE = "entities.yaml"

Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
TermText = Annotated[str, StringConstraints(min_length=1)]
Terms = dict[Language, list[TermText]]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntitySet(_Strict):
    """Which watched entities a sentence must (or must not) name: exactly one of of/all/any/none."""

    of: list[Identifier] | None = Field(None, description="with at_least: at least N distinct ids of these")
    at_least: int = Field(1, ge=1)
    all: list[Identifier] | None = None
    any: list[Identifier] | None = None
    none: list[Identifier] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> EntitySet:
        modes = [m for m in ("of", "all", "any", "none") if getattr(self, m) is not None]
        if len(modes) != 1:
            raise ValueError(f"give exactly one of of/all/any/none (got {modes or 'none of them'})")
        if "at_least" in self.model_fields_set and self.of is None:
            raise ValueError("at_least goes with of")
        if self.of is not None and self.at_least > len(self.of):
            raise ValueError(f"at_least {self.at_least} exceeds the {len(self.of)} entities listed in of")
        return self

    @property
    def mode(self) -> Literal["of", "all", "any", "none"]:
        """Return which of the four forms this set uses."""
        if self.of is not None:
            return "of"
        if self.all is not None:
            return "all"
        return "any" if self.any is not None else "none"

    @property
    def ids(self) -> list[str]:
        """Return the entity ids listed."""
        return list(self.of or self.all or self.any or self.none or [])

    def describe(self) -> str:
        """Return the requirement in words: "at least 2 of [a, b, c]"."""
        listed = ", ".join(self.ids)
        if self.mode == "of":
            return f"at least {self.at_least} of [{listed}]"
        return f"{self.mode} of [{listed}]"

    def holds(self, present: set[str]) -> bool:
        """Return whether a sentence naming ``present`` satisfies the set."""
        ids = set(self.ids)
        if self.mode == "of":
            return len(ids & present) >= self.at_least
        if self.mode == "all":
            return ids <= present
        if self.mode == "any":
            return bool(ids & present)
        return not ids & present


class Condition(_Strict):
    """One test on a sentence: exactly one of entities, keywords or no_keywords."""

    name: Identifier = Field(description="shown in the evidence of a match")
    description: str = ""
    entities: EntitySet | None = None
    skip_after: Terms = Field(
        default_factory=dict,
        description="entity mentions right after these words are topics, not participants ('parler de X')",
    )
    related_to: Identifier | None = Field(
        None,
        description="count only mentions the dependency parse ties to a keyword of this keywords condition",
    )
    keywords: Terms | None = Field(None, description="the sentence holds one of these terms, not negated")
    no_keywords: Terms | None = Field(None, description="the sentence holds none of these terms")

    @model_validator(mode="after")
    def _one_kind(self) -> Condition:
        kinds = [k for k in ("entities", "keywords", "no_keywords") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"give exactly one of entities/keywords/no_keywords (got {kinds or 'none of them'})"
            )
        if self.skip_after and self.entities is None:
            raise ValueError("skip_after goes with entities")
        if self.related_to is not None and (self.entities is None or self.entities.mode == "none"):
            raise ValueError("related_to goes with entities (of, all or any)")
        return self

    @property
    def positive(self) -> bool:
        """Return whether the condition asks for something present (so it yields evidence)."""
        if self.entities is not None:
            return self.entities.mode != "none"
        return self.keywords is not None


class Negation(_Strict):
    """Words that cancel a keyword: just before it (``before``), or anywhere in its sentence."""

    window: int = Field(3, ge=1, le=10, description="how many words before a keyword a cue may stand")
    windows: dict[Language, Annotated[int, Field(ge=1, le=20)]] = Field(
        default_factory=dict,
        description="window per language, where tokens are shorter than words (zh: one per character)",
    )
    before: Terms = Field(default_factory=dict, description="'pas', 'sans', 'refuser', 'not', 'no'")
    particles: Terms = Field(
        default_factory=dict,
        description="'ne', 'jamais', 'aucun': negate alone, but with a before cue form one negation",
    )
    sentence: Terms = Field(default_factory=dict, description="'annuler', 'démentir': the whole sentence")


class Filters(_Strict):
    """Which articles the rule looks at, before any text is read."""

    feeds: list[str] | None = Field(None, min_length=1, description="only articles of these feed ids")
    tags: list[Label] | None = Field(None, min_length=1, description="only articles with one of these tags")
    exclude_tags: list[Label] = Field(default_factory=list, description="never articles with these tags")
    max_age: Duration | None = Field(None, description="skip articles published longer ago (7d, 12h)")


class Example(_Strict):
    """A short text the rule must (or must not) match; written for the rule, never copied from news."""

    text: str = Field(min_length=1)
    language: Language | None = Field(None, description="default: the rule's first language")


class Examples(_Strict):
    """Texts that document and test the rule."""

    match: list[Example] = Field(default_factory=list)
    no_match: list[Example] = Field(default_factory=list)

    @field_validator("match", "no_match", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"text": v} if isinstance(v, str) else v for v in value]
        return value


class Rule(_Strict):
    """One watchlist: it fires on an article when enough sentences satisfy all its conditions."""

    id: Identifier
    name: str = Field(min_length=1)
    description: str = ""
    event: dict[Language, str] = Field(
        default_factory=dict,
        description="what an alert of the rule reports, per language ('en': 'Meeting'); default: the name",
    )
    severity: Literal["info", "low", "medium", "high", "critical"] = "info"
    owner: str = Field("", description="who answers for the rule (a person, a desk, an address)")
    receivers: list[Label] = Field(default_factory=list, description="alert receivers, by name")
    dedup_window: Duration | None = Field(None, description="one alert per event within this time (6h)")
    tags: list[Label] = Field(default_factory=list, description="free labels the alerter may route on")
    languages: list[Language] = Field(min_length=1)
    filters: Filters = Field(default_factory=Filters)
    scope: Literal["sentence", "sentences"] = Field(
        "sentence", description="where all conditions must hold together: one sentence, or a few in a row"
    )
    sentences: int = Field(
        2, ge=2, le=5, description="with scope: sentences, how many consecutive sentences (title included)"
    )
    within: int | None = Field(
        None, ge=1, le=200, description="all positive conditions inside a window of this many tokens"
    )
    threshold: float = Field(1.0, gt=0, description="sentences needed to fire (the score is their count)")
    negation: Negation = Field(default_factory=Negation)
    conditions: list[Condition] = Field(min_length=1)
    examples: Examples = Field(default_factory=Examples)


def _check_languages(rule: Rule, index: LineIndex) -> None:
    languages = set(rule.languages)
    valid = ", ".join(rule.languages)

    def only_rule_languages(terms: Terms, loc: tuple[int | str, ...]) -> None:
        for language in terms:
            if language not in languages:
                raise index.error((*loc, language), f"language {language!r} is not in languages [{valid}]")

    for i, cond in enumerate(rule.conditions):
        if cond.keywords is not None:
            only_rule_languages(cond.keywords, ("conditions", i, "keywords"))
            for language in rule.languages:
                if not cond.keywords.get(language):
                    raise index.error(("conditions", i, "keywords"), f"no terms for language {language!r}")
        only_rule_languages(cond.no_keywords or {}, ("conditions", i, "no_keywords"))
        only_rule_languages(cond.skip_after, ("conditions", i, "skip_after"))
    only_rule_languages({key: [] for key in rule.negation.windows}, ("negation", "windows"))
    only_rule_languages(rule.negation.before, ("negation", "before"))
    only_rule_languages(rule.negation.particles, ("negation", "particles"))
    only_rule_languages(rule.negation.sentence, ("negation", "sentence"))
    for kind in ("match", "no_match"):
        for j, example in enumerate(getattr(rule.examples, kind)):
            if example.language is not None and example.language not in languages:
                raise index.error(
                    ("examples", kind, j, "language"), f"language {example.language!r} is not in [{valid}]"
                )


def _check_terms(rule: Rule, index: LineIndex) -> None:
    groups: list[tuple[tuple[int | str, ...], Terms]] = [
        (("negation", "before"), rule.negation.before),
        (("negation", "particles"), rule.negation.particles),
        (("negation", "sentence"), rule.negation.sentence),
    ]
    for i, cond in enumerate(rule.conditions):
        for field in ("keywords", "no_keywords", "skip_after"):
            groups.append((("conditions", i, field), getattr(cond, field) or {}))
    for loc, terms in groups:
        for language, texts in terms.items():
            for j, text in enumerate(texts):
                try:
                    Term.parse(text)
                except ValueError as e:
                    raise index.error((*loc, language, j), str(e)) from e


def _check_entities(rule: Rule, index: LineIndex, gazetteer: Gazetteer) -> None:
    valid = ", ".join(sorted(gazetteer.ids))
    for i, cond in enumerate(rule.conditions):
        if cond.entities is None:
            continue
        for j, entity_id in enumerate(cond.entities.ids):
            if entity_id not in gazetteer.ids:
                raise index.error(
                    ("conditions", i, "entities", cond.entities.mode, j),
                    f"unknown entity {entity_id!r}; valid entities are [{valid}]",
                )


def load_rule(path: Path, gazetteer: Gazetteer) -> Rule:
    """Read and check one watchlist file against ``gazetteer``.

    Raises:
        RuleError: ``path:line: field: message``.
    """
    return _load_rule(path, gazetteer)[0]


def _load_rule(path: Path, gazetteer: Gazetteer) -> tuple[Rule, LineIndex]:
    data, index = load_yaml(path)
    rule = validate(Rule, data, index)
    names = [c.name for c in rule.conditions]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise index.error(("conditions", i, "name"), f"duplicate condition name {name!r}")
    if not any(c.positive for c in rule.conditions):
        raise index.error(("conditions",), "needs at least one condition that asks for entities or keywords")
    keyword_names = [c.name for c in rule.conditions if c.keywords is not None]
    for i, cond in enumerate(rule.conditions):
        if cond.related_to is not None and cond.related_to not in keyword_names:
            raise index.error(
                ("conditions", i, "related_to"),
                f"{cond.related_to!r} is not a keywords condition of this rule; "
                f"valid names are [{', '.join(keyword_names)}]",
            )
    _check_languages(rule, index)
    _check_terms(rule, index)
    _check_entities(rule, index, gazetteer)
    return rule, index


@dataclass(frozen=True)
class RuleSet:
    """A loaded rules folder: the gazetteer, the rules, and where each rule came from."""

    gazetteer: Gazetteer
    rules: list[Rule]
    sources: dict[str, tuple[Path, LineIndex]]
    """Rule id → its file and the line of each of its fields, to point at a failing example."""

    def where(self, rule_id: str, loc: tuple[int | str, ...]) -> str:
        """Return ``path:line`` of field ``loc`` of rule ``rule_id``."""
        path, index = self.sources[rule_id]
        return f"{path}:{index.line(loc)}"


def load_rule_set(rules_dir: Path) -> RuleSet:
    """Read ``rules_dir``: ``entities.yaml`` and every other ``*.yaml``/``*.yml`` file, one rule each.

    Raises:
        RuleError: the folder or a file is missing or invalid, or two files share a rule id.
    """
    if not rules_dir.is_dir():
        raise RuleError(f"{rules_dir}: rules folder not found")
    entities = rules_dir / ENTITIES_FILE
    if not entities.is_file():
        raise RuleError(f"{entities}: gazetteer file not found (every rules folder needs one)")
    gazetteer = Gazetteer.load(entities)
    files = rule_files(rules_dir)
    if not files:
        raise RuleError(f"{rules_dir}: no watchlist files (*.yaml besides {ENTITIES_FILE})")
    rules: list[Rule] = []
    sources: dict[str, tuple[Path, LineIndex]] = {}
    for path in files:
        rule, index = _load_rule(path, gazetteer)
        if rule.id in sources:
            raise index.error(("id",), f"rule id {rule.id!r} is already used by {sources[rule.id][0]}")
        sources[rule.id] = (path, index)
        rules.append(rule)
    return RuleSet(gazetteer, rules, sources)


def rule_files(rules_dir: Path) -> list[Path]:
    """Return the watchlist files of ``rules_dir``, sorted: every ``*.yaml``/``*.yml`` but the gazetteer."""
    try:
        return sorted(
            p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.name != ENTITIES_FILE
        )
    except OSError as e:
        raise RuleError(f"{rules_dir}: cannot list the rules folder: {e}") from e


def load_rules(rules_dir: Path) -> tuple[Gazetteer, list[Rule]]:
    """Read ``rules_dir`` (see :func:`load_rule_set`) and return its gazetteer and rules.

    Raises:
        RuleError: the folder or a file is missing or invalid, or two files share a rule id.
    """
    rule_set = load_rule_set(rules_dir)
    return rule_set.gazetteer, rule_set.rules
