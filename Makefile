# inpaint-suite — `make help` lists the targets. Every target that runs code depends on `install`,
# so each one works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# The torch requirement, installed first. Override for a CUDA build: make install TORCH="torch==2.13.0 --index-url ..."
TORCH ?= torch==2.13.0
# Extras installed with the project (dev = tests, lint, notebooks).
EXTRAS ?= dev
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS := $(VENV)/constraints.txt
export NO_ALBUMENTATIONS_UPDATE := 1
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

# sweep options (see sweeps/README.md): make sweep ABLATION=madf_pn [DATA=places2 DATA_ROOT=/data/places2 PROFILE=short
# GPUS=8 STORAGE=postgresql://... RESUME=1]; RESUME=1 reuses finished rows and is how extra workers join a study
ABLATION ?=
DATA ?=
DATA_ROOT ?=
PROFILE ?=
GPUS ?=
STORAGE ?=
RESUME ?=
SWEEP_ARGS := $(if $(DATA),--data $(DATA)) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) \
              $(if $(PROFILE),--profile $(PROFILE)) $(if $(GPUS),--devices $(GPUS)) $(if $(STORAGE),--storage $(STORAGE)) \
              $(if $(RESUME),--resume)
PYTEST_ARGS ?=

.PHONY: help install test test-all lint sweep sweeps demo bench learn dashboard notebooks clean

help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Variables: ABLATION DATA DATA_ROOT PROFILE GPUS STORAGE RESUME TORCH EXTRAS PYTEST_ARGS"

install: $(STAMP) ## Create .venv: torch first (TORCH=...), then the project under a constraints file

# The constraints file pins torch to what was installed first and, on machines without an NVIDIA driver,
# forbids torchvision: PyPI's torchvision wheels are CUDA builds that break lightning/torchmetrics imports on CPU torch.
$(CONSTRAINTS): constraints.txt Makefile
	@mkdir -p $(VENV)
	@echo "$(firstword $(TORCH))" > $@
	@if ! command -v nvidia-smi >/dev/null 2>&1; then grep -v '^torch==' constraints.txt | grep -v '^#' >> $@; fi

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(MAKE) --no-print-directory $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	PIP_CONSTRAINT=$(CONSTRAINTS) $(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

test: $(STAMP) ## Run the test suite (no GPU needed; ~10 min on 2 cores)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) ## Run every test, the slow ones too
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## Lint with ruff
	$(BIN)/ruff check networks lightning_modules datamodules evaluation sweeps inpaint_suite tests

sweep: $(STAMP) ## Train+evaluate every row of an ablation table: make sweep ABLATION=<name> (no name: list them)
	$(BIN)/inpaint-suite sweep $(ABLATION) $(SWEEP_ARGS)

demo: $(STAMP) ## Train AOT-GAN's smoke profile on the built-in photos (CPU, about a minute)
	$(BIN)/inpaint-suite fit --config aotgan_smoke

bench: $(STAMP) ## Measure speed and memory of methods, masks, metrics and CRA (prints a table, writes results/bench.json)
	$(BIN)/inpaint-suite bench --json results/bench.json

# learn options: make learn [DEVICE=cuda LEARN_ARGS="--learn-steps madf=20 ..."] (see docs/BENCHMARKS.md)
DEVICE ?= cpu
LEARN_ARGS ?=
learn: $(STAMP) ## Does each method learn? Train on the built-in photos, curves vs OpenCV Telea (results/learning.png)
	$(BIN)/inpaint-suite bench --device $(DEVICE) --sections learning --json results/learning.json $(LEARN_ARGS)

dashboard: $(STAMP) ## Serve optuna-dashboard on 127.0.0.1:8080 over the sweep results storage
	$(BIN)/optuna-dashboard --host 127.0.0.1 --port 8080 $${STORAGE:-sqlite:///results/optuna.db}

notebooks: $(STAMP) ## Execute the notebooks at a tiny scale on the built-in data
	$(BIN)/python -m pytest tests/notebooks -q

clean: ## Remove the virtual environment and build outputs (keeps results/)
	rm -rf $(VENV) build *.egg-info .pytest_cache lightning_logs
