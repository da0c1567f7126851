"""Chinese-aware text helpers shared by the stages: sentences and lexical terms."""

from __future__ import annotations

import re
import unicodedata

# A sentence ends at one of these, plus any closing quotes or brackets that follow.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;]+|…{1,2}|\.{3,})[”’」』）)】\"']*|\n+")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TERM = re.compile(rf"[{_CJK}]+|[0-9]+(?:\.[0-9]+)?|[a-z]+(?:'[a-z]+)?", re.IGNORECASE)


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        spans.append((pos, m.end()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


# Traditional → Simplified for the characters of question words, units, name suffixes and common
# function words, one character for one, so that Traditional questions are read like Simplified ones.
_T2S = str.maketrans(
    "誰裡裏麼甚幾個時間國區長遠種項場屆歲隻張億萬兩為與於從將對讓輛臺條頭級處點嗎會門員們說這號現發內經學關機構廳廠園廣灣館島鎮鄉縣東電車書詞語義稱當後來嗎麼鐘週歷層戶們紀錄華"
    "聯總協會醫衛銀隊黨單買賣價錢條約獎賽場邊運動達過還開間問題體產業與實際質變類別並於",
    "谁里里么什几个时间国区长远种项场届岁只张亿万两为与于从将对让辆台条头级处点吗会门员们说这号现发内经学关机构厅厂园广湾馆岛镇乡县东电车书词语义称当后来吗么钟周历层户们纪录华"
    "联总协会医卫银队党单买卖价钱条约奖赛场边运动达过还开间问题体产业与实际质变类别并于",
)


def normalize(text: str) -> str:
    """Per-character NFKC (full-width → half-width), lower case and Traditional → Simplified folding.

    Length-preserving, so offsets into the normalised text are offsets into the
    original: a character whose folded form is not one character is kept.
    """
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch).lower() if ord(ch) > 127 else ch.lower()
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out).translate(_T2S)


def terms(text: str) -> list[str]:
    """Lexical terms: CJK characters and character bigrams, numbers, Latin words.

    Unigrams give recall, bigrams approximate Chinese words without a dictionary,
    so the same function works for Simplified and Traditional text.
    """
    out: list[str] = []
    for m in _TERM.finditer(normalize(text)):
        run = m.group()
        if "\u3400" <= run[0]:
            out.extend(run)
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out
