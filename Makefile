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
export PYTHONUNBUFFERED := 1

.PHONY: install demo test params push pull release-dataset

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

## Recompose params.yaml from conf/ exactly as `dvc exp run` does (hydra.enabled).
params: install
	$(BIN)/python -c "from pathlib import Path; from dvc.utils.hydra import compose_and_dump; \
	compose_and_dump(Path('params.yaml'), str(Path('conf').resolve()), None, 'config', '.', [])"

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

test: install
	$(BIN)/python -m pytest

push: install
	$(BIN)/dvc push

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
