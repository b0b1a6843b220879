# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo serve screenshots test lint bench clean system-packages pg-start pg-stop pg-status pg-clean

# The browser and store tests need Debian's chromium and a PostgreSQL server, the Spark tests
# Java 17: `test` installs the packages when missing (apt-get, as root) and starts a private
# server in .pg/, left running for the next run (`make pg-stop` stops it). See
# docs/development.md.
PG := bash .ci/postgres.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the declared dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,train,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/openbureau demo --dir demo-workspace --replace

# The service on the demo workspace: http://127.0.0.1:8000/ (accounts printed by `make demo`).
serve: $(STAMP)
	@test -f demo-workspace/bureau.toml || $(MAKE) demo
	@cat demo-workspace/service/demo-accounts.txt
	$(BIN)/openbureau serve -w demo-workspace

# Screenshots of the main pages for the README, taken by the browser tests.
screenshots: $(STAMP) system-packages pg-start
	OPENBUREAU_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/service/test_browser.py \
		tests/service/test_browser_disputes.py -q

test: $(STAMP) system-packages pg-start
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	OPENBUREAU_TEST_POSTGRES_URL="$$($(PG) url)" $(BIN)/pytest

system-packages:
	bash .ci/system-packages.sh

pg-start: system-packages
	PYTHON=$(PYTHON) $(PG) start

pg-stop:
	$(PG) stop

pg-status:
	$(PG) status

pg-clean:
	$(PG) clean

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/linkage.py febrl
	$(BIN)/python bench/linkage.py synthetic --records 100000 --records 1000000
	$(BIN)/python bench/scoring.py german
	$(BIN)/python bench/scoring.py speed
	$(BIN)/python bench/scoring.py synthetic --persons 20000 --persons 100000
	$(BIN)/python bench/scoring.py scale --base 100000 --copies 10
	$(BIN)/python bench/api.py --repeat 3

clean: pg-clean
	rm -rf $(VENV) demo-workspace bench/out .pytest_cache .mypy_cache .ruff_cache
