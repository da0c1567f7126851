"""Cold start: fresh processes over a built seed index, each timed from launch to exit (median of runs).

`python -m qa ask` for a Chinese and an English question (the reader runs for both; torch is imported
then), the same Chinese question with the feature ranker alone (`QA_READER=ranker`, no torch), the app
from launch to its first answer with its peak memory, and in the same run the baselines they pay: the
interpreter with numpy, `import torch` alone and `import gradio` alone.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from .common import ROOT, machine, table, write

QUESTION = "星尘智能交付了多少台？"
ENGLISH_QUESTION = "How many units has Stardust Intelligence delivered?"
RUNS = 5


def _timed(cmd: list[str], env: dict, runs: int = RUNS) -> float:
    took = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env)
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def app_first_answer(index: str, env: dict) -> tuple[float, float]:
    """Seconds from `python app.py` to its first /ask answer, and the app's peak RSS (MiB) after it."""
    from gradio_client import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    t = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=dict(env, QA_INDEX=index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                if app.poll() is not None:
                    raise RuntimeError("the app exited before serving") from None
                time.sleep(0.05)
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, 5, api_name="/ask")
        first = time.perf_counter() - t
        rss = int(next(line.split()[1] for line in open(f"/proc/{app.pid}/status") if line.startswith("VmHWM"))) / 1024
    finally:
        app.terminate()
        app.wait(timeout=30)
    return first, rss


def run(limit: int | None = None) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        index = f"{tmp}/seeds"
        subprocess.run([py, "-m", "qa", "--index", index, "build"], cwd=ROOT, check=True, capture_output=True, env=env)
        base = _timed([py, "-c", "import numpy"], env)
        torch_alone = _timed([py, "-c", "import torch"], env)
        gradio_alone = _timed([py, "-c", "import gradio"], env)
        reader = _timed([py, "-m", "qa", "--index", index, "ask", QUESTION], env)
        english = _timed([py, "-m", "qa", "--index", index, "ask", ENGLISH_QUESTION], env)
        ranker = _timed([py, "-m", "qa", "--index", index, "ask", QUESTION], dict(env, QA_READER="ranker"))
        apps = [app_first_answer(index, env) for _ in range(2)]
    first = statistics.median(a for a, _ in apps)
    rss = max(r for _, r in apps)
    rows = [
        {
            "measure": f"cold `python -m qa ask` «{QUESTION}» (the default: the reader runs)",
            "value": reader,
            "unit": "s",
            "vs baseline": reader / base,
        },
        {
            "measure": f"cold `python -m qa ask` «{ENGLISH_QUESTION}»",
            "value": english,
            "unit": "s",
            "vs baseline": english / base,
        },
        {
            "measure": "the same Chinese question with the feature ranker alone (`QA_READER=ranker`, no torch)",
            "value": ranker,
            "unit": "s",
            "vs baseline": ranker / base,
        },
        {
            "measure": "app launch to first answer (`python app.py`, then /ask; the reader loads beside the server)",
            "value": first,
            "unit": "s",
            "vs baseline": first / base,
        },
        {"measure": "app peak RSS after its first answer", "value": rss, "unit": "MiB", "vs baseline": None},
        {
            "measure": "baseline in the same run: `python -c 'import numpy'`",
            "value": base,
            "unit": "s",
            "vs baseline": 1.0,
        },
        {
            "measure": "baseline in the same run: `python -c 'import torch'`",
            "value": torch_alone,
            "unit": "s",
            "vs baseline": torch_alone / base,
        },
        {
            "measure": "baseline in the same run: `python -c 'import gradio'` (what the app pays before any of ours)",
            "value": gradio_alone,
            "unit": "s",
            "vs baseline": gradio_alone / base,
        },
    ]
    md = (
        f"### Cold start ({machine()}; median of {RUNS} fresh processes, the app's of 2; "
        "goal: CLI ≤ 3 s, app ≤ 5 s)\n\n" + table(rows, ["measure", "value", "unit", "vs baseline"])
    )
    write("cold", {"rows": rows, "runs": RUNS}, md)
    print(md)
    return {"rows": rows}
