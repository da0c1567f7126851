# The two set-up commands: `make app` (install, then run the chat page) and `make test` (install, then run every test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned: on this project's machines this is a local CPU build; an unpinned torch pulls GBs of CUDA packages.
TORCH ?= torch==2.13.0

.PHONY: app test test-unit test-engine test-app install install-test browser bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Stamps: packages are installed again only when pyproject.toml changes (`make app` starts at once after the first time).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,milvus,ray]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Debian's Chromium and CJK fonts for the browser tests (Playwright cannot download browsers offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "chromium is not installed: sudo apt-get install chromium fonts-noto-cjk (browser tests will be skipped)"; fi; }

app: install
	$(BIN)/python app.py

test: install-test browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The tiers: unit (question analysis, candidates, features, settings, rendering on fixed inputs; seconds),
# engine (real indexes, models, the CLI), app (the Gradio page in a real browser, packaging).
test-unit: install-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

test-engine: install-test browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/engine $(PYTEST_ARGS)

test-app: install-test browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/app $(PYTEST_ARGS)

bench: install
	$(BIN)/pip install --quiet -e '.[bench,milvus,ray]'
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) index/v-* index/CURRENT index/.lock .pytest_cache tests/artifacts
