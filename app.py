"""Gradio chat page over the QA engine (also the Hugging Face Space entry point).

``python app.py [--host H] [--port P]``: binds to 127.0.0.1:7860 unless told otherwise
(flags, or the usual GRADIO_SERVER_NAME / GRADIO_SERVER_PORT variables).
Endpoints: the chat (``/chat``) and ``/ask``, which returns ``Answer.to_dict()`` as JSON.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault(
    "GRADIO_ANALYTICS_ENABLED", "False"
)  # no calls home: the app makes no network requests of its own

import gradio as gr  # noqa: E402

from qa import QA, config, get_engine, render  # noqa: E402
from qa.articles import read_file  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.engine import clean_question  # noqa: E402
from qa.types import Document  # noqa: E402

log = logging.getLogger("qa.app")

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOADS = 10
UPLOAD_TYPES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
SCOPES = {"示例文章 (seed articles)": "seed", "我的文章 (my uploads)": "mine", "全部 (both)": "both"}
EXAMPLES = [
    "2024年深圳人工智能产业规模是多少？",
    "元戎启行交付了多少辆车？",
    "星尘智能的联合创始人是谁？",
    "退休后享受职工医保待遇，职工医保累计缴费年限要满多少年？",
    "国际电子电路(深圳)展览会在哪里举办？",
]
EMPTY_TEXT = "请输入问题，例如：2024年深圳人工智能产业规模是多少？ (the question is empty)"
# After an answer: bring the question and its answer to the top of the chat (the sources follow below).
SCROLL_JS = """() => { const users = document.querySelectorAll('#chat .message-row.user-row, #chat .user');
  const last = users[users.length - 1]; if (last) last.scrollIntoView({block: 'start'}); }"""
CSS = """
.qa-answer { font-size: 1.1em; }
.qa-abstain { color: #8a5a00; font-weight: 600; }
.qa-error { color: #b00020; font-weight: 600; }
.qa-source { margin: .4em 0; }
.qa-scores { color: #666; font-size: .85em; }
mark.qa-span { background: #ffe58a; padding: 0 .1em; }
"""
esc = render.esc


@dataclass
class Session:
    """One browser session's own articles and questions; never shared, gone when the session ends."""

    docs: list[Document] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    engines: dict[str, QA] = field(default_factory=dict)

    def sources(self) -> list[str]:
        """The uploaded files' names, in upload order."""
        return list(dict.fromkeys(d.source.removeprefix("upload:") for d in self.docs))

    def engine(self, scope: str) -> QA:
        if scope == "seed" or not self.docs:
            return get_engine()
        if scope not in self.engines:
            base = get_engine()
            docs = self.docs if scope == "mine" else base.documents + self.docs
            self.engines[scope] = QA.build(docs, model=base.embedder)
        return self.engines[scope]


def respond(message: str, chat: list, k: float, scope_label: str, session: Session | None):
    """Chat handler; streams 'searching…', then the answer, then its sources."""
    session = session or Session()
    chat = list(chat or [])
    try:
        question = clean_question(str(message or ""))
    except ValueError as exc:  # no user bubble for an empty question; the reason in the page's language
        reason = EMPTY_TEXT if "empty" in str(exc) else esc(str(exc))
        chat.append({"role": "assistant", "content": f'<span class="qa-error">⚠️ {reason}</span>'})
        yield chat, "", session
        return
    chat.append({"role": "user", "content": esc(str(message))})
    scope = SCOPES.get(scope_label, "seed")
    if scope == "mine" and not session.docs:
        chat.append(
            {
                "role": "assistant",
                "content": '<span class="qa-error">⚠️ 还没有上传文章：请先在「设置与我的文章」中上传，'
                "或选择示例文章 (no uploaded articles yet).</span>",
            }
        )
        yield chat, "", session
        return
    chat.append({"role": "assistant", "content": "🔎 正在检索… (searching)"})
    yield chat, "", session
    try:
        answer = session.engine(scope).ask_followup(question, session.history, k=int(k))
    except Exception:  # never show a traceback to users; log it
        log.exception("answering %r failed", question)
        chat[-1] = {
            "role": "assistant",
            "content": '<span class="qa-error">⚠️ 出错了，请稍后再试 (internal error).</span>',
        }
        yield chat, "", session
        return
    session.history = (session.history + [question])[-10:]
    chat[-1] = {"role": "assistant", "content": render.answer_html(answer, question)}
    yield chat, "", session
    chat[-1] = {
        "role": "assistant",
        "content": render.answer_html(answer, question) + "\n\n" + render.sources_html(answer),
    }
    yield chat, "", session


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", Path(name).name)[:80] or "upload"


def upload(files: list | None, session: Session | None):
    """Add uploaded articles to this session's private collection (size, count and type limited).

    Each file is read once, then its bytes are deleted and the upload widget is emptied; the session's
    articles are listed in the "my articles" box, whose × removes one. Messages never show server paths."""
    session = session or Session()
    notes = []
    for f in files or []:
        path = Path(f if isinstance(f, str) else getattr(f, "name", f["path"] if isinstance(f, dict) else f))
        name = _safe_name(path.name)
        source = f"upload:{name}"
        try:
            if path.suffix.lower() not in UPLOAD_TYPES:
                notes.append(f"✗ {esc(name)}: only {', '.join(UPLOAD_TYPES)} files")
            elif any(d.source == source for d in session.docs):
                notes.append(f"✓ {esc(name)}: already added")
            elif len(session.sources()) >= MAX_UPLOADS:
                notes.append(f"✗ {esc(name)}: at most {MAX_UPLOADS} files per session")
            elif path.stat().st_size > MAX_UPLOAD_BYTES:
                notes.append(f"✗ {esc(name)}: larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
            else:
                docs = read_file(path, stem=source)
                session.docs.extend(docs)
                session.engines.clear()
                titles = "、".join(esc(d.title) for d in docs[:3]) + ("…" if len(docs) > 3 else "")
                notes.append(f"✓ {esc(name)}: {len(docs)} article(s) ({titles})" if docs else f"✗ {esc(name)}: no text")
        except OSError as exc:  # the message of an OSError names the server's path: say only what went wrong
            notes.append(f"✗ {esc(name)}: unreadable ({esc(exc.strerror or type(exc).__name__)})")
        except ValueError as exc:  # the readers' own one-sentence reasons (encrypted PDF, zip bomb, …)
            notes.append(f"✗ {esc(name)}: unreadable ({esc(str(exc))})")
        finally:
            path.unlink(missing_ok=True)  # the upload's bytes are not kept on disk
    mine = session.sources()
    return "<br>".join(notes), session, gr.update(value=None), gr.update(choices=mine, value=mine)


def keep_uploads(kept: list[str] | None, session: Session | None):
    """The "my articles" box changed: articles whose file was removed (×) leave the session."""
    session = session or Session()
    kept = set(kept or [])
    before = len(session.docs)
    session.docs = [d for d in session.docs if d.source.removeprefix("upload:") in kept]
    if len(session.docs) != before:
        session.engines.clear()
    return session


def ask(question: str, k: int = 5) -> dict:
    """Answer a question from the seed articles; returns the answer object (answer, citations, passages) as JSON."""
    try:
        return get_engine().ask(question, k=int(k)).to_dict()
    except ValueError as exc:
        raise gr.Error(str(exc), print_exception=False) from exc


def build_demo(settings: Settings | None = None) -> gr.Blocks:
    settings = settings or Settings.from_env()
    with gr.Blocks(title="深圳新闻问答 · Cited QA", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "## 深圳新闻问答 · Cited QA\n答案只摘自文章原文，并标注出处；资料中没有的，就直说没有。"
            " Answers are verbatim quotes from the articles, with citations."
        )
        session = gr.State(None, time_to_live=6 * 3600)
        chat = gr.Chatbot(
            label="对话", height=520, latex_delimiters=[], sanitize_html=True, elem_id="chat", autoscroll=False
        )
        with gr.Row():
            box = gr.Textbox(
                placeholder="请输入问题，例如：2024年深圳人工智能产业规模是多少？",
                show_label=False,
                scale=8,
                elem_id="question",
                max_length=2000,
            )
            send = gr.Button("提问 Ask", variant="primary", scale=1, elem_id="send")
        gr.Examples(EXAMPLES, inputs=box, label="示例问题 Examples")
        with gr.Accordion("设置与我的文章 (settings, my articles)", open=False):
            k = gr.Slider(1, 10, value=5, step=1, label="检索段落数 k (passages retrieved)", elem_id="k")
            scope = gr.Radio(
                list(SCOPES), value=next(iter(SCOPES)), label="在哪些文章中查找 (search in)", elem_id="scope"
            )
            files = gr.File(
                label=f"上传文章 (.txt/.md/.html/.pdf/.docx, ≤{MAX_UPLOAD_BYTES // 2**20} MiB, ≤{MAX_UPLOADS} files; "
                "private to this session)",
                file_count="multiple",
                file_types=list(UPLOAD_TYPES),
                elem_id="upload",
            )
            uploaded = gr.HTML(elem_id="uploaded")
            mine = gr.Dropdown(
                [],
                value=[],
                multiselect=True,
                label="我的文章 (my articles; × removes one)",
                elem_id="mine",
                allow_custom_value=False,
                interactive=True,
            )
        for trigger in (box.submit, send.click):
            trigger(
                respond,
                [box, chat, k, scope, session],
                [chat, box, session],
                api_name="chat" if trigger == box.submit else False,
            ).then(None, js=SCROLL_JS)
        files.upload(upload, [files, session], [uploaded, session, files, mine], api_visibility="private")
        mine.change(keep_uploads, [mine, session], [session], api_visibility="private")
        gr.api(ask, api_name="ask")
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return demo


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run the chat page.")
    ap.add_argument("--host", default=None, help="default: $GRADIO_SERVER_NAME, else 127.0.0.1")
    ap.add_argument("--port", type=int, default=None, help="default: $GRADIO_SERVER_PORT, else 7860")
    args = ap.parse_args(argv)
    settings = Settings.from_env().with_(host=args.host, port=args.port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = get_engine(settings, warm_up=False)  # build or load the index before the first visitor

    def warm_up() -> None:
        config.limit_threads(settings.concurrency)
        engine.warm_up()

    # torch, its thread limits and the reader's weights load beside the starting server (torch's import is off
    # the way to the first page); a question that arrives meanwhile waits for them.
    threading.Thread(target=warm_up, name="reader-warm-up", daemon=True).start()
    build_demo(settings).launch(
        server_name=settings.host, server_port=settings.port, css=CSS, show_error=False, footer_links=["api"]
    )


if __name__ == "__main__":
    main()
