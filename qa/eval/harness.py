"""``python -m qa eval``: retrieval and answer quality, latency and memory on a QA set.

SQuAD-format files (CMRC 2018, DRCD, XQuAD) are evaluated open-retrieval: a temporary in-memory index over
all the file's paragraphs (``index/`` is never touched), every question asked against the whole pool.
JSONL files in the format of ``seed_qa_dev.jsonl`` are asked against the configured seed index. Answers are
scored with the CMRC 2018 metric (``metrics``).
"""

from __future__ import annotations

import json
import logging
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import Settings
from ..types import Passage
from . import squad
from .metrics import exact_match, f1_score, mrr_at, recall_at
from .squad import Item, documents_from_squad, is_squad, items_crosslingual, items_jsonl, items_squad

log = logging.getLogger(__name__)


@dataclass
class Report:
    n: int = 0
    metrics: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def evaluate(engine, items: list[Item], k: int = 5, gold_by: str = "doc_id", drop_gold: bool = False) -> Report:
    """Ask every item; score retrieval (gold by ``doc_id`` or article ``title``), answers, abstention, latency.

    ``drop_gold`` (SQuAD files) asks every question a second time with its gold paragraph removed
    from the pool, where abstaining is right (see ``_gold_removed``)."""
    ranks, answer_ranks, latencies = [], [], []
    em, f1, em_forced, f1_forced, reader_em, reader_f1 = [], [], [], [], [], []
    abstain_tp = abstain_fp = 0
    preds = {}
    by_doc: dict[str, list] = {}
    for c in engine.store.chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    for it in items:
        t0 = time.perf_counter()
        question = it.question.strip() or "?"
        passages = engine.retrieve(question, max(k, 10))
        span = engine.read(question, passages[:k])
        ans = engine.answer_from(question, passages[:k], span)
        latencies.append(time.perf_counter() - t0)
        preds[it.qid] = ans.answer
        docs = [p.chunk.doc_id if gold_by == "doc_id" else p.title for p in passages]
        distinct = list(dict.fromkeys(docs))
        if it.answerable:
            ranks.append(distinct.index(it.gold) + 1 if it.gold in distinct else None)
            # The first passage that contains a gold answer (finer than the article for small corpora).
            answer_ranks.append(
                next((p.rank for p in passages if any(a and a in p.chunk.text for a in it.answers)), None)
            )
            em.append(exact_match(ans.answer, it.answers))
            f1.append(f1_score(ans.answer, it.answers))
            forced = engine.document(span.doc_id).text[span.start : span.end] if span else ""
            em_forced.append(exact_match(forced, it.answers))
            f1_forced.append(f1_score(forced, it.answers))
            if gold_by == "doc_id" and it.gold in by_doc:  # the reader alone, given the gold paragraph
                # its chunks in the order retrieval ranked them (the ones it did not return after, in text order)
                order = {p.chunk.chunk_id: i for i, p in enumerate(passages)}
                chunks = sorted(by_doc[it.gold], key=lambda c: order.get(c.chunk_id, len(order)))
                gold_passages = [Passage(c, engine.document(c.doc_id).title, i + 1, 1.0) for i, c in enumerate(chunks)]
                span = engine.read(question, gold_passages)
                pred = engine.document(span.doc_id).text[span.start : span.end] if span else ""
                reader_em.append(exact_match(pred, it.answers))
                reader_f1.append(f1_score(pred, it.answers))
        else:
            abstain_tp += not ans.answerable
        if it.answerable and not ans.answerable:
            abstain_fp += 1
    m = {
        "questions": len(items),
        "answerable": len(ranks),
        "recall@1": recall_at(ranks, 1),
        "recall@5": recall_at(ranks, 5),
        "recall@10": recall_at(ranks, 10),
        "mrr@10": mrr_at(ranks, 10),
        "answer_recall@5": recall_at(answer_ranks, 5),
        "answer_mrr@10": mrr_at(answer_ranks, 10),
        "em": 100 * _mean(em),
        "f1": 100 * _mean(f1),
        "em_no_abstain": 100 * _mean(em_forced),
        "f1_no_abstain": 100 * _mean(f1_forced),
        "latency_p50_ms": 1000 * _pct(latencies, 50),
        "latency_p95_ms": 1000 * _pct(latencies, 95),
    }
    if reader_em:
        m["reader_em"] = 100 * _mean(reader_em)
        m["reader_f1"] = 100 * _mean(reader_f1)
    unanswerable = len(items) - len(ranks)
    if unanswerable:
        m["abstain_precision"] = abstain_tp / (abstain_tp + abstain_fp) if abstain_tp + abstain_fp else 0.0
        m["abstain_recall"] = abstain_tp / unanswerable
    if drop_gold and gold_by == "doc_id":
        m.update(_gold_removed(engine, items, k, abstain_fp))
    return Report(len(items), m, preds)


def reader_alone(reader, items) -> dict:
    """A transformer reader given each question's gold paragraph: ``items`` are (question, context, answers);
    returns EM / F1 (CMRC metric), the number of questions and the seconds taken."""
    em, f1 = [], []
    t0 = time.perf_counter()
    for question, context, answers in items:
        _, a, b = reader.read(question, [context])[0]
        em.append(exact_match(context[a:b], list(answers)))
        f1.append(f1_score(context[a:b], list(answers)))
    return {"questions": len(em), "em": 100 * _mean(em), "f1": 100 * _mean(f1), "seconds": time.perf_counter() - t0}


def passages_without_gold(engine, question: str, gold: str, answers, k: int = 5) -> list | None:
    """The top ``k`` passages for ``question`` once document ``gold`` is removed from the results, ranked
    1..k; None when an answer text still appears in them (the question is then still answerable)."""
    rest = [p for p in engine.retrieve(question, k + 10) if p.chunk.doc_id != gold][:k]
    if any(a and a in p.chunk.text for p in rest for a in answers):
        return None
    return [replace(p, rank=i + 1) for i, p in enumerate(rest)]


def _gold_removed(engine, items: list[Item], k: int, answerable_abstained: int) -> dict:
    """Abstention when the gold paragraph is removed from the pool: each question is asked over the
    next ``k`` passages (questions whose answer text still appears in them are skipped). Precision counts
    these abstentions against the abstentions on the same questions with the gold paragraph present."""
    asked = abstained = 0
    for it in items:
        if not it.answerable or it.gold is None:
            continue
        question = it.question.strip() or "?"
        rest = passages_without_gold(engine, question, it.gold, it.answers, k)
        if rest is None:
            continue
        asked += 1
        abstained += not engine.answer(question, rest).answerable
    return {
        "gold_removed_questions": asked,
        "gold_removed_abstain_recall": abstained / asked if asked else 0.0,
        "gold_removed_abstain_precision": abstained / (abstained + answerable_abstained)
        if abstained + answerable_abstained
        else 0.0,
    }


def _mean(xs) -> float:
    xs = list(xs)
    return float(np.mean(xs)) if xs else 0.0


def load_task(
    data: Path,
    settings: Settings,
    retriever: str = "hybrid",
    split: str = "all",
    contexts: Path | None = None,
):
    """The engine and the questions for ``data``: (engine, items, gold_by, setting description).

    SQuAD files get an in-memory index of their paragraphs (``split``: which articles); JSONL files are asked
    against the index ``settings`` name. With ``contexts`` (SQuAD format), the paragraphs and gold answers come
    from that file and only the questions from ``data`` (a cross-lingual check: XQuAD English questions over
    the Chinese paragraphs).
    """
    from ..engine import QA

    if is_squad(data):
        paragraphs = squad.split(squad.load(contexts or data), split)
        engine = QA.build(documents_from_squad(paragraphs), mode=retriever, settings=settings)
        if contexts:
            items = items_crosslingual(squad.split(squad.load(data), split), paragraphs)
            where = f"questions of {data.name} over {len(paragraphs)} paragraphs of {contexts.name} ({split} articles)"
            return engine, items, "doc_id", where
        return (
            engine,
            items_squad(paragraphs),
            "doc_id",
            f"open retrieval over {len(paragraphs)} paragraphs ({split} articles)",
        )
    engine = QA.open(settings.article_source(), settings.index, mode=retriever, settings=settings)
    return engine, items_jsonl(data), "title", f"default seed index ({len(engine.store.documents)} articles)"


def run(
    data: Path,
    settings: Settings,
    retriever: str = "hybrid",
    k: int = 5,
    limit: int | None = None,
    split: str = "all",
    contexts: Path | None = None,
    drop_gold: bool = False,
) -> dict:
    """Evaluate ``data``; returns the report dict (also used by bench/)."""
    t0 = time.perf_counter()
    engine, items, gold_by, setting = load_task(data, settings, retriever, split, contexts)
    build_s = time.perf_counter() - t0
    report = evaluate(engine, items[:limit] if limit else items, k, gold_by, drop_gold)
    report.metrics.update(
        index_build_s=build_s,
        chunks=len(engine.store.chunks),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return {
        "data": str(data),
        "setting": setting,
        "retriever": retriever,
        "k": k,
        "model": engine.embedder.name,
        "metrics": report.metrics,
        "predictions": report.predictions,
    }


def format_table(result: dict) -> str:
    rows = [
        f"{name:>18}  {value:.4g}" if isinstance(value, float) else f"{name:>18}  {value}"
        for name, value in result["metrics"].items()
    ]
    head = (
        f"{result['data']} — {result['setting']}, retriever={result['retriever']}, k={result['k']}, "
        f"model={result['model']}"
    )
    return "\n".join([head, *rows])


def main(args, settings: Settings) -> int:
    """``python -m qa eval``'s options (``args``) and the configured ``settings``."""
    for path in (args.data, args.contexts):
        if path is not None and not path.exists():
            raise ValueError(f"no such evaluation file: {path}")
    result = run(args.data, settings, args.retriever, args.k, args.limit, args.split, args.contexts, args.drop_gold)
    print(format_table(result))
    if args.predictions_out:
        args.predictions_out.write_text(
            json.dumps(result["predictions"], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    if args.report:
        args.report.write_text(
            json.dumps({k: v for k, v in result.items() if k != "predictions"}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return 0
