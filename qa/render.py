"""An ``Answer`` for people: Markdown (``Answer.to_markdown``), plain text (the command line) and the chat
page's HTML pieces. Article text is always HTML-escaped where the output is HTML or Markdown, so markup
inside articles shows as text. The refusal's wording is ``types.REFUSAL``.
"""

from __future__ import annotations

from html import escape as esc

from .types import REFUSAL, Answer, Citation, Passage


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _where(title: str, section: str) -> str:
    return " › ".join(x for x in (title, section) if x)


# ----- Markdown --------------------------------------------------------------------------------------------
def markdown(a: Answer) -> str:
    """Chat-ready text: the quoted span with its [n] marker, then the sources."""
    if not a.answerable:
        lines = [f"{REFUSAL} (no answer found in the articles)."]
        if a.passages:
            lines += ["", "最相关的段落 (closest passages):"]
            for p in a.passages[:3]:
                lines.append(f"- {esc(_where(p.title, p.chunk.section))}: {esc(_clip(p.chunk.text, 80))}")
        return "\n".join(lines)
    markers = "".join(f"[{c.n}]" for c in a.citations[:1])
    lines = [f"「{esc(a.answer)}」{markers}", ""]
    for c in a.citations:
        lines.append(f"[{c.n}] {esc(_where(c.title, c.section))} (chars {c.start}–{c.end}): {esc(c.context)}")
    return "\n".join(lines)


# ----- plain text (the command line) -----------------------------------------------------------------------
def plain(a: Answer) -> str:
    """The answer and its citations, or the refusal and the closest passages, for a terminal."""
    if a.answerable:
        lines = [f"答案: {a.answer}  (confidence {a.score:.2f})"]
        for c in a.citations:
            lines.append(f"[{c.n}] {_where(c.title, c.section)} [{c.doc_id} {c.start}:{c.end}]\n    {c.context}")
        return "\n".join(lines)
    lines = [f"{REFUSAL} (no answer in the articles; confidence {a.score:.2f}). Closest passages:"]
    for p in a.passages[:3]:
        lines.append(f"  - {p.title} › {p.chunk.section or '导语'}: {p.chunk.text[:80]}…")
    return "\n".join(lines)


# ----- the chat page ---------------------------------------------------------------------------------------
def highlighted_context(c: Citation) -> str:
    """The cited sentence, escaped, with the quoted span in <mark>."""
    i = c.start - c.context_start
    j = i + len(c.quote)
    return f'{esc(c.context[:i])}<mark class="qa-span">{esc(c.context[i:j])}</mark>{esc(c.context[j:])}'


def answer_html(a: Answer, asked: str = "") -> str:
    """The chat bubble: the quoted answer with its [1] marker, or the refusal; ``asked`` (the question as
    typed) is shown when a follow-up was understood as another question."""
    understood = (
        f'<br><span class="qa-scores">（理解为 understood as：{esc(a.question)}）</span>'
        if asked and asked != a.question
        else ""
    )
    if not a.answerable:
        return (
            f'<span class="qa-abstain">{REFUSAL}。</span> '
            f"以下是最接近的段落，仅供参考 (closest passages below).{understood}"
        )
    return f'<span class="qa-answer">「{esc(a.answer)}」<sup>[1]</sup></span>{understood}'


def _passages(passages: list[Passage]) -> str:
    rows = []
    for p in passages:
        where = " › ".join(esc(x) for x in (p.title, p.chunk.section) if x)
        text = " ".join(p.chunk.text.split())
        text = esc(text if len(text) <= 160 else text[:160] + "…")
        dense = "–" if p.dense_score is None else f"{p.dense_score:.3f}"
        rows.append(
            f'<div class="qa-source"><b>#{p.rank} {where}</b> <span class="qa-scores">(fused {p.score:.3f} · '
            f"dense {dense} · lexical {p.lexical_score:.2f})</span><br>{text}</div>"
        )
    return "".join(rows)


def _located(c: Citation) -> str:
    """Where a quote stands: its page (PDFs) and character offsets; the scores stay with the passages."""
    return (f"第{c.page}页 p. {c.page} · " if c.page else "") + f"chars {c.start}–{c.end}"


def sources_html(a: Answer) -> str:
    """Citations (open) and the retrieved passages (collapsed); for an abstention, the passages open."""
    if not a.answerable:
        return (
            f'<details class="qa-passages" open><summary>最接近的段落 Closest passages</summary>'
            f"{_passages(a.passages[:5])}</details>"
        )
    cites = "".join(
        f'<div class="qa-source qa-citation"><b>[{c.n}] {" › ".join(esc(x) for x in (c.title, c.section) if x)}</b> '
        f'<span class="qa-scores">({_located(c)})</span><br>{highlighted_context(c)}</div>'
        for c in a.citations
    )
    return (
        f'<details class="qa-sources" open><summary>来源 Sources ({len(a.citations)})</summary>{cites}</details>'
        f'<details class="qa-passages"><summary>检索到的段落 Retrieved passages ({len(a.passages)})</summary>'
        f"{_passages(a.passages)}</details>"
    )
