# The two commands a newcomer needs: `make demo` and `make test`. Everything else is what they are built from.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
MELTANO := $(BIN)/meltano
PACKAGES := -e ./connector_kit -e ./sandbox -e ./tap-salesforce-custom -e ./transform_mappers -e ./target-netsuite -e ./pipeline_ops -e ./tap-netsuite-custom -e ./target-salesforce-custom
UV_VERSION := 0.13.9
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo demo-reset test soak lint install venv plugins dagster lock bench clean plugin-definitions dist

## demo: set everything up, start the sandboxes, run the pipeline once in `dev`, show what landed, stop.
demo: install
	$(BIN)/python scripts/demo.py

## demo-reset: forget the sandboxes' data, the pipeline's state and the old demo's history (dead letters, run
## reports, app.log), so the next demo starts over.
demo-reset:
	rm -rf .sandbox dead_letters reports app.log app.log.* .meltano/run/tap-salesforce-custom/catalog-cache.json
	-$(MELTANO) --environment=dev state clear --force dev:tap-salesforce-custom-to-target-netsuite

## test: set up what the tests need and run the whole suite in TEST_WORKERS parallel workers (pytest-xdist, whole
## test files per worker; each worker starts its own sandboxes, see tests/conftest.py); prints the 25 slowest tests.
## 15 to 33 minutes on an idle 2-core machine, by machine (889-1,075 s; 1,981 s on one twice as slow; README "The two
## commands"); the soaks are `make soak`.
TEST_WORKERS ?= 2
test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --durations=25

## soak: the two short soaks with every feature on (tests/e2e/test_soak.py, test_host_soak.py; about 5 minutes,
## marked `slow`, so not in `make test`; CI runs them after it). What covers each soak requirement in `make test`:
## README "Tests".
SOAKS := tests/e2e/test_soak.py tests/e2e/test_host_soak.py
soak: install
	$(BIN)/pytest -n $(TEST_WORKERS) -m slow --durations=10 $(SOAKS)

## lint: ruff over every package, the tests and the benchmarks; mypy (mypy.ini) over the connectors, the sandboxes and pipeline-ops.
TYPED := connector_kit/connector_kit tap-salesforce-custom/tap_salesforce_custom transform_mappers/transform_mappers target-netsuite/target_netsuite sandbox/sandbox tap-netsuite-custom/tap_netsuite_custom target-salesforce-custom/target_salesforce_custom pipeline_ops/pipeline_ops
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)

install: venv plugins dagster

## dagster: the Dagster jobs and schedules (deploy/dagster) in their own venv, deploy/dagster/.venv: Dagster runs
## `meltano run`, never imports Meltano, so neither pins the other (pinned by deploy/dagster/constraints.txt).
DAGSTER_VENV := deploy/dagster/.venv
dagster: $(DAGSTER_VENV)/.installed
$(DAGSTER_VENV)/.installed: $(VENV)/.installed deploy/dagster/pyproject.toml deploy/dagster/constraints.txt
	test -x $(DAGSTER_VENV)/bin/python || $(UV) venv --quiet --python $(BIN)/python $(DAGSTER_VENV)
	$(UV) pip install --quiet --python $(DAGSTER_VENV)/bin/python -c deploy/dagster/constraints.txt -e ./deploy/dagster
	touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: requirements/constraints.txt connector_kit/pyproject.toml pipeline_ops/pyproject.toml sandbox/pyproject.toml tap-salesforce-custom/pyproject.toml transform_mappers/pyproject.toml target-netsuite/pyproject.toml tap-netsuite-custom/pyproject.toml target-salesforce-custom/pyproject.toml
	@# A venv left by another Python (e.g. a first try with 3.10) is rebuilt, plugin venvs too; state is kept.
	@if test -x $(BIN)/python && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
		echo "$(VENV) is not Python 3.11: rebuilding it and the plugin venvs"; \
		rm -rf $(VENV) .meltano/extractors .meltano/mappers .meltano/loaders .meltano/utilities .meltano/.installed; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || test -x $(BIN)/python || \
		{ echo "$(PYTHON) is not Python 3.11: run make PYTHON=python3.11 $(MAKECMDGOALS)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(BIN)/python -c requirements/constraints.txt -r requirements/dev.in $(PACKAGES)
	touch $@

## plugins: Meltano installs each plugin into its own venv under .meltano/ (pinned by the same constraints).
plugins: .meltano/.installed
.meltano/.installed: $(VENV)/.installed meltano.yml
	$(MELTANO) install
	mkdir -p .meltano && touch $@

## bench: the benchmarks of README "Benchmarks" (tens of minutes; results in bench/results/); the 1M-row tap
## figures: `make bench BENCH_ACCOUNTS=1000000`.
## The comparisons with singer-io tap-salesforce and meltano-map-transform install those into
## bench/.venvs/ (their own venvs, never the project's).
BENCH_ACCOUNTS ?= 100000
bench: install bench/.venvs/tap-salesforce/bin/tap-salesforce
	$(BIN)/python bench/tap_bench.py --accounts $(BENCH_ACCOUNTS)
	$(BIN)/python bench/mapper_bench.py --records 1000000
	$(BIN)/python bench/target_bench.py --records 2000 --latency-ms 200 --limit 5 --rss-records 100000
	$(BIN)/python bench/ledger_bench.py --records 10000 --changed-percent 1
	$(BIN)/python bench/freshness_bench.py --scale 20 --duration 1500 --latencies 3,10 --modes sync,auto

bench/.venvs/tap-salesforce/bin/tap-salesforce:
	$(UV) venv --quiet --python $(BIN)/python bench/.venvs/tap-salesforce
	$(UV) pip install --quiet --python bench/.venvs/tap-salesforce/bin/python tap-salesforce==2.8.1

## lock: re-pin every dependency (project venv and plugin venvs) after changing a pyproject.toml or dev.in.
lock: venv
	$(UV) pip compile --quiet --python-version 3.11 requirements/dev.in requirements/local.in sandbox/pyproject.toml \
		tap-salesforce-custom/pyproject.toml transform_mappers/pyproject.toml target-netsuite/pyproject.toml pipeline_ops/pyproject.toml tap-netsuite-custom/pyproject.toml target-salesforce-custom/pyproject.toml \
		--no-emit-package connector-kit -o requirements/constraints.txt
	$(UV) pip compile --quiet --python-version 3.11 deploy/dagster/pyproject.toml -c requirements/constraints.txt \
		-o deploy/dagster/constraints.txt

## dist: every package's wheel and sdist in dist/ (or DIST=<folder>), each wheel built from its sdist. Portable:
## a connector requires `connector-kit==<version>` (CONNECTOR_KIT_PORTABLE, see connector_kit/kit_requirement.py),
## found beside it, e.g. `pip install --find-links dist tap-salesforce-custom`; no artifact names a path of this machine.
DIST ?= dist
DISTRIBUTIONS := connector_kit tap-salesforce-custom transform_mappers target-netsuite sandbox pipeline_ops tap-netsuite-custom target-salesforce-custom
dist: venv
	mkdir -p $(DIST) && rm -f $(DIST)/*.whl $(DIST)/*.tar.gz
	for package in $(DISTRIBUTIONS); do \
		CONNECTOR_KIT_PORTABLE=1 $(UV) build --quiet --out-dir $(DIST) ./$$package || exit 1; done

## plugin-definitions: rewrite plugin-definitions/*.yml (what other Meltano projects install) from meltano.yml.
plugin-definitions: venv
	$(BIN)/python scripts/plugin_definitions.py

clean:
	rm -rf $(VENV) $(DAGSTER_VENV) .meltano .sandbox .pytest_cache
