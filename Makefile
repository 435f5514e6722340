# consenthub — two commands set up a fresh machine:
#   make demo   the hub with demo data on SQLite at http://127.0.0.1:8000
#   make test   lint, type check, and the whole suite on SQLite and on PostgreSQL

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: install demo demo-reset test lint test-sqlite test-postgresql clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/consenthub demo

# The demo from its initial data again; the virtual environment stays.
demo-reset: install
	$(BIN)/consenthub demo --reset

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test-sqlite: install $(AXE)
	$(BIN)/pytest -q --db sqlite

test-postgresql: install $(AXE)
	$(BIN)/pytest -q --db postgresql

# axe-core from the npm registry: the browser tests inject it into every portal page
# (tests/browser/test_accessibility.py), and fail, never skip, without it.
.PHONY: axe
axe: $(AXE)
$(AXE):
	@command -v npm >/dev/null || { echo "npm is needed for axe-core (apt-get install npm)"; exit 1; }
	npm install --prefix $(VENV)/axe --no-audit --no-fund --silent axe-core@4

# `make test` first sets up what the suite needs (scripts/test-services.sh: Debian's
# chromium, and a PostgreSQL server, started or installed when absent; an existing
# CONSENTHUB_TEST_POSTGRES_URL is used as it is), then runs the three targets above
# with CONSENTHUB_TEST_POSTGRES_URL set to the server it found.
TEST_POSTGRES_URL_FILE := $(VENV)/.test-postgres-url

test:
	@mkdir -p $(VENV)
	bash scripts/test-services.sh >$(TEST_POSTGRES_URL_FILE)
	CONSENTHUB_TEST_POSTGRES_URL="$$(tail -n 1 $(TEST_POSTGRES_URL_FILE) 2>/dev/null)" \
		$(MAKE) --no-print-directory lint test-sqlite test-postgresql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache consenthub.db consenthub.db-* consenthub.key \
		consenthub-mail consenthub-demo-secret

# Re-extract the translatable messages (Python N_()/_() and the Jinja2 templates) into the
# template and merge it into the nb/nn/en/fi/sv catalogs. New or changed msgids come out empty
# (or fuzzy): translate them and remove the fuzzy flag; tests/web/test_i18n.py checks this.
TRANSLATIONS := src/consenthub/translations
.PHONY: translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --project=consenthub --add-location=file \
		-o $(TRANSLATIONS)/messages.pot src/consenthub
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --ignore-obsolete

# Benchmarks (issue 4): `make bench` writes BENCHMARKS.md and BENCHMARKS.json here;
# `make bench-quick` is the CI smoke test (tiny scales, report in bench/out/quick).
# BENCH_ARGS passes options on, e.g. BENCH_ARGS="--previous bench/out/before/BENCHMARKS.json".
.PHONY: bench bench-quick

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

# The reliability suite (issue 14; tests/reliability/README.md): every section of
# tests/reliability/sections/ in full, on SQLite and on PostgreSQL (found as `make test`
# finds it), one line of figures each; exit status 1 when a section reports a problem.
# `make test` runs the quick form of every section through tests/reliability/test_sections.py.
.PHONY: reliability
reliability: install
	@mkdir -p $(VENV)
	bash scripts/test-services.sh >$(TEST_POSTGRES_URL_FILE)
	CONSENTHUB_TEST_POSTGRES_URL="$$(tail -n 1 $(TEST_POSTGRES_URL_FILE) 2>/dev/null)" \
		$(BIN)/python -m tests.reliability --db both $(RELIABILITY_ARGS)
