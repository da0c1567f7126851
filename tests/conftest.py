"""Shared fixtures: a real engine over the seed articles, built once per session in a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = ROOT / "bench" / "data"
# Debian's Chromium, as the browser tests and the PDF-making tests launch it.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def seed_rows() -> list[dict]:
    return [
        json.loads(line)
        for line in (DATA / "seed_qa_dev.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    from qa import QA

    path = tmp_path_factory.mktemp("seed-index")
    QA.build(SEEDS, path)
    return path


@pytest.fixture(scope="session")
def engine(seed_index):
    from qa import QA

    return QA.load(seed_index)


@pytest.fixture()
def seeds_copy(tmp_path) -> Path:
    dst = tmp_path / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst
