"""Stage 5: pick the sentence that best answers, then the shortest verbatim span in it.

1. Sentences of the retrieved passages are scored by how much of the question's
   IDF-weighted vocabulary they cover (plus a small prior for passage rank).
2. The question word decides the expected answer type (多少/几 → number,
   何时/哪一年 → time, 谁 → person, 哪里 → place, 哪家 → organisation,
   什么 → noun phrase, 什么意思 → definition).
3. Candidate spans come from the best sentences: typed patterns (numbers with units,
   dates, names, quotes), dictionary-tagged words, the gap left by the question word
   when the question is laid over the sentence (``按什么作为基数`` over
   ``按……为基数``), punctuation-bounded clauses and runs of words. Each is
   described by named features (type, nearness of the question's words, the clause's
   coverage, edges, length, the head noun asked for against the span's part of speech,
   the question's words right beside it, the longest stretch of the question its sentence
   repeats…) and by its distance to the question's best candidate on the main ones.
4. With the learned ranker (``ranker.py``, the default) the features are scored by
   its linear model and trees, and the answerability model turns question-level
   features into the confidence; without it a hand-written score picks the span and the
   confidence is the best sentence's coverage. Either is lowered for question words
   the articles never use; the engine abstains below its threshold.
5. The span, its sentence and offsets are returned verbatim.
"""

from __future__ import annotations

import difflib
import math
import re
import threading
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from .ranker import SpanRanker
from .text import normalize, sentence_spans, terms
from .types import Document, Passage

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
    + r"{2,30}(?:有限公司|股份公司|公司|集团|总局|局|部|委员会|委|厅|署|办公室|院|研究所|所|中心|大学|学院|学校|银行|协会|学会|联合会|组织|医院|政府|法院|基金会|俱乐部|队)"  # noqa: E501 (one alternation)
)
_PLACE = re.compile(
    _NAME + r"{1,20}(?:会展中心|中心|馆|广场|大厦|机场|港|公园|园区|园|区|市|省|县|镇|乡|村|街|路|岛|山|河|湖|海|州|国)"
)
_QUOTED = re.compile(r"《[^》]{1,60}》|“[^”]{1,40}”|「[^」]{1,40}」|\"[^\"]{1,40}\"")
_PAREN = re.compile(r"[(（]([^()（）]{1,40})[)）]")

# Question word patterns, most specific first.
QUESTION_TYPES: list[tuple[str, re.Pattern]] = [
    (
        "definition",
        re.compile(
            r"(?:是什么意思|什么意思|是指什么|指的是什么|指什么|全称是什么|what does .+ (?:mean|stand for))", re.I
        ),
    ),
    (
        "time",
        re.compile(
            r"(?:(?:具体|什么|哪个|确切)?(?:时间|日期|年份|年代)(?:是|为)?(?:什么|哪|何|？|\?|$)|哪一?年|何年|哪一?天|何时|什么时候|什么时间|哪个月|几月|几号|几日|哪一?年代|when\b|what year|which year)",  # noqa: E501
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"(?:多少[个家台辆人次倍米度年元名项所座条种位件场届期批款篇部本张只吨岁天月]?|几[个家台辆人次倍米度年元名项所座条种位件场届期批款篇部本张只吨岁天月大]?|"
            r"多[长大高远久重宽深]|百分之几|how (?:many|much|large|big|long|far|old|tall|high)|what percentage)",
            re.I,
        ),
    ),
    ("person", re.compile(r"(?:谁|哪位|什么人|何人|\bwho(?:m|se)?\b)", re.I)),
    ("place", re.compile(r"(?:哪里|哪儿|在哪|何地|何处|什么地方|哪个(?:城市|国家|省|地区|地方)|\bwhere\b)", re.I)),
    (
        "org",
        re.compile(
            r"(?:哪家(?:公司|企业|机构|单位|医院|银行)?|哪些(?:部门|单位|机构|公司|企业)|哪个(?:部门|单位|机构|公司|企业)|什么(?:部门|单位|机构|公司|企业))"
        ),
    ),
    ("what", re.compile(r"(?:什么|哪些|哪个|哪种|哪一?项|哪|何|\bwhat\b|\bwhich\b)", re.I)),
]
# Question-only words: they say what is asked, not what the answer sentence contains.
_STOP = set(
    "的 了 吗 呢 是 在 有 和 与 及 或 被 把 对 为 以 于 就 都 也 还 要 会 能 可 请 问 "
    "多少 什么 哪 谁 几 何 呀 啊 么 个 些 里 儿 哪里 哪儿 哪些 哪个 哪家 哪位 "
    "哪一 哪年 什么 怎么 怎样 如何 为何 为什么 "
    "the a an of in on at to for by is are was were do does did what which who whom whose when where how many much "
    "and or with from as that this it its be been has have had".split()
)


# Candidates per sentence that the learned ranker scores (the best by the heuristic).
MAX_RANKED_SPANS = 100
# Confidence factor for each question word (Latin) or character (CJK) that appears nowhere in the articles
# (chosen on validation articles and the seed questions: 0.4/0.6 change validation F1 by < 0.2).
UNSEEN_PENALTY = 0.4
UNSEEN_CHAR_PENALTY = 0.6
# Characters that never start or end a content bigram.
_FUNCTION = set("的了吗呢是么哪谁几何吧啊呀")


_DIGIT = re.compile(r"[0-9零〇一二两三四五六七八九十百千万亿]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[a-z]")
_BREAKS = set("，。；：！？,.;:!?、（）()《》“”「」『』\n ")


@dataclass(frozen=True)
class Span:
    """An extracted answer: ``doc_id`` text[start:end], inside sentence [sent_start, sent_end)."""

    doc_id: str
    start: int
    end: int
    sent_start: int
    sent_end: int
    passage_rank: int
    score: float
    confidence: float


@dataclass(frozen=True)
class Candidate(Span):
    """A candidate span (``confidence`` before the unseen-word factor) with the learned ranker's features."""

    features: dict | None = None


def question_type(question: str) -> tuple[str | None, re.Match | None]:
    for name, pattern in QUESTION_TYPES:
        m = pattern.search(question)
        if m:
            return name, m
    return None, None


_SEGMENTER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _load_segmenter():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt, _tag_table(Path(jieba.__file__).parent / jieba.DEFAULT_DICT_NAME)


def _segmenter():
    """jieba's segmenter and its dictionary's part-of-speech table (loaded once, whichever thread asks first)."""
    with _SEGMENTER_LOCK:
        return _load_segmenter()


def _tag_table(dictionary: Path) -> dict[str, str]:
    """word → part-of-speech tag, from jieba's dictionary (what ``jieba.posseg`` reads at every import, 0.4 s),
    cached with marshal in the user's cache folder as jieba caches its own prefix dictionary."""
    import marshal
    import os

    st = dictionary.stat()
    cache = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "cited-qa"
        / f"jieba-tags-{st.st_size}-{st.st_mtime_ns}.marshal"
    )
    try:
        table = marshal.loads(cache.read_bytes())
        if isinstance(table, dict):
            return table
    except (OSError, ValueError, EOFError, TypeError):
        pass
    table = {}
    with open(dictionary, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                table[parts[0]] = parts[2]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(table))
        os.replace(tmp, cache)
    except OSError:  # a read-only home: no cache, same table
        pass
    return table


def warm_up() -> None:
    """Load the segmenter's dictionary now rather than on the first question."""
    _segmenter()


# The commonest Chinese surnames: a new two- or three-character word starting with one is taken for a name.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆"
    "汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)


def _tag(word: str, table: dict[str, str]) -> str:
    """The dictionary's POS tag; words the dictionary lacks: m (digits), eng (Latin), x (punctuation),
    nr (a new 2–3 character word starting with a common surname: 方科), nu (another new word)."""
    tag = table.get(word)
    if tag:
        return tag
    if word.isdigit() or re.fullmatch(r"\d+(?:[.,]\d+)*", word):
        return "m"
    if word.isascii() and any(ch.isalnum() for ch in word):
        return "eng"
    if not any(ch.isalnum() for ch in word):
        return "x"
    return "nr" if 2 <= len(word) <= 3 and word[0] in _SURNAMES else "nu"


@lru_cache(maxsize=8192)
def _tagged(sentence: str) -> tuple[tuple[int, int, str, str], ...]:
    """Tokens as (start, end, word, POS tag); cached, as the same sentences recur across candidates and questions.

    jieba's plain segmenter with its HMM for new words (方科), tagged from the dictionary: ten times
    faster than ``jieba.posseg``, whose tagging HMM took most of the time on long sentences.
    """
    seg, table = _segmenter()
    out, pos = [], 0
    for word in seg.cut(sentence, HMM=True):
        for w in _unglue(word, table):
            out.append((pos, pos + len(w), w, _tag(w, table)))
            pos += len(w)
    return tuple(out)


# Function characters that jieba's new-word HMM glues onto an unknown word (嘻哈是, 国际人道法中, 斯科尔斯基在,
# 金正哲则, 如王怡): split off, so that the word alone can be an answer.
_GLUED_AFTER = set("是在则中和与及为的了等于从对把被将也都就而并又或")
_GLUED_BEFORE = set("在如其从被与和及则而并又或将")


def _unglue(word: str, table: dict[str, str]) -> list[str]:
    """``word`` with a function character split off either end when the dictionary lacks the word
    (a two-character new word starting with a surname is left whole: it may be a name, 张和)."""
    if len(word) < 2 or word in table or (len(word) == 2 and word[0] in _SURNAMES):
        return [word]
    head, tail = [], []
    if len(word) >= 3 and word[0] in _GLUED_BEFORE:
        head, word = [word[0]], word[1:]
    if len(word) >= 2 and word[-1] in _GLUED_AFTER:
        word, tail = word[:-1], [word[-1]]
    return head + [word] + tail


def _entities(sentence: str, tags: tuple[str, ...]) -> list[tuple[int, int]]:
    """Offsets of jieba tokens whose POS tag starts with one of ``tags``, adjacent ones merged."""
    out: list[tuple[int, int]] = []
    for start, end, word, flag in _tagged(sentence):
        if flag.startswith(tags) and len(word.strip()) >= 2:
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
    return out


def _flags(s: str) -> list[str]:
    """The coarse POS tag of the token covering each character (n, nr, ns, nt, nz, v, m, t, x, …)."""
    out: list[str] = []
    for start, end, _, flag in _tagged(s):
        out.extend([flag[:2] if flag.startswith("n") else flag[:1]] * (end - start))
    return out


def _token_spans(s: str, max_tokens: int = 6) -> list[tuple[int, int]]:
    """Runs of 1–``max_tokens`` segmenter tokens that neither cross punctuation nor end on a particle."""
    toks = _tagged(s)
    out = []
    for i, (a, _, w, _) in enumerate(toks):
        if w in _BREAKS or not w.strip() or w in ("的", "了", "是", "在", "和", "与", "及", "将", "被"):
            continue
        for j in range(i, min(len(toks), i + max_tokens)):
            wj = toks[j][2]
            if wj in _BREAKS and wj != "、":
                break
            if wj not in ("的", "了", "是", "、"):
                out.append((a, toks[j][1]))
    return out


_CLAUSE_BREAKS = "，；：,;:。！？!?"
_WH = re.compile(r"(?:什么|哪一?[个种些家位类项所条部座]?|何)")


def _clauses(s: str) -> list[tuple[int, int]]:
    """The punctuation-bounded clauses of ``s`` (each with its closing punctuation)."""
    cuts = [0] + [i + 1 for i, ch in enumerate(s) if ch in _CLAUSE_BREAKS] + [len(s)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _clause_spans(s: str) -> list[tuple[int, int]]:
    """Punctuation-bounded clauses of ``s``, each clause with those after it to the sentence end,
    and the predicate after a copula (是/为/指) to the end of its clause and of the sentence."""
    clauses = _clauses(s)
    out = list(clauses)
    out += [(a, len(s)) for a, _ in clauses[1:-1]]
    for m in re.finditer(r"(?:是|为|指)", s):
        out.append((m.end(), next((b for a, b in clauses if a <= m.end() < b), len(s))))
        out.append((m.end(), len(s)))
    return out


def _clause_cores(s: str) -> list[tuple[int, int]]:
    """Each punctuation-bounded clause without its leading connective, adverb, preposition or verb
    (又因其…, 主要围绕…, 位于九龙城…, 起因于…): the tokens that frame an answer rather than belong to it."""
    toks = _tagged(s)
    out = []
    for a, b in _clauses(s):
        inside = [t for t in toks if a <= t[0] and t[1] <= b]
        for lead in range(1, 3):
            if len(inside) <= lead or not all(len(w) <= 3 and tag[:1] in "pcdvr" for _, _, w, tag in inside[:lead]):
                break
            out.append((inside[lead][0], b))
    return out


def _glosses(s: str, nq: str) -> set[tuple[int, int]]:
    """Parentheticals glossing a word of the question: 视觉语言动作 in 「VLA(视觉语言动作)」 for 「VLA是什么意思」."""
    matches = list(_PAREN.finditer(s))
    ends = {b: w for _, b, w, _ in _tagged(s)} if matches else {}
    return {
        (m.start(1), m.end(1))
        for m in matches
        if len(ends.get(m.start(), "").strip()) >= 2 and ends[m.start()] in nq and m.group(1) not in nq
    }


def _head(nq: str, slot: re.Match | None) -> str:
    """The noun the question word asks about: 颜色 in 什么颜色, 城市 in 哪个城市 (may be empty)."""
    if slot is None:
        return ""
    rest = nq[slot.start() :]
    m = _WH.match(rest) or _WH.search(rest)
    tail = rest[m.end() :] if m else rest[len(slot.group()) :]
    tail = re.match(r"[\u4e00-\u9fff]{0,2}", tail.lstrip("的")).group()
    return re.split(r"[的是为在有了呢吗和与及]", tail)[0]


def _slot_neighbours(nq: str, slot: re.Match | None, head: str) -> tuple[str, str]:
    """The question's words right before the question word and right after it and its ``head`` noun
    (function words skipped): 位于 in 「学校位于哪里」, 举办 in 「什么国家举办了亚运会」."""
    if slot is None:
        return "", ""
    after = slot.end()
    if head and (i := nq.find(head, slot.start())) >= 0:
        after = max(after, i + len(head))
    toks = [(a, b, w) for a, b, w, _ in _tagged(nq) if w.strip() and w not in _STOP and w not in _BREAKS]
    left = next((w for a, b, w in reversed(toks) if b <= slot.start()), "")
    right = next((w for a, b, w in toks if a >= after), "")
    return left, right


def _candidates(kind: str | None, s: str) -> list[tuple[int, int, float]]:
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
        spans += [(a, b, 0.7) for a, b in _entities(s, ("nr",))]
        spans += [(a, b, 0.5) for a, b in _entities(s, ("nu",))]
    elif kind == "place":
        add(_PLACE)
        spans += [(a, b, 0.7) for a, b in _entities(s, ("ns",))]
    elif kind == "org":
        add(_ORG)
        spans += [(a, b, 0.7) for a, b in _entities(s, ("nt", "nz", "nr"))]
    elif kind == "definition":
        add(_PAREN, 1)
    if kind in ("what", "org", "person", "place", "definition"):
        add(_QUOTED)
        spans += [(a, b, 0.0) for a, b in _entities(s, ("n", "nr", "ns", "nt", "nz", "vn", "eng"))]
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


def _find_all(s: str, part: str) -> list[int]:
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
            found = [(i, i + n) for i in _find_all(s, part)]
            if found:
                return found
    return []


def _gaps(question: str, slot: re.Match, s: str) -> list[tuple[int, int]]:
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


def _longest_common(q: str, s: str) -> tuple[int, int, int]:
    """The longest run of characters ``q`` and ``s`` share: (length, start in ``s``, end in ``s``)."""
    m = difflib.SequenceMatcher(None, q, s, autojunk=False).find_longest_match(0, len(q), 0, len(s))
    return m.size, m.b, m.b + m.size


def _nearness(
    spans: list[tuple[int, int, float]], positions: list[tuple[int, int, float, str]], before: set[str]
) -> tuple[list[float], list[float]]:
    """For each span, the weights of the question's terms found before it and after it, decaying with
    distance (8 characters: 1/e), a term counting half on the side opposite to where the question had it."""
    if not spans or not positions:
        return [0.0] * len(spans), [0.0] * len(spans)
    a = np.array([x[0] for x in spans], float)[:, None]
    b = np.array([x[1] for x in spans], float)[:, None]
    pa = np.array([x[0] for x in positions], float)
    pb = np.array([x[1] for x in positions], float)
    w = np.array([x[2] for x in positions])
    was_before = np.array([x[3] in before for x in positions])
    left = np.where(pb <= a, w * np.where(was_before, 1.0, 0.5) * np.exp(-np.abs(a - pb) / 8.0), 0.0)
    right = np.where(pa >= b, w * np.where(was_before, 0.5, 1.0) * np.exp(-np.abs(pa - b) / 8.0), 0.0)
    return left.sum(axis=1).tolist(), right.sum(axis=1).tolist()


def _trim(s: str, a: int, b: int) -> tuple[int, int]:
    """Strip whitespace and framing punctuation/particles from a span."""
    while a < b and (s[a].isspace() or s[a] in "，。、；：,.;:的是了在由从”’」』)）"):
        a += 1
    while b > a and (s[b - 1].isspace() or s[b - 1] in "，。、；：,.;:的了“‘「『(（"):
        b -= 1
    return a, b


_RELATIVE = ("heur", "near", "win_left", "win_right", "clause_cover")


def _relative(cands: list[Candidate]) -> None:
    """Add each candidate's distance to the question's best on features that matter relative to the
    other candidates (the nearest name to the question's words, not merely a near one)."""
    feats = [c.features for c in cands if c.features]
    typed = [f.get("typed", 0.0) >= 0.7 for f in feats]
    for key in _RELATIVE:
        values = [f.get(key, 0.0) for f in feats]
        top = max(values, default=0.0)
        top_typed = max((v for v, t in zip(values, typed) if t), default=0.0)
        gap, gap_typed = f"{key}_gap", f"{key}_gap_typed"
        for f, v, t in zip(feats, values, typed):
            f[gap] = top - v
            if t:
                f[gap_typed] = top_typed - v


def answer_features(question: str, cands: list[Candidate], scores: np.ndarray, best: int) -> dict[str, float]:
    """Question-level features for the answerability model: how sure the ranker is and how well the
    best sentence covers the question. Retrieval scores are left out on purpose (their scale depends on
    the size of the collection), and so are question words the articles never use: the training pairs
    cannot show their effect, so the extractor applies that factor itself."""
    top = float(scores[best])
    rest = np.delete(scores, best)
    exp = np.exp(scores - top)
    f = cands[best].features or {}
    kind, _ = question_type(normalize(question))
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
        f"k={kind}": 1.0,
    }


class Extractor:
    """Chooses the answering sentence and span among retrieved passages."""

    def __init__(
        self,
        idf: Callable[[str], float],
        seen: Callable[[str], bool],
        n_passages: int = 5,
        n_sentences: int = 3,
        ranker: SpanRanker | None = None,
    ) -> None:
        self.idf = idf
        self.seen = seen
        self.ranker = ranker
        self.n_passages = n_passages
        self.n_sentences = n_sentences

    def question_terms(self, question: str) -> dict[str, float]:
        """Content terms of the question with IDF weights.

        The question word and bigrams across function characters are dropped;
        a bigram never seen in the articles counts less than an unseen character
        or word (most such bigrams straddle two words).
        """
        kind, slot = question_type(normalize(question))
        if slot:
            question = question[: slot.start()] + " " + question[slot.end() :]
        out = {}
        for t in terms(question):
            if t in _STOP or any(ch in _FUNCTION for ch in t):
                continue
            w = self.idf(t)
            if len(t) == 2 and "\u3400" <= t[0] and not self.seen(t):
                w *= 0.3
            out[t] = w * (0.5 if len(t) == 1 and "\u3400" <= t else 1.0)
        return out

    def unseen_factor(self, question: str) -> float:
        """Words the articles never use at all (a character, a Latin word) mean the question is about
        something they do not cover: each one multiplies the confidence by a penalty below 1."""
        return self.unseen_factor_of(self.question_terms(question))

    def unseen_factor_of(self, qterms: dict[str, float]) -> float:
        """``unseen_factor`` for already computed question terms."""
        factor = 1.0
        for t in qterms:
            if not self.seen(t) and (len(t) == 1 or t[0] < "\u3400"):
                factor *= UNSEEN_PENALTY if t[0] < "\u3400" else UNSEEN_CHAR_PENALTY
        return factor

    def candidates(
        self, question: str, passages: list[Passage], documents: dict[str, Document]
    ) -> tuple[list[Candidate], float]:
        """Candidate spans from the best sentences, with heuristic scores and ranker features, and the
        confidence factor for question words the articles never use."""
        qterms = self.question_terms(question)
        total = sum(qterms.values())
        if not passages or total <= 0:
            return [], 0.0
        nq = normalize(question)
        kind, slot = question_type(nq)
        scored = []
        for p in passages[: self.n_passages]:
            text = documents[p.chunk.doc_id].text
            prev: set[str] = set()
            for a, b in sentence_spans(text, p.chunk.start, p.chunk.end):
                here = set(terms(text[a:b]))
                # A term only in the previous sentence counts half: "它"/"该企业" refer back.
                cover = sum(w * (1.0 if t in here else 0.5 if t in prev else 0.0) for t, w in qterms.items()) / total
                scored.append((cover + 0.1 / p.rank, cover, p, a, b, here | prev))
                prev = here
        scored.sort(key=lambda x: -x[0])
        penalty = self.unseen_factor_of(qterms)
        out: list[Candidate] = []
        learned = self.ranker is not None
        top_weight = max(qterms.values())
        top = scored[: self.n_sentences]
        # The longest stretch of the question (without its question word) each sentence repeats verbatim.
        asked = nq[: slot.start()] + " " + nq[slot.end() :] if slot else nq
        common = (
            [_longest_common(asked, normalize(documents[p.chunk.doc_id].text[a:b])) for _, _, p, a, b, _ in top]
            if learned
            else []
        )
        most_common = max((c[0] for c in common), default=0)
        # The noun asked about and the question's words beside the question word: the same for every sentence.
        head = _head(nq, slot) if learned else ""
        beside = _slot_neighbours(nq, slot, head) if learned else ("", "")
        for rank, (score, cover, p, a, b, near_terms) in enumerate(top, 1):
            # The most specific question word the sentence (or the one before) lacks: 售价 in 「S1的售价是多少」.
            missing = max((w for t, w in qterms.items() if t not in near_terms), default=0.0) / top_weight
            s = documents[p.chunk.doc_id].text[a:b]
            spans = self._spans(nq, kind, slot, qterms, total, s, learned, head, beside)
            typed = bool(spans) or kind is None
            if not spans or learned:  # the whole sentence is always a candidate for the ranker
                sa, sb = _trim(s, 0, len(s))
                spans.append((0.0, sa, sb, {"whole": 1.0}))
            for heur, sa, sb, feats in spans:
                if feats is not None and learned:
                    n_common, ca, cb = common[rank - 1]
                    dist = ca - sb if sb <= ca else sa - cb if sa >= cb else -1
                    feats.update(
                        {
                            "common": n_common / len(asked),
                            "common_gap": (most_common - n_common) / len(asked),
                            "common_near": math.exp(-dist / 4.0) if dist >= 0 and n_common >= 2 else 0.0,
                            "common_overlap": float(dist < 0 and n_common >= 2),
                        }
                    )
                    feats.update(
                        {
                            "cover": cover,
                            "cover_gap": scored[0][1] - cover,
                            "missing": missing,
                            "sent_rank": 1.0 / rank,
                            "passage_rank": 1.0 / p.rank,
                            "heur": heur,
                            f"k={kind}|heur": heur,
                        }
                    )
                out.append(
                    Candidate(
                        p.chunk.doc_id,
                        a + sa,
                        a + sb,
                        a,
                        b,
                        p.rank,
                        score + heur,
                        cover * (1.0 if typed else 0.85),
                        feats,
                    )
                )
        if learned:
            _relative(out)
        if kind == "definition" and learned:
            # "X是什么意思" where a passage glosses X in parentheses: the gloss is the answer
            # (too rare in the training sets for the ranker to learn it).
            out = [c for c in out if c.features and c.features.get("gloss")] or out
        return out, penalty

    def extract(self, question: str, passages: list[Passage], documents: dict[str, Document]) -> Span | None:
        """The best span; its confidence is the answerability model's probability when the ranker has
        one (else the heuristic: the sentence's coverage), times the unseen-word factor."""
        cands, penalty = self.candidates(question, passages, documents)
        if not cands:
            return None
        if self.ranker is None:
            best = max(cands, key=lambda c: c.score)
            return _as_span(best, best.score, best.confidence * penalty)
        scores = self.ranker.scores([c.features for c in cands])
        i = int(np.argmax(scores))
        best = cands[i]
        p = self.ranker.answerable_probability(answer_features(question, cands, scores, i))
        return _as_span(best, float(scores[i]), (best.confidence if p is None else p) * penalty)

    def _spans(
        self,
        nq: str,
        kind: str | None,
        slot: re.Match | None,
        qterms: dict[str, float],
        total: float,
        s: str,
        learned: bool,
        head: str = "",
        beside: tuple[str, str] = ("", ""),
    ) -> list[tuple[float, int, int, dict | None]]:
        """Candidates inside sentence ``s``: (heuristic score, start, end, features or None); ``head`` and
        ``beside`` are the question's head noun and the words around its question word (``_slot_neighbours``)."""
        ns = normalize(s)
        cands = _candidates(kind, ns) if kind else []
        gaps = _gaps(nq, slot, ns) if slot and kind != "definition" else []
        for ga, gb in gaps:
            ga, gb = _trim(s, ga, gb)
            if gb <= ga:
                continue
            typed_inside = any(ga <= a and b <= gb and t >= 0.7 for a, b, t in cands)
            if kind in ("what", "org", "person", "place") and not typed_inside:
                # A name the tagger did not know: the first noun of the gap, else the whole gap.
                first = next(
                    (t for t in _entities(ns[ga:gb], ("n", "nr", "nz", "nt", "ns", "eng"))[:1] if t[0] == 0), None
                )
                if first and kind != "what":
                    cands.append((ga + first[0], ga + first[1], 0.8))
                cands.append((ga, gb, 0.8 if kind == "what" or not first else 0.4))
            else:
                cands.append((ga, gb, 0.0))
        clauses: set[tuple[int, int]] = set()
        cores: set[tuple[int, int]] = set()
        if learned:
            cands += [(a, b, 0.0) for a, b in _token_spans(ns)]
            for a, b in _clause_spans(ns):
                a, b = _trim(s, a, b)
                if b - a > 1:
                    clauses.add((a, b))
                    cands.append((a, b, 0.0))
            for a, b in _clause_cores(ns):
                a, b = _trim(s, a, b)
                if b - a > 1:
                    cores.add((a, b))
                    cands.append((a, b, 0.0))
        if not cands:
            return []
        glosses = _glosses(ns, nq) if learned or kind == "definition" else set()
        if kind == "definition":
            cands += [(a, b, 1.0) for a, b in glosses]
        # Which side of the question word each term stood on: the answer should stand the same way.
        before = {t for t in qterms if slot is not None and nq.find(t) != -1 and nq.find(t) < slot.start()}
        positions_t = [(i, i + len(t), w, t) for t, w in qterms.items() for i in _find_all(ns, t)]
        plural = slot is not None and ("些" in slot.group() or "哪几" in slot.group())
        flags = _flags(ns) if learned else []
        toks = _tagged(ns) if learned else ()
        starts = {a: w for a, _, w, _ in toks}
        verbs = [a for a, _, _, tag in toks if tag.startswith("v")]
        ends = {b: w for _, b, w, _ in toks}
        best: dict[tuple[int, int], float] = {}
        for a, b, strength in cands:
            a, b = _trim(s, a, b)
            if b > a and strength >= best.get((a, b), -1.0):
                best[(a, b)] = strength
        long_terms = [t for t in qterms if len(t) > 1]
        kept = [
            (a, b, strength)
            for (a, b), strength in best.items()
            if b - a > 1
            and ns[a:b] not in nq  # an answer does not repeat the question
            and sum(len(t) for t in long_terms if t in ns[a:b]) < (b - a) * 0.6
        ]
        lefts, rights = _nearness(kept, positions_t, before)
        scored = []
        for (a, b, strength), left, right in zip(kept, lefts, rights):
            text = ns[a:b]
            near = (left + right) / total
            in_gap = any(ga - 1 <= a and b <= gb + 1 for ga, gb in gaps)
            listed = plural and ("、" in text or "和" in text)
            heur = 0.6 * strength + 0.5 * near + (0.5 if in_gap else 0.0) + (0.3 if listed else 0.0) - 0.004 * (b - a)
            scored.append((heur, a, b, strength, text, left, right, near, in_gap, listed))
        if learned:  # describe only the most plausible spans (and every clause): features cost more than the heuristic
            scored = sorted(scored, key=lambda x: -x[0])
            always = clauses | cores
            scored = scored[:MAX_RANKED_SPANS] + [x for x in scored[MAX_RANKED_SPANS:] if (x[1], x[2]) in always]
            qleft, qright = beside
            cuts = [i for i, ch in enumerate(ns) if ch in _CLAUSE_BREAKS]
            in_q = set(nq).__contains__
        out = []
        for heur, a, b, strength, text, left, right, near, in_gap, listed in scored:
            feats = None
            if learned:
                k = f"k={kind}"
                w = f"w={slot.group() if slot else ''}"
                feats = {
                    f"h={head}|last={flags[b - 1]}": 1.0,
                    f"h={head}|lastch={text[-1]}": 1.0,
                    f"h1={head[-1:]}|last={flags[b - 1]}": 1.0,
                    "adj_left": float(bool(qleft) and qleft in ns[max(0, a - len(qleft) - 1) : a]),
                    "adj_right": float(bool(qright) and qright in ns[b : b + len(qright) + 1]),
                    k: 1.0,
                    f"{k}|first={flags[a]}": 1.0,
                    f"{k}|last={flags[b - 1]}": 1.0,
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
                    "prev_break": float(a == 0 or ns[a - 1] in _BREAKS),
                    "next_break": float(b == len(ns) or ns[b] in _BREAKS),
                    f"{k}|prev={flags[a - 1] if a else '^'}": 1.0,
                    f"{k}|next={flags[b] if b < len(ns) else '$'}": 1.0,
                    f"{k}|prevch={ns[a - 1] if a else '^'}": 1.0,
                    f"{k}|nextch={ns[b] if b < len(ns) else '$'}": 1.0,
                    f"{w}|lastch={text[-1]}": 1.0,
                    f"{w}|firstch={text[0]}": 1.0,
                    f"{w}|last={flags[b - 1]}": 1.0,
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
                for pa, pb, w, t in positions_t:
                    if pb <= a:
                        if pa >= ca:
                            here[t] = w
                        if pa >= a - 12:
                            win_l[t] = w
                    elif pa >= b:
                        if pb <= cb:
                            here[t] = w
                        if pb <= b + 12:
                            win_r[t] = w
                clause_cover, wl, wr = (
                    sum(here.values()) / total,
                    sum(win_l.values()) / total,
                    sum(win_r.values()) / total,
                )
                head_last = float(bool(head) and text[-1] == head[-1])
                feats.update(
                    {
                        "clause_cover": clause_cover,
                        f"{k}|clause_cover": clause_cover,
                        "win_left": wl,
                        "win_right": wr,
                        f"{k}|win_left": wl,
                        f"{k}|win_right": wr,
                        "is_clause": float((a, b) in clauses),
                        f"{k}|is_clause": float((a, b) in clauses),
                        "is_core": float((a, b) in cores),
                        f"{k}|is_core": float((a, b) in cores),
                        "clauses": float(ib - ia),
                        "to_end": float(b == len(ns)),
                        "head_last": head_last,
                        "head_in": float(bool(head) and head in text),
                        f"{k}|head_last": head_last,
                        "copula_before": float(a > 0 and ns[a - 1] in "是为指"),
                        # a name runs on into what it did (方科告诉记者);
                        # a company into its product (星尘智能AstrilotS1)
                        f"{k}|verbs": float(bisect_left(verbs, b) - bisect_left(verbs, a)),
                        f"{k}|mixed": float(bool(_HAN.search(text)) and bool(_LATIN.search(text))),
                        "gloss": float((a, b) in glosses),
                        f"{k}|gloss": float((a, b) in glosses),
                    }
                )
                # A span that starts or ends with a word of the question usually carries part of the question.
                first, last = starts.get(a, ""), ends.get(b, "")
                edge = {"first_in_q": float(bool(first) and first in nq), "last_in_q": float(bool(last) and last in nq)}
                feats.update(edge)
                feats.update({f"{k}|{name}": v for name, v in edge.items()})
            out.append((heur, a, b, feats))
        return out


def _as_span(c, score: float, confidence: float) -> Span:
    """The ``Span`` of candidate ``c`` with its final score and confidence."""
    return Span(c.doc_id, c.start, c.end, c.sent_start, c.sent_end, c.passage_rank, score, confidence)
