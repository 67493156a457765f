# Two commands set everything up on a fresh machine (Python 3.11 + Java 17):
#   make run    venv + core install, then materialise the `small` preset (90 days) into ./lakehouse
#   make test   venv + dev install, the Spark 3.5 venv, Delta's jars (and Debian's chromium for the
#               browser test), then the test suite (and the Spark suite again on Spark 3.5)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PRESET ?= mid_market
DAYS ?=
ENGINE ?= local
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DAGSTER_HOME := $(CURDIR)

.PHONY: run dev test bench profile cost-model check-defs wheel clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: $(VENV)/bin/python pyproject.toml
	$(BIN)/pip install -q -e ".[dagster]"
	touch $@

# Delta Lake's jars for local Spark, fetched once from Maven Central into a folder the Makefile owns
# (a Spark session never downloads them: see retail_assets/engine/spark_session.py). Two Spark
# lines: 4.2 (the spark extra) and 3.5, the lowest the engine supports (Databricks 15.4/16.4 LTS).
SPARK_JARS := .spark-jars
JARS := io.delta:delta-spark_4.2_2.13:4.4.0 io.delta:delta-storage:4.4.0 \
	io.delta:delta-spark_2.12:3.3.2 io.delta:delta-storage:3.3.2

$(SPARK_JARS)/.fetched: Makefile
	for jar in $(JARS); do mvn -q dependency:copy -Dartifact=$$jar -DoutputDirectory=$(SPARK_JARS) || exit 1; done
	touch $@

# The Spark suite again on Spark 3.5 (pyspark 3.5.x, delta-spark 3.3.x), in a venv of its own.
SPARK35 := .venv-spark35
$(SPARK35)/.ready: pyproject.toml $(SPARK_JARS)/.fetched
	$(PYTHON) -m venv $(SPARK35)
	$(SPARK35)/bin/python -m pip install -q --upgrade pip
	$(SPARK35)/bin/pip install -q -e ".[spark35]"
	touch $@

$(VENV)/.spark: $(VENV)/.core $(SPARK_JARS)/.fetched
	$(BIN)/pip install -q -e ".[spark]"
	touch $@

$(VENV)/.dev: $(VENV)/.core $(SPARK_JARS)/.fetched
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# The project's wheel, which the Databricks resource deploys to the workspace's volume; rebuilt
# when a source changes (the resource refuses a wheel built from other sources than the checkout).
WHEEL_SOURCES := pyproject.toml README.md $(shell find retail_assets -name '*.py')
dist/.built: $(VENV)/bin/python $(WHEEL_SOURCES)
	rm -rf dist build
	$(BIN)/pip wheel -q --no-deps -w dist .
	touch $@

wheel: dist/.built

run: $(VENV)/.core
	$(BIN)/python -m retail_assets.cli run --preset small --days 90 --lakehouse lakehouse --persist

dev: $(VENV)/.core
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dg dev

# The browser test drives Debian's Chromium through Playwright (no browser download).
$(CHROMIUM):
	$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

test: $(VENV)/.dev $(SPARK35)/.ready $(CHROMIUM) dist/.built
	$(BIN)/python -m pytest -q
	$(SPARK35)/bin/python -m pytest -q retail_assets_tests/test_spark_engine.py -m "not spark4_only"

bench: $(VENV)/.core $(if $(filter local,$(ENGINE)),,$(VENV)/.spark)
	$(BIN)/python -m retail_assets.cli bench --preset $(PRESET) --engine $(ENGINE) $(if $(DAYS),--days $(DAYS),)

# The realism profile of ./lakehouse (after `make run`): the table and the charts into ./profile.
profile: $(VENV)/.core
	$(BIN)/python -m retail_assets.cli profile --lakehouse lakehouse --output profile

cost-model: $(VENV)/.core
	$(BIN)/python -m retail_assets.cost_model

check-defs: $(VENV)/.dev
	$(BIN)/dagster definitions validate -w workspace.yaml

clean:
	rm -rf lakehouse .dagster_home
