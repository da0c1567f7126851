"""Candidate answer spans inside one sentence: typed patterns, tagged names, the question's gap, clauses, runs
of words; then ``sentence_candidates`` gathers, trims and filters them for one question.

Pattern matches are strongest (type strength 1.0), dictionary-tagged names weaker, untyped nouns 0. With
``described`` (the learned ranker will score them) every run of tokens and every clause is a candidate too.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ..text import normalize
from .question import Question
from .segment import BREAKS, entities, tagged

_UNIT = (
    r"(?:万亿|亿|万|千|百)?(?:人民币|美元|港元|平方米|平方公里|公里|千米|千克|公斤|小时|分钟|万元|亿元|元|人次|个百分点|%|％|"
    r"[个家台辆人次倍米度年月日天岁名项所座条种位件场届期批款篇部本张只头吨克秒层户间枚架艘颗粒首句字分周大])?"
)
_NUMBER = re.compile(
    r"(?:\d+(?:[.,]\d+)*(?:\s?(?:[-~～至到]|—)\s?\d+(?:[.,]\d+)*)?|[零〇一二两三四五六七八九十百千万亿]{1,8}(?=[个家台辆人次倍米度年月日天岁名项所座条种位件场届期批款篇部本张只吨大万亿]))"
    r"(?:多|余)?" + _UNIT
)
_TIME = re.compile(
    r"(?:(?:公元前?)?\d{2,4}|[零〇一二三四五六七八九]{4})年(?:代|初|底|末)?(?:\d{1,2}月(?:\d{1,2}[日号])?)?|"
    r"\d{1,2}月(?:\d{1,2}[日号])?|(?:今|去|明|前)年\d{1,2}月|[一二三四五六七八九十]{1,3}世纪(?:\d{2}年代)?|[春夏秋冬]季"
)
# Names: runs of CJK/Latin characters (never across function words) ending in a typical suffix.
_NAME = r"[^\s，。、；：,.;:！？!?“”《》()（）的在于了和与及是从到被由将为对把让向等]"
_ORG = re.compile(
    _NAME
    + r"{2,30}(?:有限公司|股份公司|公司|集团|总局|局|部|委员会|委|厅|署|办公室|院|研究所|所|中心|大学|学院|学校|银行|"
    r"协会|学会|联合会|组织|医院|政府|法院|基金会|俱乐部|队)"
)
_PLACE = re.compile(
    _NAME + r"{1,20}(?:会展中心|中心|馆|广场|大厦|机场|港|公园|园区|园|区|市|省|县|镇|乡|村|街|路|岛|山|河|湖|海|州|国)"
)
_QUOTED = re.compile(r"《[^》]{1,60}》|“[^”]{1,40}”|「[^」]{1,40}」|\"[^\"]{1,40}\"")
_PAREN = re.compile(r"[(（]([^()（）]{1,40})[)）]")


def token_spans(s: str, max_tokens: int = 6) -> list[tuple[int, int]]:
    """Runs of 1–``max_tokens`` segmenter tokens that neither cross punctuation nor end on a particle."""
    toks = tagged(s)
    out = []
    for i, (a, _, w, _) in enumerate(toks):
        if w in BREAKS or not w.strip() or w in ("的", "了", "是", "在", "和", "与", "及", "将", "被"):
            continue
        for j in range(i, min(len(toks), i + max_tokens)):
            wj = toks[j][2]
            if wj in BREAKS and wj != "、":
                break
            if wj not in ("的", "了", "是", "、"):
                out.append((a, toks[j][1]))
    return out


CLAUSE_BREAKS = "，；：,;:。！？!?"


def clauses(s: str) -> list[tuple[int, int]]:
    """The punctuation-bounded clauses of ``s`` (each with its closing punctuation)."""
    cuts = [0] + [i + 1 for i, ch in enumerate(s) if ch in CLAUSE_BREAKS] + [len(s)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def clause_spans(s: str) -> list[tuple[int, int]]:
    """Punctuation-bounded clauses of ``s``, each clause with those after it to the sentence end,
    and the predicate after a copula (是/为/指) to the end of its clause and of the sentence."""
    parts = clauses(s)
    out = list(parts)
    out += [(a, len(s)) for a, _ in parts[1:-1]]
    for m in re.finditer(r"(?:是|为|指)", s):
        out.append((m.end(), next((b for a, b in parts if a <= m.end() < b), len(s))))
        out.append((m.end(), len(s)))
    return out


def clause_cores(s: str) -> list[tuple[int, int]]:
    """Each punctuation-bounded clause without its leading connective, adverb, preposition or verb
    (又因其…, 主要围绕…, 位于九龙城…, 起因于…): the tokens that frame an answer rather than belong to it."""
    toks = tagged(s)
    out = []
    for a, b in clauses(s):
        inside = [t for t in toks if a <= t[0] and t[1] <= b]
        for lead in range(1, 3):
            if len(inside) <= lead or not all(len(w) <= 3 and tag[:1] in "pcdvr" for _, _, w, tag in inside[:lead]):
                break
            out.append((inside[lead][0], b))
    return out


def glosses(s: str, nq: str) -> set[tuple[int, int]]:
    """Parentheticals glossing a word of the question: 视觉语言动作 in 「VLA(视觉语言动作)」 for 「VLA是什么意思」."""
    matches = list(_PAREN.finditer(s))
    ends = {b: w for _, b, w, _ in tagged(s)} if matches else {}
    return {
        (m.start(1), m.end(1))
        for m in matches
        if len(ends.get(m.start(), "").strip()) >= 2 and ends[m.start()] in nq and m.group(1) not in nq
    }


def typed_spans(kind: str | None, s: str) -> list[tuple[int, int, float]]:
    """Candidate spans (start, end, type strength 0–1) inside sentence text ``s``.

    Pattern matches are strongest, POS-tagged names weaker, untyped nouns 0;
    names joined by 、/和/及/与 also form one list candidate.
    """
    spans: list[tuple[int, int, float]] = []

    def add(pattern: re.Pattern, group: int = 0) -> None:
        spans.extend((m.start(group), m.end(group), 1.0) for m in pattern.finditer(s))

    if kind == "number":
        add(_NUMBER)
    elif kind == "time":
        add(_TIME)
    elif kind == "person":
        spans += [(a, b, 0.7) for a, b in entities(s, ("nr",))]
        spans += [(a, b, 0.5) for a, b in entities(s, ("nu",))]
    elif kind == "place":
        add(_PLACE)
        spans += [(a, b, 0.7) for a, b in entities(s, ("ns",))]
    elif kind == "org":
        add(_ORG)
        spans += [(a, b, 0.7) for a, b in entities(s, ("nt", "nz", "nr"))]
    elif kind == "definition":
        add(_PAREN, 1)
    if kind in ("what", "org", "person", "place", "definition"):
        add(_QUOTED)
        spans += [(a, b, 0.0) for a, b in entities(s, ("n", "nr", "ns", "nt", "nz", "vn", "eng"))]
    typed = sorted(
        {(a, b) for a, b, t in spans if t >= 0.7}, key=lambda x: (x[0], -x[1])
    )  # longest first at each start
    for i, (a, b) in enumerate(typed):  # lists: 甲局、乙局和丙局
        end = b
        for c, d in typed[i + 1 :]:
            if c >= end and s[end:c] in ("、", "和", "及", "与", "以及"):
                end = d
            elif c >= end:
                break
        if end > b:
            spans.append((a, end, 0.9))
    return spans


def find_all(s: str, part: str) -> list[int]:
    """Start offsets of the non-overlapping occurrences of ``part`` in ``s``."""
    out, i = [], s.find(part)
    while i != -1:
        out.append(i)
        i = s.find(part, i + len(part))
    return out


def _find_anchor(s: str, context: str, at_end: bool) -> list[tuple[int, int]]:
    """Every place in ``s`` of the longest piece (≥2 chars) of ``context``, taken at the end (left
    context) or start (right context) of ``context``, skipping up to 3 characters ``s`` lacks."""
    for skip in range(0, min(4, len(context))):
        piece = context[: len(context) - skip] if at_end else context[skip:]
        for n in range(min(len(piece), 12), 1, -1):
            part = piece[-n:] if at_end else piece[:n]
            found = [(i, i + n) for i in find_all(s, part)]
            if found:
                return found
    return []


def gaps(question: str, slot: re.Match, s: str) -> list[tuple[int, int]]:
    """Lay the question over sentence ``s``: the text between the anchors around the question word."""
    left = question[: slot.start()].strip().rstrip("的是了要为")
    right = question[slot.end() :].strip().lstrip("的是").rstrip("？?。！!")
    if not right and question[: slot.start()].rstrip().endswith("的是"):
        # "…的是哪家企业": the answer is the subject, before what the question says of it.
        left, right = "", left
    lefts = _find_anchor(s, left, True) if left else []
    rights = _find_anchor(s, right, False) if right else []
    gaps = []
    for la in lefts:
        after = [r for r in rights if r[0] >= la[1]]
        gaps.append((la[1], after[0][0] if after else _clause_end(s, la[1])))
    if not lefts:
        gaps = [(_clause_start(s, ra[0]), ra[0]) for ra in rights]
    return [(a, b) for a, b in gaps if 0 < b - a <= 60]


def _clause_start(s: str, end: int) -> int:
    cut = max(s.rfind(ch, 0, end) for ch in "，。；：,;:“”")
    return cut + 1


def _clause_end(s: str, start: int) -> int:
    ends = [i for i in (s.find(ch, start) for ch in "，。；：,;:！？") if i >= 0]
    return min(ends) if ends else len(s)


def longest_common(q: str, s: str) -> tuple[int, int, int]:
    """The longest run of characters ``q`` and ``s`` share: (length, start in ``s``, end in ``s``)."""
    m = difflib.SequenceMatcher(None, q, s, autojunk=False).find_longest_match(0, len(q), 0, len(s))
    return m.size, m.b, m.b + m.size


def trim(s: str, a: int, b: int) -> tuple[int, int]:
    """Strip whitespace and framing punctuation/particles from a span."""
    while a < b and (s[a].isspace() or s[a] in "，。、；：,.;:的是了在由从”’」』)）"):
        a += 1
    while b > a and (s[b - 1].isspace() or s[b - 1] in "，。、；：,.;:的了“‘「『(（"):
        b -= 1
    return a, b


@dataclass(frozen=True)
class SentenceCandidates:
    """The candidate spans of one sentence for one question, in the normalised sentence's offsets."""

    text: str  # the sentence as in the article
    normalized: str
    spans: list[tuple[int, int, float]]  # (start, end, type strength), trimmed, deduplicated
    gaps: list[tuple[int, int]] = field(default_factory=list)
    clauses: set[tuple[int, int]] = field(default_factory=set)
    cores: set[tuple[int, int]] = field(default_factory=set)
    glosses: set[tuple[int, int]] = field(default_factory=set)


def sentence_candidates(q: Question, s: str, described: bool) -> SentenceCandidates | None:
    """The candidates of sentence ``s`` for question ``q`` (None when it has none): typed spans for the
    question's kind, its gaps; with ``described`` also runs of tokens, clauses and clause cores."""
    nq, kind, slot = q.normalized, q.kind, q.slot
    ns = normalize(s)
    cands = typed_spans(kind, ns) if kind else []
    found = gaps(nq, slot, ns) if slot and kind != "definition" else []
    for ga, gb in found:
        ga, gb = trim(s, ga, gb)
        if gb <= ga:
            continue
        typed_inside = any(ga <= a and b <= gb and t >= 0.7 for a, b, t in cands)
        if kind in ("what", "org", "person", "place") and not typed_inside:
            # A name the tagger did not know: the first noun of the gap, else the whole gap.
            first = next((t for t in entities(ns[ga:gb], ("n", "nr", "nz", "nt", "ns", "eng"))[:1] if t[0] == 0), None)
            if first and kind != "what":
                cands.append((ga + first[0], ga + first[1], 0.8))
            cands.append((ga, gb, 0.8 if kind == "what" or not first else 0.4))
        else:
            cands.append((ga, gb, 0.0))
    whole_clauses: set[tuple[int, int]] = set()
    cores: set[tuple[int, int]] = set()
    if described:
        cands += [(a, b, 0.0) for a, b in token_spans(ns)]
        for a, b in clause_spans(ns):
            a, b = trim(s, a, b)
            if b - a > 1:
                whole_clauses.add((a, b))
                cands.append((a, b, 0.0))
        for a, b in clause_cores(ns):
            a, b = trim(s, a, b)
            if b - a > 1:
                cores.add((a, b))
                cands.append((a, b, 0.0))
    if not cands:
        return None
    gloss = glosses(ns, nq) if described or kind == "definition" else set()
    if kind == "definition":
        cands += [(a, b, 1.0) for a, b in gloss]
    best: dict[tuple[int, int], float] = {}
    for a, b, strength in cands:
        a, b = trim(s, a, b)
        if b > a and strength >= best.get((a, b), -1.0):
            best[(a, b)] = strength
    long_terms = [t for t in q.weights if len(t) > 1]
    kept = [
        (a, b, strength)
        for (a, b), strength in best.items()
        if b - a > 1
        and ns[a:b] not in nq  # an answer does not repeat the question
        and sum(len(t) for t in long_terms if t in ns[a:b]) < (b - a) * 0.6
    ]
    return SentenceCandidates(s, ns, kept, found, whole_clauses, cores, gloss)
