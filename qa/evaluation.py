"""``python -m qa eval``: retrieval and answer quality, latency and memory on a QA set.

SQuAD-format files (CMRC 2018, DRCD, XQuAD) are evaluated open-retrieval: a
temporary in-memory index over all the file's paragraphs (``index/`` is never
touched), every question asked against the whole pool. JSONL files in the
format of ``seed_qa_dev.jsonl`` are asked against the default seed index.

Answer metrics follow the CMRC 2018 evaluation script: lower-case, drop the
official punctuation list, CJK characters are single tokens and other runs are
word tokens; F1 uses the longest common contiguous token run; EM and F1 take the
maximum over the gold answers; a missing prediction scores 0.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import squad
from .types import Document, Passage, Section

log = logging.getLogger(__name__)

# The official CMRC 2018 punctuation list ("……" is listed there but, being two characters, never matches one).
CMRC_PUNCT = set("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def cmrc_tokens(text: str, drop_punct: bool = True) -> list[str]:
    """CMRC 2018 mixed segmentation: each CJK character one token, other runs word tokens."""
    out: list[str] = []
    run = ""
    for ch in str(text).lower().strip():
        if drop_punct and ch in CMRC_PUNCT:
            continue
        if _CJK.match(ch) or ch in CMRC_PUNCT:
            out.extend(_WORD.findall(run))
            run = ""
            out.append(ch)
        else:
            run += ch
    out.extend(_WORD.findall(run))
    return out


def _lcs_len(a: list[str], b: list[str]) -> int:
    """Length of the longest common contiguous run of tokens."""
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def f1_score(prediction: str, answers: list[str]) -> float:
    if not prediction or not answers:
        return 0.0
    pred = cmrc_tokens(prediction)
    scores = []
    for ans in answers:
        gold = cmrc_tokens(ans)
        lcs = _lcs_len(gold, pred)
        if lcs == 0:
            scores.append(0.0)
            continue
        p, r = lcs / len(pred), lcs / len(gold)
        scores.append(2 * p * r / (p + r))
    return max(scores)


def exact_match(prediction: str, answers: list[str]) -> float:
    if not prediction:
        return 0.0
    strip = lambda s: "".join(ch for ch in str(s).lower().strip() if ch not in CMRC_PUNCT)  # noqa: E731
    return float(any(strip(prediction) == strip(a) for a in answers))


@dataclass
class Item:
    qid: str
    question: str
    answers: list[str]
    gold: str | None  # gold doc_id (SQuAD) or article title (JSONL); None when unanswerable
    answerable: bool = True


@dataclass
class Report:
    n: int = 0
    metrics: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)


def _items_squad(paragraphs: list[squad.Paragraph]) -> list[Item]:
    return [Item(q.qid, q.text, list(q.answers), p.pid) for p in paragraphs for q in p.questions]


def _items_jsonl(path: Path) -> list[Item]:
    items = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            r = json.loads(line)
            items.append(
                Item(
                    str(r.get("id", i)),
                    r["question"],
                    list(r.get("answers", [])),
                    r.get("article"),
                    bool(r.get("answerable", True)),
                )
            )
    return items


def documents_from_squad(paragraphs: list[squad.Paragraph]) -> list[Document]:
    return [Document(p.pid, p.title, p.context, (Section("", 0, len(p.context)),), "squad") for p in paragraphs]


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
        passages = engine.retriever.retrieve(question, max(k, 10))
        span = engine.extractor.extract(question, passages[:k], engine.store.documents)
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
                gold_passages = [
                    Passage(c, engine.document(c.doc_id).title, i + 1, 1.0) for i, c in enumerate(by_doc[it.gold])
                ]
                span = engine.extractor.extract(question, gold_passages, engine.store.documents)
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
        "recall@1": _mean([r is not None and r <= 1 for r in ranks]),
        "recall@5": _mean([r is not None and r <= 5 for r in ranks]),
        "recall@10": _mean([r is not None and r <= 10 for r in ranks]),
        "mrr@10": _mean([1.0 / r if r is not None and r <= 10 else 0.0 for r in ranks]),
        "answer_recall@5": _mean([r is not None and r <= 5 for r in answer_ranks]),
        "answer_mrr@10": _mean([1.0 / r if r is not None and r <= 10 else 0.0 for r in answer_ranks]),
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
    rest = [p for p in engine.retriever.retrieve(question, k + 10) if p.chunk.doc_id != gold][:k]
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


def is_squad(path: Path) -> bool:
    return path.suffix.lower() == ".json"


def _items_crosslingual(questions: list[squad.Paragraph], contexts: list[squad.Paragraph]) -> list[Item]:
    """Questions of one file asked against the parallel paragraphs of another (XQuAD en → zh), matched by question id;
    the gold paragraph and answers come from the context file."""
    gold = {q.qid: (p.pid, list(q.answers)) for p in contexts for q in p.questions}
    return [
        Item(q.qid, q.text, gold[q.qid][1], gold[q.qid][0]) for p in questions for q in p.questions if q.qid in gold
    ]


def load_task(
    data: Path,
    retriever: str = "hybrid",
    split: str = "all",
    model=None,
    seeds: Path | None = None,
    index: Path | None = None,
    contexts: Path | None = None,
    reader="default",
):
    """The engine and the questions for ``data``: (engine, items, gold_by, setting description).

    With ``contexts`` (SQuAD format), the paragraphs and gold answers come from that file and only the
    questions from ``data`` (a cross-lingual check: XQuAD English questions over the Chinese paragraphs).
    """
    from . import config
    from .engine import QA

    if is_squad(data):
        paragraphs = squad.split(squad.load(contexts or data), split)
        engine = QA.build(documents_from_squad(paragraphs), None, model, mode=retriever, reader=reader)
        if contexts:
            items = _items_crosslingual(squad.split(squad.load(data), split), paragraphs)
            return (
                engine,
                items,
                "doc_id",
                f"questions of {data.name} over {len(paragraphs)} paragraphs of {contexts.name} ({split} articles)",
            )
        return (
            engine,
            _items_squad(paragraphs),
            "doc_id",
            f"open retrieval over {len(paragraphs)} paragraphs ({split} articles)",
        )
    index = index or config.index_dir()
    engine = QA.open(config.article_source(seeds, index), index, model, mode=retriever, reader=reader)
    return engine, _items_jsonl(data), "title", f"default seed index ({len(engine.store.documents)} articles)"


def run(
    data: Path,
    retriever: str = "hybrid",
    k: int = 5,
    limit: int | None = None,
    split: str = "all",
    model=None,
    seeds: Path | None = None,
    index: Path | None = None,
    contexts: Path | None = None,
    drop_gold: bool = False,
) -> dict:
    """Evaluate ``data``; returns the report dict (also used by bench/)."""
    t0 = time.perf_counter()
    engine, items, gold_by, setting = load_task(data, retriever, split, model, seeds, index, contexts)
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


def main(args) -> int:
    for path in (args.data, args.contexts):
        if path is not None and not path.exists():
            raise ValueError(f"no such evaluation file: {path}")
    result = run(
        args.data,
        args.retriever,
        args.k,
        args.limit,
        args.split,
        args.model,
        args.seeds,
        args.index,
        args.contexts,
        getattr(args, "drop_gold", False),
    )
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
