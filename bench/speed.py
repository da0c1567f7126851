"""Speed: ask() latency, index build time and throughput with the default model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from qa import QA, Settings
from qa.engine import clean_question
from qa.eval import harness, squad

from .common import DATA, ROOT, SEEDS_DIR, machine, table, write


def _pcts(xs: list[float]) -> dict:
    return {"p50_ms": 1000 * float(np.percentile(xs, 50)), "p95_ms": 1000 * float(np.percentile(xs, 95))}


def run(limit: int | None = None) -> dict:
    rows = []
    questions = [json.loads(line)["question"] for line in (DATA / "seed_qa_dev.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        # Cold: a fresh process that imports everything, loads the model and builds the seed index.
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "qa", "--index", f"{tmp}/cold", "build"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
        )
        cold = time.perf_counter() - t
        QA.build(SEEDS_DIR, f"{tmp}/warmup")  # imports, model and segmenter loaded
        t = time.perf_counter()
        engine = QA.build(SEEDS_DIR, f"{tmp}/warm")
        warm = time.perf_counter() - t
        rows.append({"measure": "seed index build, cold process (`python -m qa build`)", "value": cold, "unit": "s"})
        rows.append({"measure": "seed index build, warm process (`QA.build`)", "value": warm, "unit": "s"})
        for q in questions:  # warm-up
            engine.ask(q)
        full, retrieval, reading = [], [], []
        for _ in range(5):
            for q in questions:
                t = time.perf_counter()
                passages = engine.retrieve(q, 5)
                retrieval.append(time.perf_counter() - t)
                t = time.perf_counter()
                engine.read(clean_question(q), passages)  # the reader alone (the answer path's extraction)
                reading.append(time.perf_counter() - t)
                t = time.perf_counter()
                engine.ask(q)
                full.append(time.perf_counter() - t)
        ask, ret, read = _pcts(full), _pcts(retrieval), _pcts(reading)
        ranker_only = QA.load(
            f"{tmp}/warm", settings=Settings.from_env().with_(reader="ranker")
        ).warm_up()  # baseline in the same run: the feature ranker alone, warmed up as the reader's engine is
        for q in questions:
            ranker_only.ask(q)
        alone = []
        for _ in range(5):
            for q in questions:
                t = time.perf_counter()
                ranker_only.ask(q)
                alone.append(time.perf_counter() - t)
        base = _pcts(alone)
        rows += [
            {
                "measure": "ask() latency p50 (seed questions, after warm-up; reader on)",
                "value": ask["p50_ms"],
                "unit": "ms",
            },
            {"measure": "ask() latency p95 (reader on)", "value": ask["p95_ms"], "unit": "ms"},
            {
                "measure": "baseline in the same run: ask() with the feature ranker alone, p50",
                "value": base["p50_ms"],
                "unit": "ms",
            },
            {"measure": "baseline: ask() with the feature ranker alone, p95", "value": base["p95_ms"], "unit": "ms"},
            {
                "measure": "the reader alone (`engine.read` on retrieved passages), p50",
                "value": read["p50_ms"],
                "unit": "ms",
            },
            {"measure": "the reader alone, p95", "value": read["p95_ms"], "unit": "ms"},
            {
                "measure": "the reader's share of ask() (p50: reader alone / ask())",
                "value": read["p50_ms"] / ask["p50_ms"],
                "unit": "",
            },
            {"measure": "baseline in the same run: retrieval alone p50", "value": ret["p50_ms"], "unit": "ms"},
            {"measure": "ratio ask() / retrieval alone (p50)", "value": ask["p50_ms"] / ret["p50_ms"], "unit": "×"},
            {
                "measure": "extraction + citations per question (p50 difference)",
                "value": ask["p50_ms"] - ret["p50_ms"],
                "unit": "ms",
            },
        ]
    for name in ("cmrc2018_dev.json", "DRCD_dev.json"):
        # Extraction alone (candidates, features, ranker, answerability, citations) on new questions:
        # every held-out question asked once, after retrieval, so the segmenter cache is not warm.
        engine, items, _, _ = harness.load_task(DATA / name, Settings.from_env(), "hybrid", "heldout")
        items = items[:limit] if limit else items
        engine.ask(items[0].question)
        took = []
        for it in items:
            passages = engine.retrieve(it.question, 5)
            t = time.perf_counter()
            engine.answer(it.question, passages)
            took.append(time.perf_counter() - t)
        ext = _pcts(took)
        rows.append(
            {
                "measure": f"extraction per new question, {name} held-out ({len(items)}), p50",
                "value": ext["p50_ms"],
                "unit": "ms",
            }
        )
        rows.append(
            {"measure": f"extraction per new question, {name} held-out, p95", "value": ext["p95_ms"], "unit": "ms"}
        )
    paragraphs = squad.load(DATA / "cmrc2018_dev.json") + squad.load(DATA / "DRCD_dev.json")
    docs = squad.documents_from_squad(paragraphs[:limit] if limit else paragraphs)
    t = time.perf_counter()
    big = QA.build(docs)
    took = time.perf_counter() - t
    rows.append(
        {
            "measure": f"build throughput, {len(docs)} CMRC+DRCD paragraphs → {len(big.store.chunks)} chunks",
            "value": len(big.store.chunks) / took,
            "unit": "chunks/s",
        }
    )
    md = f"### Speed ({machine()}; default model e5-small, reader on)\n\n" + table(rows, ["measure", "value", "unit"])
    write("speed", {"rows": rows}, md)
    return {"rows": rows}
