"""Load: many concurrent users against the running app over loopback.

Starts ``app.py`` on a free 127.0.0.1 port, measures cold start and sequential latency
with ``gradio_client``, then sends a bounded number of ``/ask`` requests from N
concurrent HTTP clients (Gradio's documented call API), and reports errors, "busy" rejections, throughput and
latency percentiles. A second, overload phase sends more clients than the queue holds
(QA_QUEUE_SIZE) to show that overload is answered with a clear "busy" error, not a
timeout storm. Everything stops by itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .common import DATA, ROOT, machine, table, write

REQUEST_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(index_dir: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", QA_INDEX=index_dir, **(env_extra or {}))
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("app did not start")


def _ask_http(client, question: str) -> str:
    """One `/ask` through Gradio's HTTP call API: POST the inputs, then read the event stream.
    Returns "ok", "busy" (queue full) or raises with what went wrong."""
    r = client.post("gradio_api/call/ask", json={"data": [question, 5]})
    if r.status_code == 503 and "queue is full" in r.text.lower():  # Gradio's clear "busy" answer
        return "busy"
    if r.status_code != 200:
        raise RuntimeError(f"POST {r.status_code}: {r.text[:120]}")
    stream = client.get(f"gradio_api/call/ask/{r.json()['event_id']}").text
    if "event: complete" in stream and '"answer"' in stream:
        return "ok"
    if "queue is full" in stream.lower():
        return "busy"
    raise RuntimeError(stream[:200])


def phase(url: str, clients: int, requests: int, questions: list[str]) -> dict:
    """``clients`` concurrent HTTP clients share ``requests`` calls; bounded in count and time."""
    import httpx

    lock = threading.Lock()
    latencies, errors, busy = [], [], 0
    counter = iter(range(requests))

    def worker(_):
        nonlocal busy
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                try:
                    outcome = _ask_http(client, questions[i % len(questions)])
                except Exception as exc:  # noqa: BLE001 - counted as an error
                    with lock:
                        errors.append(repr(exc)[:200])
                    continue
                with lock:
                    if outcome == "busy":
                        busy += 1
                    else:
                        latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "clients": clients,
        "requests": requests,
        "ok": len(latencies),
        "errors": len(errors),
        "busy": busy,
        "throughput_rps": len(latencies) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)),
        "wall_s": wall,
        "error_samples": errors[:3],
    }


def run(limit: int | None = None) -> dict:
    questions = [json.loads(line)["question"] for line in (DATA / "seed_qa_dev.jsonl").read_text().splitlines()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from gradio_client import Client

        t0 = time.perf_counter()  # cold start: no index yet, a new process, until the first answer arrives
        proc, url = start_app(f"{tmp}/idx", {"QA_QUEUE_SIZE": "64", "QA_CONCURRENCY": "4"})
        try:
            client = Client(url, verbose=False, download_files=False)
            client.predict(questions[0], 5, api_name="/ask")
            cold = time.perf_counter() - t0
            sequential = []
            for q in questions * 2:
                t = time.perf_counter()
                client.predict(q, 5, api_name="/ask")
                sequential.append(1000 * (time.perf_counter() - t))
            single = {
                "cold_start_to_first_answer_s": cold,
                "ask_median_ms": float(np.median(sequential)),
                "ask_p95_ms": float(np.percentile(sequential, 95)),
                "sequential_requests": len(sequential),
            }
            phase(url, 4, 20, questions)  # warm-up
            rows.append(
                {
                    "phase": "normal: 50 clients, queue 64, 4 at once",
                    **phase(url, 50, 500 if not limit else 200, questions),
                }
            )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        # Overload: a deliberately small queue, so that more clients wait than it holds.
        proc, url = start_app(f"{tmp}/idx", {"QA_QUEUE_SIZE": "8", "QA_CONCURRENCY": "2"})
        try:
            rows.append(
                {
                    "phase": "overload: 100 clients, queue 8, 2 at once",
                    **phase(url, 100, 400 if not limit else 200, questions),
                }
            )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    md = (
        f"### Through the app (gradio_client on loopback; {machine()})\n\n"
        "Cold start (new process, index built from scratch) to first answer: "
        f"{single['cold_start_to_first_answer_s']:.1f} s; "
        f"one client, {single['sequential_requests']} sequential `/ask` calls: "
        f"median {single['ask_median_ms']:.0f} ms, "
        f"p95 {single['ask_p95_ms']:.0f} ms.\n\n"
        "### Load: concurrent HTTP clients on loopback (`/ask` through Gradio's call API)\n\n"
        "`errors`: failures other than a clear busy rejection (must be 0); "
        "`busy`: requests turned away because the queue was full.\n\n"
        + table(
            rows,
            ["phase", "clients", "requests", "ok", "errors", "busy", "throughput_rps", "p50_ms", "p95_ms", "p99_ms"],
        )
    )
    write("load", {"rows": rows, "single_client": single}, md)
    return {"rows": rows}
