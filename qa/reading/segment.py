"""Words and their parts of speech: jieba's segmenter, tagged from its own dictionary.

Loaded once (whichever thread asks first); ``tagged`` caches sentences, which recur across candidates
and questions.
"""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from pathlib import Path

# Characters that end a candidate span or a run of tokens.
BREAKS = set("，。；：！？,.;:!?、（）()《》“”「」『』\n ")

_SEGMENTER_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _load_segmenter():
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

    from ..config import Settings

    st = dictionary.stat()
    cache = Settings.from_env().cache_dir / f"jieba-tags-{st.st_size}-{st.st_mtime_ns}.marshal"
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
def tagged(sentence: str) -> tuple[tuple[int, int, str, str], ...]:
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


def entities(sentence: str, tags: tuple[str, ...]) -> list[tuple[int, int]]:
    """Offsets of jieba tokens whose POS tag starts with one of ``tags``, adjacent ones merged."""
    out: list[tuple[int, int]] = []
    for start, end, word, flag in tagged(sentence):
        if flag.startswith(tags) and len(word.strip()) >= 2:
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
    return out


def flags(s: str) -> list[str]:
    """The coarse POS tag of the token covering each character (n, nr, ns, nt, nz, v, m, t, x, …)."""
    out: list[str] = []
    for start, end, _, flag in tagged(s):
        out.extend([flag[:2] if flag.startswith("n") else flag[:1]] * (end - start))
    return out
