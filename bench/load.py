"""Load: many concurrent gradio_client users against the running app over loopback.

Starts ``app.py`` on a free 127.0.0.1 port, sends a bounded number of ``/ask`` requests
from N concurrent clients, and reports errors, "busy" rejections, throughput and
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

from .common import DATA, ROOT, table, write

REQUEST_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(index_dir: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", QA_INDEX=index_dir, **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
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


def phase(url: str, clients: int, requests: int, questions: list[str]) -> dict:
    from gradio_client import Client

    lock = threading.Lock()
    latencies, errors, busy = [], [], 0
    counter = iter(range(requests))

    def worker(_):
        nonlocal busy
        client = Client(url, verbose=False, download_files=False)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            try:
                job = client.submit(questions[i % len(questions)], 5, api_name="/ask")
                result = job.result(timeout=REQUEST_TIMEOUT_S)
                assert "answer" in result
                with lock:
                    latencies.append(time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - classified and counted
                with lock:
                    if "queue is full" in str(exc).lower() or "busy" in str(exc).lower():
                        busy += 1
                    else:
                        errors.append(repr(exc)[:200])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"clients": clients, "requests": requests, "ok": len(latencies), "errors": len(errors), "busy": busy,
            "throughput_rps": len(latencies) / wall, "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)), "wall_s": wall, "error_samples": errors[:3]}


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
            single = {"cold_start_to_first_answer_s": cold, "ask_median_ms": float(np.median(sequential)),
                      "ask_p95_ms": float(np.percentile(sequential, 95)), "sequential_requests": len(sequential)}
            phase(url, 4, 20, questions)  # warm-up
            rows.append({"phase": "normal: 50 clients, queue 64, 4 at once", **phase(url, 50, 500 if not limit else 200, questions)})
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        # Overload: a deliberately small queue, so that more clients wait than it holds.
        proc, url = start_app(f"{tmp}/idx", {"QA_QUEUE_SIZE": "8", "QA_CONCURRENCY": "2"})
        try:
            rows.append({"phase": "overload: 100 clients, queue 8, 2 at once", **phase(url, 100, 400 if not limit else 200, questions)})
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    md = ("### Through the app (gradio_client on loopback)\n\n"
          f"Cold start (new process, index built from scratch) to first answer: {single['cold_start_to_first_answer_s']:.1f} s; "
          f"one client, {single['sequential_requests']} sequential `/ask` calls: median {single['ask_median_ms']:.0f} ms, "
          f"p95 {single['ask_p95_ms']:.0f} ms.\n\n"
          "### Load: concurrent gradio_client users on loopback (`/ask`)\n\n"
          "`errors`: failures other than a clear busy rejection (must be 0); `busy`: requests turned away because the queue was full.\n\n"
          + table(rows, ["phase", "clients", "requests", "ok", "errors", "busy", "throughput_rps", "p50_ms", "p95_ms", "p99_ms"]))
    write("load", {"rows": rows, "single_client": single}, md)
    return {"rows": rows}
