# The experimentation warehouse: `make run` builds it from demo data, `make test`
# proves its numbers. Every dbt call goes through $(DBT) with --profiles-dir .

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON_BOOTSTRAP ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DBT := $(VENV)/bin/dbt
DBT_FLAGS := --profiles-dir .
DBT_BUILD_ARGS ?=
export DUCKDB_PATH ?= warehouse.duckdb
DATA ?= data/demo
DOCS_DIR ?= reports/data_docs
SCALE ?= S1
REPORT_DIR ?= reports
# Root installs system packages directly; anyone else through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
DEMO_SEED ?= 20241001
# The demo data ends on 2024-11-01: `make run` builds it as of then, so that
# "future" and "fresh" mean what they would have meant on that day.
DEMO_AS_OF ?= 2024-11-01 12:00:00
export XP_AS_OF ?=
# Spark (optional, requirements-spark.txt): pyspark 4.3 runs on Java 17, and a
# newer JDK may be the default; SPARK_JAVA_HOME=<dir> picks another one.
SPARK_JAVA_HOME ?= $(or $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk*)),$(JAVA_HOME))
SPARK_TARGETS := test-spark spark-load spark-build spark-results spark-run
$(SPARK_TARGETS): export JAVA_HOME := $(SPARK_JAVA_HOME)
$(SPARK_TARGETS): export SPARK_LOCAL_IP ?= 127.0.0.1
# pip prints one harmless line per local index location it skips; hide them.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help setup browser lock demo load build refresh rebuild publish test-bi validate report run test test-python test-slow test-smoke lint format docs settings-table clean query bench \
	spark-setup test-spark spark-load spark-build spark-results spark-run

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	@mkdir -p logs; started=$$(date +%s); \
	echo "==> Installing pinned dependencies into $(VENV) (about 90 s; log: logs/install.log)"; \
	{ test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV); \
	  $(PIP) install -r requirements.txt -c requirements.lock && \
	  $(PIP) install --no-deps -e . && $(PIP) check; } > logs/install.log 2>&1 || \
	{ echo "error: the install failed; the last lines of logs/install.log:" >&2; \
	  tail -n 20 logs/install.log >&2; exit 1; }; \
	echo "    installed in $$(( $$(date +%s) - started )) s"
	@touch $@

setup: $(VENV)/.installed ## Create .venv with the exact pinned versions

$(VENV)/.installed-spark: $(VENV)/.installed requirements-spark.txt
	@echo "==> Installing the optional Spark dependencies into $(VENV)"
	@$(PIP) install -q -r requirements-spark.txt -c requirements.lock 2>&1 | $(QUIET_PIP)
	@$(PIP) check 2>&1 | $(QUIET_PIP)
	@touch $@

spark-setup: $(VENV)/.installed-spark ## Add dbt-spark and pyspark (requirements-spark.txt) to .venv

browser: ## Install headless Chromium (Debian package) for the report rendering test
	@command -v chromium >/dev/null 2>&1 || { \
		echo "==> Installing chromium (Debian) for the report rendering test"; \
		$(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }; }

lock: setup ## Rewrite requirements.lock from the installed environment
	@{ echo "# Every package version of the tested environment (pip freeze); \`make setup\`"; \
	   echo "# installs requirements.txt under these constraints so a fresh machine gets"; \
	   echo "# exactly what CI tested. Regenerate with \`make lock\` after changing requirements.txt."; \
	   $(PIP) freeze --exclude-editable | grep -v '^xpkit'; } > requirements.lock

demo: setup ## Generate the deterministic demo data into data/demo
	@$(PY) -m xpkit.io.demo --out data/demo --seed $(DEMO_SEED)

# load, build, refresh and publish write the build file next to $(DUCKDB_PATH)
# ($(DUCKDB_PATH).build/), check it, and only then publish $(DUCKDB_PATH), its BI
# copy and the report (README "For BI users"; src/xpkit/publish.py). One writer
# at a time: XP_LOCK_TIMEOUT=<seconds> waits for a running one.
PUBLISH := $(PY) -m xpkit.io.publish
PUBLISH_PATHS = --database "$(DUCKDB_PATH)" --report-dir "$(REPORT_DIR)" --docs-dir "$(DOCS_DIR)"
FORCE ?=

load: setup ## Load raw tables from DATA=<dir> (exposures.*, events.*, units.*) into the build file
	@$(PUBLISH) load "$(DATA)" $(PUBLISH_PATHS)

build: setup ## Build, check and publish: dbt build, gates and report on the build file, then publish
	@$(PUBLISH) build $(PUBLISH_PATHS) --dbt-args "$(DBT_BUILD_ARGS)" $(if $(FORCE),--force)

refresh: setup ## Incremental build after appending raw data: recompute only units with new rows, then publish
	@$(PUBLISH) build --refresh $(PUBLISH_PATHS) --dbt-args "$(DBT_BUILD_ARGS)" $(if $(FORCE),--force)

publish: setup ## Gates, report and publish of the last dbt build (FORCE=1 publishes despite failed gates)
	@$(PUBLISH) publish $(PUBLISH_PATHS) $(if $(FORCE),--force)

rebuild: setup ## Rebuild everything from the raw data (dbt build --full-refresh), then gates, report and publish
	@$(MAKE) build DBT_BUILD_ARGS="--full-refresh"

validate: setup ## Run the Great Expectations gates on the check tables dbt built (data docs in reports/data_docs) [CHECKS_SCHEMA=<schema>]
	@$(PY) -m xpkit.io.validate --database "$(DUCKDB_PATH)" --docs-dir "$(DOCS_DIR)" \
		$(if $(CHECKS_SCHEMA),--checks-schema "$(CHECKS_SCHEMA)")

report: setup ## Write the static HTML report (reports/index.html) from the warehouse
	@$(PY) -m xpkit.report --database "$(DUCKDB_PATH)" --out "$(REPORT_DIR)"

run: setup ## Set up, generate demo data, load it, build, check (gates, report) and publish
	@$(MAKE) demo
	@$(MAKE) load DATA=data/demo
	@$(MAKE) build XP_AS_OF="$(DEMO_AS_OF)"

test: setup lint test-python test-smoke test-spark ## Run the whole test suite (linters, pytest, the `make run` path, Spark parity)

# The slow real-process suites (SIGKILL during a build, the package installed
# into a consumer project, the S0 bench, reruns after new data) run in
# `make test-slow`, not in `make test`: they would double its time.
test-python: setup browser
	@$(VENV)/bin/pytest -m "not spark and not slow"

test-slow: setup browser ## The slow real-process suites (kills during a build, dbt package install, S0 bench, reruns); not in make test
	@$(VENV)/bin/pytest -m "slow and not spark"

define check_java
	@test -x "$$JAVA_HOME/bin/java" || { echo "Spark needs Java 17: none found in /usr/lib/jvm;" \
		"install openjdk-17-jre-headless or pass SPARK_JAVA_HOME=<dir>" >&2; exit 2; }
endef

test-spark: spark-setup ## Build the demo on DuckDB and on Spark and prove the marts are equal
	$(check_java)
	@echo "==> Spark parity test (JAVA_HOME=$$JAVA_HOME)"
	@$(VENV)/bin/pytest -m spark

# The BI file's checks alone (a DuckDB 1.4 client from PyPI, cached in target/,
# reads every table; the suppression scan): part of test-python too.
test-bi: setup ## The BI file: DuckDB 1.4 opens every table, no cell reveals a small group
	@$(VENV)/bin/pytest tests/warehouse/test_publish.py -k "bi_file or cell" -q

# The README's main command end to end, into a scratch warehouse.
test-smoke: setup
	@$(MAKE) run DUCKDB_PATH=target/smoke/warehouse.duckdb DOCS_DIR=target/smoke/reports/data_docs \
		REPORT_DIR=target/smoke/reports

# Python everywhere it lives; SQL through dbt's templater (.sqlfluff), which
# compiles the models with the real macros against a scratch DuckDB file, never
# the warehouse, and without XP_UNIT_ID_SALT (compiled SQL would hold it).
PY_SOURCES := src tests bench python_models
LINT_ENV := env -u XP_UNIT_ID_SALT DUCKDB_PATH=target/lint/lint.duckdb DBT_TARGET_PATH=target/lint/dbt
lint: setup ## Lint Python (ruff, mypy) and SQL (sqlfluff with dbt's templater)
	@$(VENV)/bin/ruff check $(PY_SOURCES)
	@$(VENV)/bin/ruff format --check $(PY_SOURCES)
	@mkdir -p target/lint
	@$(LINT_ENV) $(VENV)/bin/sqlfluff lint models tests/dbt --nocolor --disable-progress-bar
	@$(VENV)/bin/mypy

format: setup ## Apply ruff's formatting
	@$(VENV)/bin/ruff format $(PY_SOURCES)
	@$(VENV)/bin/ruff check --fix $(PY_SOURCES)

# docs/benchmarks.md: by default the run also appends the data's last day and
# times the incremental build; BENCH_ARGS="--append-day --spark" adds the Spark
# timing (installs requirements-spark.txt), see `bench/run.py --help`.
BENCH_ARGS ?= --append-day
bench: export SPARK_JAVA_HOME := $(SPARK_JAVA_HOME)
bench: setup $(if $(findstring --spark,$(BENCH_ARGS)),spark-setup) ## Benchmark against the best hand-written query: make bench SCALE=S1 [MEMORY_LIMIT=8GB] [BENCH_ARGS="--append-day --spark"]
	@$(PY) bench/run.py --scale $(SCALE) $(if $(MEMORY_LIMIT),--memory-limit $(MEMORY_LIMIT)) $(BENCH_ARGS)

settings-table: setup ## Rewrite README's settings table from src/xpkit/settings.py
	@$(VENV)/bin/python -m xpkit.settings README.md

docs: setup ## Generate the dbt docs site (target/index.html)
	@$(DBT) docs generate $(DBT_FLAGS)
	@echo "dbt docs: target/index.html (serve with: $(DBT) docs serve $(DBT_FLAGS))"

# The Spark path, on the local session of the `spark` target (README "Apache
# Spark"): raw tables, dbt's SQL models, then the Python marts.
spark-load: spark-setup ## Load raw tables from DATA=<dir> into Spark (schema raw)
	$(check_java)
	@$(PY) -m xpkit.io.spark load "$(DATA)"

spark-build: spark-setup ## dbt build --target spark (the SQL models and their tests)
	$(check_java)
	@$(DBT) build $(DBT_FLAGS) --target spark

spark-results: spark-setup ## Compute the Python marts from the Spark-built marts, write them to Spark
	$(check_java)
	@$(PY) -m xpkit.io.spark results --project-dir .

spark-run: spark-setup ## The demo on Spark: demo data, spark-load, spark-build, spark-results
	@$(MAKE) demo
	@$(MAKE) spark-load DATA=data/demo
	@$(MAKE) spark-build XP_AS_OF="$(DEMO_AS_OF)"
	@$(MAKE) spark-results XP_AS_OF="$(DEMO_AS_OF)"

clean: ## Remove build outputs (keeps .venv and the warehouse)
	rm -rf target logs reports data/demo .pytest_cache metastore_db derby.log spark-warehouse

# The SQL reaches Python through the environment, never through the shell.
query: export XP_QUERY_SQL := $(value SQL)
query: setup ## Read-only SQL on the published warehouse: make query SQL="select ..." [SQL_FILE=f.sql] [FORMAT=csv|markdown|json]
	@$(PY) -m xpkit.io.cli query --sql-env XP_QUERY_SQL $(if $(SQL_FILE),--file "$(SQL_FILE)") \
		$(if $(FORMAT),--format "$(FORMAT)") --database "$(DUCKDB_PATH)"
