"""Segmentation repairs, clause variants and the question's neighbours, on fixed sentences."""

from qa.reading.candidates import clause_cores as _clause_cores
from qa.reading.candidates import longest_common as _longest_common
from qa.reading.candidates import token_spans as _token_spans
from qa.reading.question import _head, _slot_neighbours, question_type
from qa.reading.segment import _segmenter, _unglue
from qa.reading.segment import tagged as _tagged
from qa.text import normalize


def _words(sentence: str) -> list[str]:
    toks = _tagged(sentence)
    assert "".join(w for _, _, w, _ in toks) == sentence
    assert all(sentence[a:b] == w for a, b, w, _ in toks), "offsets match the words"
    return [w for _, _, w, _ in toks]


def test_function_characters_glued_to_new_words_are_split_off():
    # jieba's new-word HMM reads 嘻哈是 / 法中 / 基在 as one word each
    assert _words("嘻哈是最受欢迎的曲风")[:2] == ["嘻哈", "是"]
    assert "法" in _words("因此在国际人道法中规定") and "中" in _words("因此在国际人道法中规定")
    spans = {s[a:b] for s in ["专栏作家西德尼·斯科尔斯基在他的文章中"] for a, b in _token_spans(s)}
    assert "西德尼·斯科尔斯基" in spans


def test_dictionary_words_and_short_names_stay_whole():
    table = _segmenter()[1]
    assert _unglue("于是", table) == ["于是"]  # a dictionary word
    assert _unglue("张和", table) == ["张和"]  # surname + one character: maybe a name
    assert _unglue("如王怡", table) == ["如", "王怡"]


def test_clause_cores_drop_the_leading_verb_or_connective():
    s = "嘉诺撒圣家学校,位于九龙城联合道102号,又因其文物古迹丰富"
    cores = {s[a:b].strip(",") for a, b in _clause_cores(s)}
    assert "九龙城联合道102号" in cores
    assert "其文物古迹丰富" in cores
    assert "嘉诺撒圣家学校" not in cores, "a clause that starts with a noun is not cut"


def _neighbours(question: str) -> tuple[str, str]:
    nq = normalize(question)
    _, slot = question_type(nq)
    return _slot_neighbours(nq, slot, _head(nq, slot))


def test_slot_neighbours_are_the_words_around_the_question_word_and_its_head():
    assert _neighbours("嘉诺撒圣家学校位于哪里？") == ("位于", "")
    left, right = _neighbours("哪个城市举办了2008年奥运会？")
    assert (left, right) == ("", "举办"), "the head noun 城市 belongs to the question word"
    assert _neighbours("長江發源於哪一座山？")[0] == "发源", "Traditional questions are folded first"


def test_longest_common_run_is_located_in_the_sentence():
    s = "据介绍，嘉诺撒圣家学校位于九龙城联合道102号"
    n, a, b = _longest_common(normalize("嘉诺撒圣家学校在哪里"), s)
    assert (n, s[a:b]) == (7, "嘉诺撒圣家学校")
    assert _longest_common("什么", "没有共同的字") == (0, 0, 0)
