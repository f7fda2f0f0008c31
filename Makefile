# The two commands of the README: `make repro` (set-up + whole pipeline) and `make test`.
# Day to day: `make test-fast` (the unit tier, under a minute), `make lint`, `make format`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
UV_VERSION := 0.13.9
export PATH := $(BIN):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export DVC_SITE_CACHE_DIR := $(CURDIR)/.dvc/site-cache
export OMP_WAIT_POLICY := PASSIVE
export PYTHONHASHSEED := 0
# Python writes each module's bytecode on first import and reuses it: without it (a shell with
# PYTHONDONTWRITEBYTECODE set, a venv uv installed without .pyc files) every stage's kernel
# compiles pandas, sklearn, mlflow, ... from source again, 2-5 s of CPU per stage (issue 18).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: env repro test test-fast lint format lab mlflow-ui bench clean

# Create the virtual environment from the lock file (uv is bootstrapped with pip if absent).
$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	@UV="$$(command -v uv || echo '$(PYTHON) -m uv')"; \
	  [ -x $(BIN)/python ] || $$UV venv --quiet --python $(PYTHON) $(VENV); \
	  $$UV pip sync --quiet --python $(BIN)/python requirements.lock && \
	  $$UV pip install --quiet --python $(BIN)/python --no-deps -e .
	@$(BIN)/python -m ipykernel install --sys-prefix --name research --display-name "Python (research)" >/dev/null
	@touch $@

env: $(VENV)/.installed

# `research repro`: `dvc repro` printing one start and one result line per stage, DVC's warnings
# and errors, and a closing line naming reports/index.html (not DVC's progress lines or hints).
# Arguments for dvc repro: `make repro REPRO_ARGS="-f train@credit"`.
repro: env
	@research repro $(REPRO_ARGS)

test: env
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The unit tier: everything but the tests marked slow (end-to-end runs; see tests/conftest.py).
test-fast: env
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

# All three checks run; the target fails if any of them does (`ruff format --diff .` shows
# what `make format` would change).
lint: env
	@status=0; \
	echo "ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "ruff format --check ."; $(BIN)/ruff format --check --output-format concise . || status=1; \
	echo "mypy src"; $(BIN)/mypy src || status=1; \
	exit $$status

format: env
	$(BIN)/ruff format .

# JupyterLab asks for a token: jupyter generates one and prints the URL that carries it (never
# on a command line, where other local users could read it). `LAB_TOKEN=<yours> make lab` sets
# your own (handed to jupyter in the environment); `make lab LAB_TOKEN=` turns the login off,
# for a trusted single-user machine only. --allow-root only when running as root.
LAB_PORT ?= 8888
MLFLOW_PORT ?= 5000

lab: env
	@args=(--port=$(LAB_PORT) --notebook-dir=.); \
	if [ "$$(id -u)" = 0 ]; then args+=(--allow-root); fi; \
	if [ -n "$${LAB_TOKEN+set}" ] && [ -z "$$LAB_TOKEN" ]; then \
	  echo "make lab: LAB_TOKEN is empty: no login, any local process can use this server"; \
	  args+=(--IdentityProvider.token=''); \
	elif [ -n "$${LAB_TOKEN-}" ]; then export JUPYTER_TOKEN="$$LAB_TOKEN"; fi; \
	exec $(BIN)/jupyter lab "$${args[@]}"

mlflow-ui: env
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --workers 1 --backend-store-uri "sqlite:///$(CURDIR)/mlruns/mlflow.db" --port $(MLFLOW_PORT)

bench: env
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b; done

clean:
	rm -rf data/raw data/truth data/features data/scores models reports metrics plots
