# The two commands of the README quick start, plus helpers. Needs only python3 (>= 3.11).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "smearwatch needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "Could not create a virtualenv. On Debian/Ubuntu: sudo apt-get install python3-venv"; \
		exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up and run smearwatch on the bundled sample data (SQLite, in ./smearwatch-demo).
demo: $(STAMP)
	$(BIN)/smearwatch demo --out smearwatch-demo

## Set up and run the whole test suite (lint included; PostgreSQL tests use 127.0.0.1:5432).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## Ingest benchmark (N posts; default 1,000,000).
bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) smearwatch-demo *.egg-info .pytest_cache .ruff_cache
