# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the declared dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,train]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/openbureau demo --dir demo-workspace --replace

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/linkage.py febrl
	$(BIN)/python bench/linkage.py synthetic --records 100000 --records 1000000
	$(BIN)/python bench/scoring.py german
	$(BIN)/python bench/scoring.py speed
	$(BIN)/python bench/scoring.py synthetic --persons 20000 --persons 100000
	$(BIN)/python bench/scoring.py scale --base 100000 --copies 10

clean:
	rm -rf $(VENV) demo-workspace bench/out .pytest_cache .mypy_cache .ruff_cache
