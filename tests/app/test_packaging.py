"""Metadata that deployments rely on: requirements.txt matches pyproject.toml, the Space front matter, shipped files."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from conftest import ROOT


def test_requirements_match_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(reqs) == sorted(deps)


def test_space_front_matter():
    import gradio

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("---\n")
    front = readme.split("---\n")[1]
    fields = dict(re.findall(r"^(\w+):\s*(.*)$", front, re.M))
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert fields["sdk_version"] == gradio.__version__, "pin the Space to the Gradio version the tests ran with"
    assert "BAAI/bge-small-zh-v1.5" in front and "preload_from_hub" in front and "python_version" in fields


def test_package_ships_tokenizer_file_and_model():
    assert (ROOT / "qa" / "data" / "9b5ad71b2ce5302211f9c61530b329a4922fc6a4").stat().st_size > 1_000_000
    model = ROOT / "qa" / "models" / "zh-static"
    assert (model / "model.safetensors").exists() and (model / "README.md").exists()
    assert sum(f.stat().st_size for f in model.iterdir()) < 30 * 2**20
    assert "CC BY-SA" in (model / "README.md").read_text()


def test_package_ships_the_e5_models_under_their_size_budget():
    reader = ROOT / "qa" / "models" / "e5-reader"
    embedder = ROOT / "qa" / "models" / "e5-small"
    size = sum(f.stat().st_size for d in (reader, embedder) for f in d.iterdir())
    assert size < 100 * 2**20
    assert not list(reader.glob("*.bin")) and not list(reader.glob("*.pt"))  # safetensors only, no pickle
    assert "MIT" in (embedder / "README.md").read_text() and "CC BY-SA 4.0" in (reader / "README.md").read_text()


def test_setup_metadata_uses_an_spdx_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str) and "MIT" in project["license"]


def test_the_code_passes_the_projects_linter():
    """ruff, configured in pyproject.toml (line length 120, pycodestyle, pyflakes, import order), finds nothing."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    out = subprocess.run([ruff, "check", "qa", "app.py", "bench", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run(
        [ruff, "format", "--check", "qa", "app.py", "bench", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "module", ["qa.train_ranker", "qa.train_embedding", "qa.train_reader", "qa.train.calibrate", "qa.train.ranker"]
)
def test_training_commands_keep_their_names_and_need_a_data_folder(module):
    out = subprocess.run([sys.executable, "-m", module], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "the following arguments are required: --data" in out.stderr, out.stderr[-500:]


def test_an_editable_install_prints_no_build_warning(tmp_path):
    """`make install` runs `pip install -e .`: the build backend warns about nothing (setuptools warned of the
    flat layout's meta-path finder before ``package-dir`` was set). Installed into a scratch prefix, so the test
    environment's own install is left alone."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--ignore-installed",
            "--prefix",
            str(tmp_path),
            "-e",
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    build = [line for line in (out.stdout + out.stderr).splitlines() if "Location 'file:" not in line]
    warnings = [line for line in build if "warning" in line.lower() or "deprecat" in line.lower()]
    assert not warnings, "\n".join(warnings)
    assert list(tmp_path.rglob("__editable__.cited_qa-*.pth"))
