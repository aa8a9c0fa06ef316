"""The bar newsmon's watchlists must clear: a plain boolean keyword query over the same labelled sample.

    python -m bench.keyword_query FOLDER [--labels FILE] [--newsmon REPORT.json]

leaders_meeting fires when an article names two of the three leaders and any word of meeting, in any
language; military_parade when it holds any word of parade (substring, case-insensitive, Traditional
Chinese written as is). With ``--newsmon`` (the output of ``newsmon rules evaluate --format json``) it
prints, per language, the errors of each, so the comparison the issue asks for reruns in one command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

LEADERS = {
    "kim": ["kim jong", "김정은", "金正恩", "ким чен", "кім чен", "كيم جونغ", "キム・ジョンウン"],
    "xi": ["xi jinping", "习近平", "習近平", "시진핑", "си цзиньпин", "сі цзіньпін", "شي جين"],
    "putin": ["putin", "poutine", "путин", "путін", "普京", "普丁", "푸틴", "プーチン", "بوتين"],
}
MEETING = ["meet", "met ", "summit", "talks", "visit", "rencontr", "sommet", "entretien", "treff", "gipfel",
           "gespräch", "reuni", "cumbre", "encuentr", "incontr", "vertice", "colloqui", "encontr", "cúpula",
           "встреч", "переговор", "саммит", "зустр", "саміт", "会见", "会晤", "会谈", "會談", "會晤", "會見",
           "峰会", "峰會", "会談", "首脳", "회담", "만나", "التقى", "لقاء", "قمة", "محادثات"]  # fmt: skip
PARADE = ["military parade", "parade", "défilé militaire", "militärparade", "desfile militar",
          "parata militare", "парад", "阅兵", "閱兵", "軍事パレード", "열병식", "عرض عسكري"]  # fmt: skip


def fires(text: str) -> set[str]:
    """Return the watchlists the keyword query fires on ``text``."""
    t = text.casefold()
    fired = set()
    if sum(any(n in t for n in names) for names in LEADERS.values()) >= 2 and any(w in t for w in MEETING):
        fired.add("leaders_meeting")
    if any(w in t for w in PARADE):
        fired.add("military_parade")
    return fired


def main() -> None:
    """Score the query on a labelled folder; compare with a newsmon report when given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--labels", type=Path, default=None)
    parser.add_argument("--newsmon", type=Path, default=None, help="newsmon rules evaluate --format json")
    args = parser.parse_args()
    labels = yaml.safe_load((args.labels or args.folder / "labels.yaml").read_text(encoding="utf-8"))
    counts: dict[str, dict[str, int]] = {}
    errors: dict[str, int] = {}
    for name, entry in labels["articles"].items():
        fired = fires((args.folder / name).read_text(encoding="utf-8"))
        language = str(entry.get("language", "?"))
        for w in ("leaders_meeting", "military_parade"):
            c = counts.setdefault(w, {"tp": 0, "fp": 0, "fn": 0})
            expected = w in entry["labels"]
            key = "tp" if expected and w in fired else "fp" if w in fired else "fn" if expected else ""
            if key:
                c[key] += 1
            if key in ("fp", "fn"):
                errors[language] = errors.get(language, 0) + 1
    for w, c in counts.items():
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
        r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
        print(f"keyword query {w:<16} P {p:.2f}  R {r:.2f}  F1 {2 * p * r / (p + r) if p + r else 0:.2f}")
    ours: dict[str, int] = {}
    if args.newsmon:
        report = json.loads(args.newsmon.read_text(encoding="utf-8"))
        for lang, scores in report["languages"].items():
            ours[lang] = sum(s["fp"] + s["fn"] for s in scores.values())
    print(f"\n{'language':<9} {'query errors':>12} {'newsmon errors':>15}")
    for lang in sorted(set(errors) | set(ours)):
        mark = "  <-- newsmon worse" if ours.get(lang, 0) > errors.get(lang, 0) else ""
        print(f"{lang:<9} {errors.get(lang, 0):>12} {ours.get(lang, '-')!s:>15}{mark}")


if __name__ == "__main__":
    main()
