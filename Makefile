# Quick start: `make demo` (whole pipeline on the loopback demo store) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# torch first, pinned to the CPU wheel: an unpinned torch would pull GBs of CUDA wheels.
TORCH_SPEC ?= torch==2.13.0

# Offline by design: no hub downloads, no analytics, W&B never phones home from tests or demo.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export WANDB_SILENT := true
export GRADIO_ANALYTICS_ENABLED := False
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-fast params push pull release-dataset publish app browser

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[test,app]'
	touch $(STAMP)

## Recompose params.yaml from conf/ exactly as `dvc exp run` does (hydra.enabled).
params: install
	$(BIN)/python -c "from pathlib import Path; from pakfashion.common.params import recompose_params; recompose_params(Path('.'))"

## Whole pipeline on the demo store with tiny models, then push data and models to the DVC remote.
demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pakfashion.demo run -- dvc repro
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc push -q
	@echo
	@echo "Demo done. Results:"
	@echo "  products:      data/interim/products.csv  (excluded: data/interim/excluded.csv)"
	@echo "  dataset:       data/dataset/  (card: data/dataset/README.md)"
	@echo "  model:         models/$$($(BIN)/python -c "import yaml;print(yaml.safe_load(open('params.yaml'))['train']['run_name'])")/"
	@echo "  samples:       reports/samples.png"
	@echo "  metrics:       metrics/*.json   ->  $(BIN)/dvc metrics show"
	@echo "  DVC remote:    .dvc/storage"
	@echo "  web app:       make app  (http://$(APP_HOST):$(APP_PORT)/)"

test: install browser
	$(BIN)/python -m pytest

## The fast lane for development: everything but the tests marked slow (CI's `make test` runs them all).
test-fast: install
	$(BIN)/python -m pytest -m "not slow"

## Headless Chromium + chromedriver from Debian for the browser test (tests/test_app_browser.py).
## Installed with apt-get when missing and we are root (or sudo works without a password); otherwise
## this says why and the browser test skips with that reason.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	@if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "browser: $(CHROMIUM) missing and not root (no passwordless sudo): the browser test will skip"; exit 0; fi; \
	if ! command -v apt-get >/dev/null; then echo "browser: no apt-get to install chromium: the browser test will skip"; exit 0; fi; \
	echo "browser: apt-get install chromium chromium-driver"; \
	{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
		chromium chromium-driver fonts-liberation >/dev/null; } \
		|| echo "browser: apt-get install failed: the browser test will skip"

## The web app (Dataset, Generate, Runs tabs) on this checkout's outputs; `make demo` makes them.
APP_HOST ?= 127.0.0.1
APP_PORT ?= 7860
app: install
	@test -e data/dataset || echo "app: no data/dataset yet: run \`make demo\` (the app says what is missing)"
	@echo "pakfashion app: http://$(APP_HOST):$(APP_PORT)/  (Ctrl-C stops it)"
	$(BIN)/python -m pakfashion.app --repo . --host $(APP_HOST) --port $(APP_PORT)

push: install
	$(BIN)/dvc push

## The dataset and the trained run to the Hugging Face Hub (conf/publish/default.yaml; the token from HF_TOKEN or
## `hf auth login`, never a file here): make publish, make publish ARGS=--dry-run,
## make publish ARGS="publish.namespace=my-org publish.targets=[model]". The only target that goes online.
publish: install
	HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 TRANSFORMERS_OFFLINE=0 $(BIN)/python -m pakfashion.publish $(ARGS)

pull: install
	$(BIN)/dvc pull

## Release the committed dataset as a version: make release-dataset VERSION=1.0
## (a git tag dataset-v$(VERSION) on HEAD plus `dvc push`; consumers: dvc get <repo> data/dataset --rev dataset-v1.0)
release-dataset: install
	@test -n "$(VERSION)" || { echo "usage: make release-dataset VERSION=1.0"; exit 2; }
	@git diff --quiet HEAD -- dvc.lock params.yaml || { echo "commit dvc.lock and params.yaml first"; exit 2; }
	$(BIN)/dvc status --quiet || { echo "outputs differ from dvc.lock: run dvc repro and commit first"; exit 2; }
	$(BIN)/dvc push
	git tag -a "dataset-v$(VERSION)" -m "dataset $(VERSION): $$(git rev-parse --short HEAD)"
	@echo "tagged dataset-v$(VERSION); push the tag with: git push origin dataset-v$(VERSION)"
