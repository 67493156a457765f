# Two commands set everything up on a fresh machine (Python 3.11 + Java 17):
#   make run    venv + core install, then materialise the `small` preset (90 days) into ./lakehouse
#   make test   venv + dev install (and Debian's chromium for the browser test), then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= mid_market
DAYS ?=
ENGINE ?= local
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DAGSTER_HOME := $(CURDIR)

.PHONY: run dev test bench cost-model check-defs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

# Delta Lake's jars for local Spark, fetched once from Maven Central into a folder the Makefile owns
# (a Spark session never downloads them: see retail_assets/engine/spark_session.py).
DELTA_VERSION := 4.4.0
SPARK_JARS := .spark-jars

$(SPARK_JARS)/.fetched:
	mvn -q dependency:copy -Dartifact=io.delta:delta-spark_4.2_2.13:$(DELTA_VERSION) -DoutputDirectory=$(SPARK_JARS)
	mvn -q dependency:copy -Dartifact=io.delta:delta-storage:$(DELTA_VERSION) -DoutputDirectory=$(SPARK_JARS)
	touch $@

$(VENV)/.spark: $(VENV)/.core $(SPARK_JARS)/.fetched
	$(BIN)/pip install -q -e ".[spark]"
	touch $@

$(VENV)/.dev: $(VENV)/.core $(SPARK_JARS)/.fetched
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

run: $(VENV)/.core
	$(BIN)/python -m retail_assets.cli run --preset small --days 90 --lakehouse lakehouse --persist

dev: $(VENV)/.core
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg dev

# The browser test drives Debian's Chromium through Playwright (no browser download).
$(CHROMIUM):
	$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

test: $(VENV)/.dev $(CHROMIUM)
	$(BIN)/python -m pytest -q

bench: $(VENV)/.core $(if $(filter local,$(ENGINE)),,$(VENV)/.spark)
	$(BIN)/python -m retail_assets.cli bench --preset $(PRESET) --engine $(ENGINE) $(if $(DAYS),--days $(DAYS),)

cost-model: $(VENV)/.core
	$(BIN)/python -m retail_assets.cost_model

check-defs: $(VENV)/.dev
	$(BIN)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf lakehouse .dagster_home
