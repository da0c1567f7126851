"""Answer metrics of the CMRC 2018 evaluation script.

Lower-case, drop the official punctuation list, CJK characters are single tokens and other runs are word
tokens; F1 uses the longest common contiguous token run; EM and F1 take the maximum over the gold answers;
a missing prediction scores 0.
"""

from __future__ import annotations

import re

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


def recall_at(ranks: list[int | None], k: int) -> float:
    """Share of questions whose gold item is ranked within the first ``k`` (rank ``None``: not found)."""
    return sum(r is not None and r <= k for r in ranks) / len(ranks) if ranks else 0.0


def mrr_at(ranks: list[int | None], k: int = 10) -> float:
    """Mean reciprocal rank of the gold item, counting only ranks within the first ``k``."""
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0
