# consenthub — two commands set up a fresh machine:
#   make demo   the hub with demo data on SQLite at http://127.0.0.1:8000
#   make test   lint, type check, and the whole suite on SQLite and on PostgreSQL

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint test-sqlite test-postgresql clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/consenthub demo

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

test-sqlite: install
	$(BIN)/pytest -q --db sqlite

test-postgresql: install
	$(BIN)/pytest -q --db postgresql

test: lint test-sqlite test-postgresql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache consenthub.db consenthub.db-* consenthub.key
