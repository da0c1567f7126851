"""Readers side by side on validation articles only, for choosing one: ``python -m bench.compare_readers
--data ../shared/train READER_FOLDER…``.

Each reader is given each question's gold paragraph (the reader alone; retrieval and abstention play no
part), on the same questions: the CMRC 2018 train validation slice (needs ``--data``), and the
validation articles of CMRC 2018 dev, DRCD dev, XQuAD zh and XQuAD en questions over the zh paragraphs;
``--per-set`` questions of each, drawn with a fixed seed. Never held-out articles. Writes
bench/results/compare_readers.{json,md}, the first folder being the baseline the others are compared to.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from qa.eval.harness import reader_alone
from qa.reading.transformer import BundledReader

from .common import table, write


def validation_sets(data: Path, per_set: int, seed: int = 7) -> dict[str, list[tuple[str, str, list[str]]]]:
    """(question, gold paragraph, answers), ``per_set`` of each set of ``calibrate.validation_sources``."""
    from qa.train.calibrate import validation_sources

    sets = {}
    for name, (paragraphs, texts, _) in validation_sources(data).items():
        rows = [
            (texts[q.qid] if texts else q.text, p.context, list(q.answers))
            for p in paragraphs
            for q in p.questions
            if not texts or q.qid in texts
        ]
        random.Random(seed).shuffle(rows)
        sets[name] = rows[:per_set]
    return sets


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.compare_readers", description=__doc__.split("\n\n")[0])
    ap.add_argument("readers", type=Path, nargs="+", help="exported reader folders; the first is the baseline")
    ap.add_argument("--data", type=Path, required=True, help="folder with cmrc2018_train.json (../shared/train)")
    ap.add_argument("--per-set", type=int, default=400)
    args = ap.parse_args(argv)
    sets = validation_sets(args.data, args.per_set)
    rows = []
    for folder in args.readers:
        reader = BundledReader(folder)
        scores = {name: reader_alone(reader, items) for name, items in sets.items()}
        row = {"reader": str(folder), **{n: s["f1"] for n, s in scores.items()}}
        row["mean_f1"] = sum(s["f1"] for s in scores.values()) / len(scores)
        row["em"] = {n: s["em"] for n, s in scores.items()}
        if rows:
            base = rows[0]
            row["worse_sets"] = sum(row[n] < base[n] for n in sets)
            row["mean_gain"] = row["mean_f1"] - base["mean_f1"]
        rows.append(row)
    md = f"### Readers alone on validation articles (gold paragraph, F1, {args.per_set} questions per set)\n\n" + table(
        rows, ["reader", *sets, "mean_f1", "mean_gain", "worse_sets"]
    )
    write("compare_readers", {"per_set": args.per_set, "rows": rows}, md)
    return {"rows": rows}


if __name__ == "__main__":
    main()
