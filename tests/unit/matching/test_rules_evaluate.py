"""``newsmon rules evaluate`` and ``rules test --explain``: the measurement analysts run themselves."""

from __future__ import annotations

import io
import json
from pathlib import Path

from monitor.matching.inputs import read_articles
from monitor.matching.rules_evaluate import run_rules_evaluate
from monitor.matching.rules_test import run_rules_test
from tests.fixtures.rules import RULES

MODELS = {"fr": "fr_core_news_sm"}

# Our own sentences, labelled by the definitions: two hits, a miss (a meeting told without a word of
# meeting the rules know) and a false alarm-free negative.
SAMPLE = {
    "fr_1.txt": ("Sommet\n\nXi Jinping a rencontré Vladimir Poutine à Moscou.", ["leaders_meeting"]),
    "en_1.txt": ("Talks\n\nVladimir Putin met Xi Jinping in Beijing on Tuesday.", ["leaders_meeting"]),
    "en_2.txt": ("Call\n\nXi Jinping and Vladimir Putin spoke by phone on Monday.", []),
    "en_3.txt": ("Pyongyang\n\nKim Jong Un saw Vladimir Putin off at the station.", ["leaders_meeting"]),
    "de_1.txt": ("Parade\n\nIn Peking fand eine große Militärparade statt.", ["military_parade"]),
}


def _sample(tmp_path: Path) -> Path:
    labels = {"articles": {}}
    for name, (text, expected) in SAMPLE.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        labels["articles"][name] = {"labels": expected, "language": name[:2]}
    (tmp_path / "labels.yaml").write_text(json.dumps(labels), encoding="utf-8")  # JSON is YAML
    return tmp_path


def test_evaluate_scores_each_watchlist_and_language_and_explains_the_miss(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_rules_evaluate(_sample(tmp_path), None, RULES, MODELS, "json", out)
    assert code == 0
    report = json.loads(out.getvalue())
    assert report["articles"] == 5
    meeting = report["watchlists"]["leaders_meeting"]
    assert (meeting["tp"], meeting["fp"], meeting["fn"], meeting["tn"]) == (2, 0, 1, 2)
    assert (meeting["precision"], meeting["recall"]) == (1.0, 0.667)
    assert report["watchlists"]["military_parade"]["f1"] == 1.0
    assert report["languages"]["en"]["leaders_meeting"]["fn"] == 1
    (miss,) = report["errors"]
    assert (miss["article"], miss["kind"], miss["reason"]) == ("en_3.txt", "miss", "no_keyword")
    assert "meeting" in miss["why"]


def test_evaluate_text_report_and_a_bad_labels_file(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_rules_evaluate(_sample(tmp_path), None, RULES, MODELS, "text", out) == 0
    assert "leaders_meeting" in out.getvalue()
    assert "en_3.txt [en] no_keyword" in out.getvalue()
    (tmp_path / "bad.yaml").write_text("articles: [1, 2]", encoding="utf-8")
    out = io.StringIO()
    assert run_rules_evaluate(tmp_path, tmp_path / "bad.yaml", RULES, MODELS, "text", out) == 1
    assert "bad.yaml" in out.getvalue()
    assert "articles" in out.getvalue()


def test_explain_says_why_a_watchlist_did_not_fire(tmp_path: Path) -> None:
    path = tmp_path / "call.txt"
    path.write_text(
        "Appel\n\nXi Jinping s'est entretenu par téléphone avec Vladimir Poutine.", encoding="utf-8"
    )
    out = io.StringIO()
    assert run_rules_test([path], RULES, MODELS, "json", out, explain=True) == 0
    why = json.loads(out.getvalue())["why_not"]
    assert why["leaders_meeting"]["kind"] == "excluded"
    assert "téléphone" in why["leaders_meeting"]["detail"]
    assert why["military_parade"]["kind"] == "no_keyword"


def test_a_text_file_starting_with_a_bracket_is_text(tmp_path: Path) -> None:
    path = tmp_path / "wire.txt"
    path.write_text("[Reuters] Putin meets Xi\n\nVladimir Putin met Xi Jinping in Moscow.", encoding="utf-8")
    (article,) = read_articles(path)
    assert article.title == "[Reuters] Putin meets Xi"
    out = io.StringIO()
    run_rules_test([path], RULES, MODELS, "json", out)
    record = json.loads(out.getvalue())
    assert record["language"] == "en"
    assert [m["rule"] for m in record["matches"]] == ["leaders_meeting"]
