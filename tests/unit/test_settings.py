"""Configuration: one ``Settings``, read from the environment only by ``Settings.from_env``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.config import ROOT, Settings, cpu_bf16_flags, is_bfloat16, native_bfloat16


def test_from_env_reads_every_variable(tmp_path):
    env = {
        "QA_SEEDS": str(tmp_path / "articles"),
        "QA_INDEX": str(tmp_path / "idx"),
        "QA_MODEL": "zh-static",
        "QA_RANKER": "off",
        "QA_READER": "ranker",
        "QA_READER_THRESHOLD": "0.25",
        "QA_PRECISION": "Float32",
        "QA_CONCURRENCY": "2",
        "QA_QUEUE_SIZE": "8",
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": "8000",
        "HF_HUB_OFFLINE": "1",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    s = Settings.from_env(env)
    assert s == Settings(
        seeds=tmp_path / "articles",
        index=tmp_path / "idx",
        model="zh-static",
        ranker=False,
        reader="ranker",
        reader_threshold=0.25,
        precision="float32",
        concurrency=2,
        queue_size=8,
        host="0.0.0.0",
        port=8000,
        offline=True,
        cache_dir=tmp_path / "cache" / "cited-qa",
    )


def test_unset_or_empty_variables_keep_the_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"QA_INDEX": "", "QA_RANKER": " ", "HF_HUB_OFFLINE": "0"}) == Settings()
    assert Settings().index == ROOT / "index" and Settings().reader == "e5"


def test_a_bad_number_names_the_variable():
    with pytest.raises(ValueError, match=r"\$QA_READER_THRESHOLD must be a number, not 'high'"):
        Settings.from_env({"QA_READER_THRESHOLD": "high"})


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match=r"\$QA_PRECISION must be one of auto, bfloat16, float32, not 'fp8'"):
        Settings.from_env({"QA_PRECISION": "fp8"})


ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma avx512f\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
SAPPHIRE = "processor\t: 0\nflags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_the_cpus_bfloat16_instructions_are_read_from_its_flags():
    assert cpu_bf16_flags(ZEN3) == [] and cpu_bf16_flags("") == []
    assert cpu_bf16_flags(ZEN4) == ["avx512_bf16"]
    assert cpu_bf16_flags(SAPPHIRE) == ["amx_bf16", "avx512_bf16"]


def test_auto_precision_is_bfloat16_exactly_where_the_cpu_has_it():
    assert Settings().precision == "auto" and Settings.from_env({"QA_PRECISION": "AUTO"}).precision == "auto"
    assert is_bfloat16("auto") is native_bfloat16() is bool(cpu_bf16_flags())
    assert is_bfloat16("bfloat16") and not is_bfloat16("float32")


def test_options_override_and_none_leaves_a_field(tmp_path):
    s = Settings(model="zh-static").with_(index=tmp_path, model=None, seeds=None)
    assert (s.index, s.model, s.seeds) == (tmp_path, "zh-static", None)


def test_article_source_prefers_the_index_own_articles(tmp_path):
    assert Settings(index=tmp_path).article_source() == Settings.DEFAULT_SEEDS, "no index yet: the seeds"
    (tmp_path / "CURRENT").write_text("v-1")
    assert Settings(index=tmp_path).article_source() is None, "an index: its own articles"
    assert Settings(index=tmp_path, seeds=Path("x")).article_source() == Path("x")


def test_no_module_but_config_reads_the_environment():
    readers = []
    for path in [*sorted((ROOT / "qa").rglob("*.py")), ROOT / "app.py"]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"os\.environ(?!\.setdefault)|getenv\(", line):
                readers.append(f"{path.relative_to(ROOT)}:{n}")
    assert readers and all(r.startswith("qa/config.py:") for r in readers), readers
