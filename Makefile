# The two commands of the README (`make demo`, `make test`) install what they need on first use:
# a local .venv with the versions pinned in requirements.lock.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Offline by construction: no telemetry, no role validation against IAM, one xgboost thread.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export SAGEMAKER_VALIDATE_ROLE := false
export OMP_NUM_THREADS ?= 1
export PYTHONDONTWRITEBYTECODE := 1
export MLFLOW_DISABLE_TELEMETRY := true
CHECKOV_VENV := .venv-checkov
# Evidently, the open-source reference the drift benchmark compares with, in its own venv: 0.7.23
# needs pandas < 3 (the project pins 3.x). Not a project dependency; `make bench` uses it if present.
EVIDENTLY_VENV := .venv-evidently
EVIDENTLY_PINS := evidently==0.7.23 pandas==2.3.3

.PHONY: demo test lint format synth scan bench evidently-venv install clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m finmlops.demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

synth: $(STAMP)
	$(PY) -m finmlops_cdk.app --out cdk.out

# cfn-lint and checkov over every stage's templates; checkov lives in its own venv (its pins clash).
scan: synth
	$(PY) -m finmlops.governance.scan cdk.out --checkov-venv $(CHECKOV_VENV)

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

evidently-venv: $(EVIDENTLY_VENV)/.installed-stamp

$(EVIDENTLY_VENV)/.installed-stamp:
	@test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(EVIDENTLY_PINS)
	@echo "$(EVIDENTLY_PINS)" > $@

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
