# Two commands set everything up on a fresh machine (Python 3.11 + Java 17):
#   make run    venv + core install, then materialise the `small` preset (90 days) into ./lakehouse
#   make test   venv + dev install, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= mid_market
DAYS ?=
ENGINE ?= local
export DAGSTER_HOME := $(CURDIR)

.PHONY: run dev test bench cost-model check-defs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.spark: $(VENV)/.core
	$(BIN)/pip install -q -e ".[spark]"
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

run: $(VENV)/.core
	$(BIN)/python -m retail_assets.cli run --preset small --days 90 --lakehouse lakehouse --persist

dev: $(VENV)/.core
	$(BIN)/dagster dev -w workspace.yaml

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

bench: $(VENV)/.core $(if $(filter local,$(ENGINE)),,$(VENV)/.spark)
	$(BIN)/python -m retail_assets.cli bench --preset $(PRESET) --engine $(ENGINE) $(if $(DAYS),--days $(DAYS),)

cost-model: $(VENV)/.core
	$(BIN)/python -m retail_assets.cost_model

check-defs: $(VENV)/.dev
	$(BIN)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf lakehouse .dagster_home
