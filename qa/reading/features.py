"""Named features for the learned ranker, built against a declared schema.

``describe`` turns a sentence's best candidates into feature dicts; ``sentence_features`` adds what
depends on the sentence (its coverage of the question, the longest stretch of the question it repeats);
``relative`` adds each candidate's distance to the best of its question; ``answer_features`` describes a
question's best answer for the answerability model.

``SPAN_FEATURES`` and ``ANSWER_FEATURES`` declare every name this code produces, as templates
(``k={kind}|first={pos}``). ``check_names`` refuses a model that names a feature outside them: a
feature renamed here would otherwise count as zero in the model without any error.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable

import numpy as np

from .candidates import CLAUSE_BREAKS, SentenceCandidates
from .heuristic import Scored
from .question import QUESTION_TYPES, Question
from .segment import BREAKS, flags, tagged

# Candidates per sentence that the learned ranker scores (the best by the heuristic).
MAX_RANKED_SPANS = 100
_RELATIVE = ("heur", "near", "win_left", "win_right", "clause_cover")

# Placeholders: {kind} a question type (or None); {pos} a coarse part-of-speech tag; anything else free text.
SPAN_FEATURES = (
    # the span and its edges
    *"typed in_gap near near_left near_right len long q_overlap listed prev_break next_break".split(),
    *"prevtok_in_q nexttok_in_q adj_left adj_right first_in_q last_in_q whole".split(),
    *"clause_cover win_left win_right is_clause is_core clauses to_end head_last head_in copula_before gloss".split(),
    "h={head}|last={pos}",
    "h={head}|lastch={ch}",
    "h1={head}|last={pos}",
    "w={word}|lastch={ch}",
    "w={word}|firstch={ch}",
    "w={word}|last={pos}",
    "k={kind}",
    "k={kind}|first={pos}",
    "k={kind}|last={pos}",
    "k={kind}|prev={pos}",
    "k={kind}|next={pos}",
    "k={kind}|prevch={ch}",
    "k={kind}|nextch={ch}",
    "k={kind}|prevtok={word}",
    "k={kind}|nexttok={word}",
    *(
        f"k={{kind}}|{name}"
        for name in "typed in_gap near len digit clause_cover win_left win_right is_clause is_core head_last "
        "verbs mixed gloss first_in_q last_in_q heur".split()
    ),
    # the sentence
    *"common common_gap common_near common_overlap cover cover_gap missing sent_rank passage_rank heur".split(),
    # relative to the question's best candidate
    *(f"{key}_gap" for key in _RELATIVE),
    *(f"{key}_gap_typed" for key in _RELATIVE),
)
ANSWER_FEATURES = (
    *"top margin share cover best_cover clause_cover near typed missing common best_common sent_rank".split(),
    "k={kind}",
)
_KINDS = "|".join([*(name for name, _ in QUESTION_TYPES), "None"])


def _pattern(templates: Iterable[str]) -> re.Pattern:
    def one(t: str) -> str:
        parts = re.split(r"(\{\w+\})", t)
        return "".join(
            f"(?:{_KINDS})"
            if p == "{kind}"
            else "[a-z$^]*"
            if p == "{pos}"
            else ".*"
            if p.startswith("{")
            else re.escape(p)
            for p in parts
        )

    return re.compile("|".join(f"(?:{one(t)})" for t in templates), re.S)


_SPAN, _ANSWER = _pattern(SPAN_FEATURES), _pattern(ANSWER_FEATURES)


def unknown(names: Iterable[str], answer: bool = False) -> list[str]:
    """The names outside the declared schema (span features, or with ``answer`` the answerability model's)."""
    pattern = _ANSWER if answer else _SPAN
    return [n for n in names if not pattern.fullmatch(n)]


def check_names(names: Iterable[str], where: str, answer: bool = False) -> None:
    """Raise ``ValueError`` when a model at ``where`` names features this code does not produce."""
    bad = unknown(names, answer)
    if bad:
        raise ValueError(
            f"{where} uses {len(bad)} features this code does not produce (e.g. {bad[:3]}): "
            f"retrain it with `python -m qa.train_ranker --data ../shared/train`"
        )


def describe(q: Question, sc: SentenceCandidates, rows: list[Scored], positions) -> list[tuple[float, int, int, dict]]:
    """(heuristic score, start, end, features) for the most plausible of a sentence's candidates (and every
    clause): features cost more than the heuristic."""
    nq, ns, total = q.normalized, sc.normalized, q.total
    head, (qleft, qright) = q.head, q.beside
    rows = sorted(rows, key=lambda x: -x.heur)
    always = sc.clauses | sc.cores
    rows = rows[:MAX_RANKED_SPANS] + [x for x in rows[MAX_RANKED_SPANS:] if (x.start, x.end) in always]
    cuts = [i for i, ch in enumerate(ns) if ch in CLAUSE_BREAKS]
    in_q = set(nq).__contains__
    pos = flags(ns)
    toks = tagged(ns)
    starts = {a: w for a, _, w, _ in toks}
    verbs = [a for a, _, _, tag in toks if tag.startswith("v")]
    ends = {b: w for _, b, w, _ in toks}
    k = f"k={q.kind}"
    w = f"w={q.slot.group() if q.slot else ''}"
    out = []
    for heur, a, b, strength, text, left, right, near, in_gap, listed in rows:
        feats = {
            f"h={head}|last={pos[b - 1]}": 1.0,
            f"h={head}|lastch={text[-1]}": 1.0,
            f"h1={head[-1:]}|last={pos[b - 1]}": 1.0,
            "adj_left": float(bool(qleft) and qleft in ns[max(0, a - len(qleft) - 1) : a]),
            "adj_right": float(bool(qright) and qright in ns[b : b + len(qright) + 1]),
            k: 1.0,
            f"{k}|first={pos[a]}": 1.0,
            f"{k}|last={pos[b - 1]}": 1.0,
            f"{k}|typed": strength,
            "typed": strength,
            "in_gap": float(in_gap),
            f"{k}|in_gap": float(in_gap),
            "near": near,
            "near_left": left / total,
            "near_right": right / total,
            f"{k}|near": near,
            "len": math.log1p(b - a),
            f"{k}|len": math.log1p(b - a),
            "long": float(b - a > 12),
            "q_overlap": sum(map(in_q, text)) / len(text),
            "listed": float(listed),
            f"{k}|digit": float(bool(_DIGIT.search(text))),
            "prev_break": float(a == 0 or ns[a - 1] in BREAKS),
            "next_break": float(b == len(ns) or ns[b] in BREAKS),
            f"{k}|prev={pos[a - 1] if a else '^'}": 1.0,
            f"{k}|next={pos[b] if b < len(ns) else '$'}": 1.0,
            f"{k}|prevch={ns[a - 1] if a else '^'}": 1.0,
            f"{k}|nextch={ns[b] if b < len(ns) else '$'}": 1.0,
            f"{w}|lastch={text[-1]}": 1.0,
            f"{w}|firstch={text[0]}": 1.0,
            f"{w}|last={pos[b - 1]}": 1.0,
            f"{k}|prevtok={ends.get(a, '')}": 1.0,
            f"{k}|nexttok={starts.get(b, '')}": 1.0,
            "prevtok_in_q": float(len(ends.get(a, "")) > 1 and ends.get(a, "") in nq),
            "nexttok_in_q": float(len(starts.get(b, "")) > 1 and starts.get(b, "") in nq),
        }
        # The clause around the span: how much of the question it holds, outside the span;
        # and the question's words within 12 characters either side.
        ia, ib = bisect_left(cuts, a), bisect_left(cuts, b)
        ca, cb = cuts[ia - 1] + 1 if ia else 0, cuts[ib] if ib < len(cuts) else len(ns)
        here: dict[str, float] = {}
        win_l: dict[str, float] = {}
        win_r: dict[str, float] = {}
        for pa, pb, weight, t in positions:
            if pb <= a:
                if pa >= ca:
                    here[t] = weight
                if pa >= a - 12:
                    win_l[t] = weight
            elif pa >= b:
                if pb <= cb:
                    here[t] = weight
                if pb <= b + 12:
                    win_r[t] = weight
        clause_cover = sum(here.values()) / total
        wl, wr = sum(win_l.values()) / total, sum(win_r.values()) / total
        head_last = float(bool(head) and text[-1] == head[-1])
        feats.update(
            {
                "clause_cover": clause_cover,
                f"{k}|clause_cover": clause_cover,
                "win_left": wl,
                "win_right": wr,
                f"{k}|win_left": wl,
                f"{k}|win_right": wr,
                "is_clause": float((a, b) in sc.clauses),
                f"{k}|is_clause": float((a, b) in sc.clauses),
                "is_core": float((a, b) in sc.cores),
                f"{k}|is_core": float((a, b) in sc.cores),
                "clauses": float(ib - ia),
                "to_end": float(b == len(ns)),
                "head_last": head_last,
                "head_in": float(bool(head) and head in text),
                f"{k}|head_last": head_last,
                "copula_before": float(a > 0 and ns[a - 1] in "是为指"),
                # a name runs on into what it did (方科告诉记者); a company into its product (星尘智能AstrilotS1)
                f"{k}|verbs": float(bisect_left(verbs, b) - bisect_left(verbs, a)),
                f"{k}|mixed": float(bool(_HAN.search(text)) and bool(_LATIN.search(text))),
                "gloss": float((a, b) in sc.glosses),
                f"{k}|gloss": float((a, b) in sc.glosses),
            }
        )
        # A span that starts or ends with a word of the question usually carries part of the question.
        first, last = starts.get(a, ""), ends.get(b, "")
        edge = {"first_in_q": float(bool(first) and first in nq), "last_in_q": float(bool(last) and last in nq)}
        feats.update(edge)
        feats.update({f"{k}|{name}": v for name, v in edge.items()})
        out.append((heur, a, b, feats))
    return out


def sentence_features(
    q: Question,
    feats: dict,
    span: tuple[int, int],
    common: tuple[int, int, int],
    most_common: int,
    sentence: dict[str, float],
    heur: float,
) -> None:
    """Add to ``feats`` what the candidate at ``span`` (sentence offsets) owes to its sentence: the longest
    stretch of the question it repeats (``common``: length, start, end), the sentence's coverage and rank
    (``sentence``: cover, cover_gap, missing, sent_rank, passage_rank) and the heuristic score."""
    sa, sb = span
    n_common, ca, cb = common
    asked = len(q.asked)
    dist = ca - sb if sb <= ca else sa - cb if sa >= cb else -1
    feats.update(
        {
            "common": n_common / asked,
            "common_gap": (most_common - n_common) / asked,
            "common_near": math.exp(-dist / 4.0) if dist >= 0 and n_common >= 2 else 0.0,
            "common_overlap": float(dist < 0 and n_common >= 2),
        }
    )
    feats.update(sentence)
    feats.update({"heur": heur, f"k={q.kind}|heur": heur})


def relative(features: list[dict]) -> None:
    """Add each candidate's distance to the question's best on features that matter relative to the
    other candidates (the nearest name to the question's words, not merely a near one)."""
    typed = [f.get("typed", 0.0) >= 0.7 for f in features]
    for key in _RELATIVE:
        values = [f.get(key, 0.0) for f in features]
        top = max(values, default=0.0)
        top_typed = max((v for v, t in zip(values, typed) if t), default=0.0)
        gap, gap_typed = f"{key}_gap", f"{key}_gap_typed"
        for f, v, t in zip(features, values, typed):
            f[gap] = top - v
            if t:
                f[gap_typed] = top_typed - v


def answer_features(q: Question, best: dict, scores: np.ndarray, i: int) -> dict[str, float]:
    """Question-level features for the answerability model: how sure the ranker is (``scores`` of all
    candidates, ``i`` the best) and how well the best candidate's sentence (its features ``best``) covers the
    question. Retrieval scores are left out on purpose (their scale depends on the size of the collection),
    and so are question words the articles never use: the training pairs cannot show their effect, so the
    extractor applies that factor itself."""
    top = float(scores[i])
    rest = np.delete(scores, i)
    exp = np.exp(scores - top)
    f = best
    return {
        "top": top,
        "margin": top - float(rest.max()) if len(rest) else 5.0,
        "share": 1.0 / float(exp.sum()),
        "cover": f.get("cover", 0.0),
        "best_cover": f.get("cover", 0.0) + f.get("cover_gap", 0.0),
        "clause_cover": f.get("clause_cover", 0.0),
        "near": f.get("near", 0.0),
        "typed": f.get("typed", 0.0),
        "missing": f.get("missing", 0.0),
        "common": f.get("common", 0.0),
        "best_common": f.get("common", 0.0) + f.get("common_gap", 0.0),
        "sent_rank": f.get("sent_rank", 0.0),
        f"k={q.kind}": 1.0,
    }


_DIGIT = re.compile(r"[0-9零〇一二两三四五六七八九十百千万亿]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-z]")
