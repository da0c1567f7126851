"""Quality of the feature ranker: lexical vs dense vs hybrid retrieval, the naive sentence baseline vs the ranker."""

from __future__ import annotations

from qa import QA, Settings
from qa.eval import harness
from qa.reading import Extractor
from qa.text import sentence_spans, terms
from qa.types import Span

from .common import SETS, table, write


class NaiveExtractor:
    """Baseline: the sentence of the top passage with the largest term overlap with the question."""

    threshold = 0.5

    def warm_up(self) -> None:
        pass

    def extract(self, question, passages, documents):
        if not passages:
            return None
        p = passages[0]
        text = documents[p.chunk.doc_id].text
        q = set(terms(question.text))
        a, b = max(
            sentence_spans(text, p.chunk.start, p.chunk.end), key=lambda s: len(q & set(terms(text[s[0] : s[1]])))
        )
        return Span(p.chunk.doc_id, a, b, a, b, p.rank, 1.0, 1.0)


def run(limit: int | None = None) -> dict:
    rows = []
    for name, (path, contexts) in SETS.items():
        split = "all" if path.suffix == ".jsonl" else "heldout"
        # The feature ranker's table (the transformer reader has its own, bench/reader.py).
        settings = Settings.from_env().with_(reader="ranker")
        engine, items, gold_by, setting = harness.load_task(path, settings, "hybrid", split, contexts)
        items = items[:limit] if limit else items
        for mode in ("lexical", "dense", "hybrid"):
            other = QA(engine.store, engine.embedder, mode, settings, engine.reader)
            m = harness.evaluate(other, items, 5, gold_by, drop_gold=mode == "hybrid").metrics
            rows.append({"data": name, "retriever": mode, "extractor": "learned ranker (default)", **m})
        m = harness.evaluate(
            QA(engine.store, engine.embedder, "hybrid", settings, Extractor()), items, 5, gold_by
        ).metrics
        rows.append({"data": name, "retriever": "hybrid", "extractor": "hand-written scoring (QA_RANKER=off)", **m})
        naive = QA(engine.store, engine.embedder, "hybrid", settings, NaiveExtractor())
        m = harness.evaluate(naive, items, 5, gold_by).metrics
        rows.append(
            {"data": name, "retriever": "hybrid", "extractor": "naive: best-overlap sentence of top passage", **m}
        )
    cols = [
        "data",
        "retriever",
        "extractor",
        "questions",
        "recall@1",
        "recall@5",
        "mrr@10",
        "em",
        "f1",
        "em_no_abstain",
        "f1_no_abstain",
        "reader_em",
        "reader_f1",
        "latency_p50_ms",
    ]
    abstention = [
        {k.replace("gold_removed_", "removed_"): v for k, v in r.items()}
        for r in rows
        if r["extractor"].startswith("learned") and r["retriever"] == "hybrid"
    ]
    acols = [
        "data",
        "questions",
        "abstain_precision",
        "abstain_recall",
        "removed_questions",
        "removed_abstain_precision",
        "removed_abstain_recall",
    ]
    md = (
        "### Retrieval and answer quality (open retrieval, CMRC 2018 metric, k=5, model zh-static)\n\n"
        "`em`/`f1`: the engine's answers, abstentions scored 0; `*_no_abstain`: its best span even when it abstains; "
        "`reader_em`/`reader_f1`: the extractor given the gold paragraph only.\n\n"
        + table(rows, cols)
        + "\n\n### Abstention (learned ranker, hybrid retrieval)\n\n"
        '`abstain_*`: the seed set\'s questions whose truth is "not in the articles"; `removed_*`: every SQuAD-format '
        "question asked again with its gold paragraph removed from the pool (skipped when the answer text "
        "still appears in the passages); precision counts those abstentions against the abstentions "
        "on the same questions with the gold paragraph present.\n\n" + table(abstention, acols)
    )
    write("quality", {"rows": rows}, md)
    return {"rows": rows}
