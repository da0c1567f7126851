"""The chat page end to end: the real app in a subprocess, driven by Debian's Chromium and gradio_client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import CHROME_ARGS, CHROMIUM, ROOT, SEEDS

ARTIFACTS = ROOT / "tests" / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app") / "app.log"


@pytest.fixture(scope="module")
def app_url(seed_index, app_log):
    port = _free_port()
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", QA_INDEX=str(seed_index), QA_SEEDS=str(SEEDS), GRADIO_ANALYTICS_ENABLED="False"
    )
    env.pop("GRADIO_SERVER_NAME", None)
    log = open(app_log, "w")
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"app did not start:\n{app_log.read_text()}")
            time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
    with pytest.raises(ProcessLookupError):  # nothing of the app's process group is left behind
        os.killpg(proc.pid, 0)


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.rsplit(":", 1)
            if state == "0A" and int(p, 16) == port:
                found.append(addr)
    return found


def test_binds_to_loopback_only(app_url):
    port = int(app_url.rsplit(":", 1)[1].strip("/"))
    assert _listening(port) == ["0100007F"]  # 127.0.0.1 only, no wildcard or IPv6 listener


def test_ask_endpoint_with_gradio_client(app_url, engine):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    d = client.predict("2024年深圳人工智能产业规模是多少？", 5, api_name="/ask")
    assert set(d) == {"question", "answer", "answerable", "score", "citations", "passages"}
    assert d["answerable"] and d["answer"] in ("3600亿元", "突破3600亿元")
    for c in d["citations"]:
        assert engine.document(c["doc_id"]).text[c["start"] : c["end"]] == c["quote"]
    assert d["answer"] in d["citations"][0]["quote"]
    d = client.predict("星尘智能S1机器人的售价是多少？", 3, api_name="/ask")
    assert d["answerable"] is False and d["answer"] == "" and len(d["passages"]) == 3
    with pytest.raises(Exception, match="empty"):
        client.predict("   ", 5, api_name="/ask")


def test_validation_errors_leave_no_traceback_in_the_server_log(app_url, app_log):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    for bad in ("   ", "\x00\x01"):
        with pytest.raises(Exception, match="empty"):
            client.predict(bad, 5, api_name="/ask")
    time.sleep(0.5)
    assert "Traceback" not in app_log.read_text()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (make browser installs it)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, app_url, request):
    ctx = browser.new_context(viewport={"width": 1100, "height": 1000})
    pg = ctx.new_page()
    pg.goto(app_url)
    pg.wait_for_selector("#question textarea")
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()


def _ask(pg, question: str, n_bot: int) -> None:
    """Type a question, submit, and wait until n bot messages have their sources, the last one among them."""
    box = pg.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    pg.wait_for_function(
        # messages counted, not elements (an answer may hold both sources and passages), the last one finished
        "n => { const bots = [...document.querySelectorAll('#chat .bot')];"
        " const done = bots.filter(b => b.querySelector('.qa-sources, .qa-passages'));"
        " return done.length >= n && done.includes(bots[bots.length - 1]); }",
        arg=n_bot,
        timeout=30_000,
    )
    pg.wait_for_timeout(300)


def _use_my_articles(pg) -> None:
    pg.get_by_text("设置与我的文章").click()
    pg.locator("#scope").get_by_text("我的文章").click()


def _last_bot(pg):
    return pg.locator("#chat .bot").last


@pytest.mark.browser
def test_question_answer_citation_and_follow_up(page, engine):
    _ask(page, "元戎启行交付了多少辆车？", 1)
    bot = _last_bot(page)
    expected = engine.ask("元戎启行交付了多少辆车？")
    assert f"「{expected.answer}」" in bot.inner_text() and "[1]" in bot.inner_text()
    mark = bot.locator("mark.qa-span").first
    assert mark.is_visible() and mark.inner_text() == expected.citations[0].quote
    assert "深圳AI竞速全球“智”造高地" in bot.locator(".qa-citation").first.inner_text()
    _ask(page, "它哪一年推出无图方案？", 2)
    bot = _last_bot(page)
    assert "「2022年」" in bot.inner_text() and "元戎启行" in bot.inner_text()
    assert bot.locator("mark.qa-span").first.inner_text() == "2022年"


@pytest.mark.browser
def test_abstention_looks_different_from_an_error(page):
    _ask(page, "晶泰科技的股票代码是多少？", 1)
    bot = _last_bot(page)
    assert bot.locator(".qa-abstain").is_visible() and "资料中未找到明确答案" in bot.inner_text()
    assert bot.locator(".qa-passages .qa-source").count() >= 1
    assert bot.locator(".qa-error").count() == 0
    page.locator("#question textarea").fill(" ")
    page.locator("#send").click()
    page.wait_for_selector("#chat .bot .qa-error", timeout=20_000)
    assert "empty" in _last_bot(page).inner_text()


@pytest.mark.browser
def test_uploaded_article_is_escaped_and_private(page, browser, app_url, tmp_path):
    evil = tmp_path / "evil<img>.html"
    evil.write_text(
        "<h1>星河公司简介</h1><p>星河公司总部位于杭州&lt;script&gt;window.__xss=1&lt;/script&gt;，"
        '&lt;img src=x onerror="window.__xss=2"&gt;成立于2019年。</p><script>window.__xss=3</script>',
        encoding="utf-8",
    )
    _use_my_articles(page)
    page.locator("#upload input[type=file]").set_input_files(str(evil))
    page.wait_for_function(
        "document.querySelector('#uploaded') && document.querySelector('#uploaded').innerText.includes('星河')",
        timeout=30_000,
    )
    _ask(page, "星河公司总部位于哪里？", 1)
    bot = _last_bot(page)
    assert "「杭州" in bot.inner_text()  # the answer starts at 杭州 (the span may run on into the literal tag text)
    assert "<script>window.__xss=1</script>" in bot.inner_text()  # shown as text
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chat img[src=x]").count() == 0
    # Another session (a fresh page) cannot see the upload.
    other = browser.new_page()
    other.goto(app_url)
    other.wait_for_selector("#question textarea")
    _use_my_articles(other)
    other.locator("#question textarea").fill("星河公司总部位于哪里？")
    other.locator("#send").click()
    other.wait_for_selector("#chat .bot .qa-error", timeout=30_000)  # that session has no uploads of its own
    assert "还没有上传文章" in _last_bot(other).inner_text() and "杭州" not in _last_bot(other).inner_text()
    other.close()


def test_ask_endpoint_property(app_url, engine):
    """Random text through the live endpoint: a clear validation error or a verbatim, cited answer."""
    from gradio_client import Client
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    client = Client(app_url, verbose=False)
    texts = "\n".join(d.text for d in engine.documents)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(q=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=200))
    def check(q):
        try:
            d = client.predict(q, 5, api_name="/ask")
        except Exception as exc:  # noqa: BLE001 - only the validation error is acceptable
            assert "empty" in str(exc), exc
            return
        assert d["answer"] == "" or d["answer"] in texts
        for c in d["citations"]:
            assert engine.document(c["doc_id"]).text[c["start"] : c["end"]] == c["quote"]

    check()


def _wait_uploaded(pg, name: str) -> None:
    pg.wait_for_function(
        "n => (document.querySelector('#uploaded') || {}).innerText?.includes(n)", arg=name, timeout=30_000
    )


@pytest.mark.browser
def test_uploads_one_by_one_then_removed_with_the_cross(page, tmp_path):
    import docx

    _use_my_articles(page)
    page.locator("#question textarea").fill("星河公司总部位于哪里？")
    page.locator("#send").click()
    page.wait_for_selector("#chat .bot .qa-error", timeout=20_000)
    assert "还没有上传文章" in _last_bot(page).inner_text()  # not an answer from the seed articles
    first = tmp_path / "first.md"
    first.write_text("# 星河公司简介\n\n星河公司总部位于杭州，成立于2019年，主营卫星通信设备。", encoding="utf-8")
    second = tmp_path / "second.docx"
    d = docx.Document()
    d.add_heading("月光公司简介", 1)
    d.add_paragraph("月光公司总部位于成都，成立于2021年，主营储能电池。")
    d.save(second)
    page.locator("#upload input[type=file]").set_input_files(str(first))
    _wait_uploaded(page, "first.md")
    page.locator("#upload input[type=file]").set_input_files(str(second))
    _wait_uploaded(page, "second.docx")
    note = page.locator("#uploaded").inner_text()
    assert "unreadable" not in note and "/tmp" not in page.content() and "gradio" not in note
    assert page.locator("#upload a[href*='file=']").count() == 0  # no download links to deleted bytes
    assert page.locator("#mine .token").all_inner_texts() == ["first.md", "second.docx"]
    _ask(page, "月光公司总部位于哪里？", 1)  # the first bot message with sources (the one before was a notice)
    assert "「成都」" in _last_bot(page).inner_text()
    page.locator("#mine .token", has_text="first.md").locator(".token-remove").click()
    page.wait_for_timeout(1000)
    _ask(page, "星河公司总部位于哪里？", 2)
    assert "杭州" not in _last_bot(page).locator(".qa-answer").all_inner_texts()
    assert "星河" not in _last_bot(page).inner_text()


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_question_and_answer_stay_in_view(browser, app_url, width):
    ctx = browser.new_context(viewport={"width": width, "height": 800})
    pg = ctx.new_page()
    pg.goto(app_url)
    pg.wait_for_selector("#question textarea")
    _ask(pg, "元戎启行已交付多少辆量产车？", 1)
    _ask(pg, "2024年深圳人工智能产业规模是多少？", 2)
    pg.wait_for_timeout(800)
    box = pg.evaluate("""() => {
      const users = document.querySelectorAll('#chat .user'); const q = users[users.length - 1].getBoundingClientRect();
      const a = document.querySelectorAll('#chat .bot .qa-answer, #chat .bot .qa-abstain');
      const r = a[a.length - 1].getBoundingClientRect();
      return {q_top: q.top, q_bottom: q.bottom, a_top: r.top, a_bottom: r.bottom, h: window.innerHeight}; }""")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"in-view-{width}.png"))
    ctx.close()
    assert -2 <= box["q_top"] and box["a_bottom"] <= box["h"], box  # (sub-pixel layout)


@pytest.mark.browser
def test_empty_question_has_no_bubble_and_citations_show_no_raw_scores(page):
    page.locator("#question textarea").fill("   ")
    page.locator("#send").click()
    page.wait_for_selector("#chat .bot .qa-error", timeout=20_000)
    assert page.locator("#chat .user").count() == 0
    assert "请输入问题" in _last_bot(page).inner_text()
    _ask(page, "元戎启行已交付多少辆量产车？", 1)
    cite = _last_bot(page).locator(".qa-citation").first.inner_text()
    assert "chars" in cite and "score" not in cite
