# inpaint-suite — `make help` lists the targets. Every target that runs code depends on `install`,
# so each one works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
# The torch + torchvision pair, installed first: PyPI's default builds (CUDA, and they run on the CPU too). Override
# with another matching pair, e.g. the light CPU-only one (about 1.8 GB instead of 5.7 GB):
#   make install TORCH="torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Extras installed with the project (dev = tests, lint, notebooks and the reference packages torch-fidelity + lpips).
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
# gpu-check options: make gpu-check [DEVICE=cpu] (cpu: toy sizes, proves the script); output under $OUT or results/gpu
DEVICE ?=
GPU_CHECK_ARGS ?=

.PHONY: help install test test-all lint sweep sweeps demo bench learn gpu-check dashboard notebooks clean

help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "  Variables: ABLATION DATA DATA_ROOT PROFILE GPUS STORAGE RESUME TORCH EXTRAS PYTEST_ARGS DEVICE GPU_CHECK_ARGS"

install: $(STAMP) ## Create .venv: torch + torchvision first (TORCH=...), then the project under a constraints file

# The constraints file is constraints.txt with its torch/torchvision pins replaced by the versions TORCH installed,
# so the project's install can neither swap torch nor pull a torchvision built for another torch. The import check
# then names a torchvision that does not work with this torch (e.g. a TORCH override without its torchvision).
$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	@{ grep -v -E '^(#|torch==|torchvision==)' constraints.txt || true; } > $(CONSTRAINTS)
	@$(BIN)/python -m pip list --format=freeze | grep -E '^(torch|torchvision)==' >> $(CONSTRAINTS)
	PIP_CONSTRAINT=$(CONSTRAINTS) $(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@$(BIN)/python -c "import torch, lightning, torchmetrics, kornia, importlib.util as u; \
		u.find_spec('torchvision') and __import__('torchvision')" || { echo "make install: the packages \
		above do not import with $$($(BIN)/python -m pip list --format=freeze | grep -E '^torch(vision)?==' | xargs); \
		give TORCH a matching torch + torchvision pair (see the Makefile and README)"; exit 1; }
	@touch $@

test: $(STAMP) ## Run the test suite (no GPU needed; ~12 min on 2 cores)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP) ## Run every test, the slow ones too
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## Lint with ruff
	$(BIN)/ruff check networks lightning_modules datamodules evaluation sweeps inpaint_suite tests

sweep: $(STAMP) ## Train+evaluate every row of an ablation table: make sweep ABLATION=<name> (no name: list them)
	$(BIN)/inpaint-suite sweep $(ABLATION) $(SWEEP_ARGS)
	@$(if $(ABLATION),echo "figures: results/$(ABLATION)/figures/  report: results/$(ABLATION)/report.md  (redraw: $(BIN)/inpaint-suite report $(ABLATION))")

demo: $(STAMP) ## Train AOT-GAN's smoke profile on the built-in photos (CPU, about a minute); writes CSV metrics, last.ckpt, image grids
	$(BIN)/inpaint-suite fit --config aotgan_smoke --config demo
	@echo "run folder: results/runs/aotgan_smoke (csv/metrics.csv, checkpoints/last.ckpt, csv/images/*.png)"

bench: $(STAMP) ## Measure speed and memory of methods, masks, metrics and CRA (prints a table, writes results/bench.json)
	$(BIN)/inpaint-suite bench --json results/bench.json

gpu-check: $(STAMP) ## Every GPU-only test and measurement in one guarded run, ~8 min on one GPU (DEVICE=cpu: toy sizes)
	$(BIN)/inpaint-suite gpu-check --device $(or $(DEVICE),cuda) --out $${OUT:-results/gpu} $(GPU_CHECK_ARGS)

# learn options: make learn [DEVICE=cuda LEARN_ARGS="--learn-steps madf=20 ..."] (see docs/BENCHMARKS.md)
LEARN_ARGS ?=
learn: $(STAMP) ## Does each method learn? Train on the built-in photos, curves vs OpenCV Telea (results/learning.png)
	$(BIN)/inpaint-suite bench --device $(or $(DEVICE),cpu) --sections learning --json results/learning.json $(LEARN_ARGS)

dashboard: $(STAMP) ## Serve optuna-dashboard on 127.0.0.1:8080 over the sweep results storage
	$(BIN)/optuna-dashboard --host 127.0.0.1 --port 8080 $${STORAGE:-sqlite:///results/optuna.db}

notebooks: $(STAMP) ## Execute the notebooks at a tiny scale on the built-in data
	$(BIN)/python -m pytest tests/notebooks -q

clean: ## Remove the virtual environment and build outputs (keeps results/)
	rm -rf $(VENV) build *.egg-info .pytest_cache lightning_logs
