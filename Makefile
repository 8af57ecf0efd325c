# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Touched after a successful install; pyproject.toml changes trigger a reinstall.
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format typecheck unit acceptance-gate acceptance docs docs-check clean

$(STAMP): pyproject.toml
	@$(BIN)/python -c 'import sys' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

## demo: open a simulated pull request and watch runners appear, run once and drain to zero
demo: $(STAMP)
	$(BIN)/rod demo

## test: everything CI runs, in order: lint, types, unit tests, the behave gate, the acceptance suite
## (then its living documentation, build/livedoc/, and the browser check of that site)
test: lint typecheck unit acceptance-gate acceptance docs-check

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# Exit status 1 when any step of a feature file has no definition.
acceptance-gate: $(STAMP)
	$(BIN)/behave --dry-run --no-junit --format progress

# The article's features against the embedded backend; JUnit XML in build/behave-junit/.
# The living documentation is built from the run whether its scenarios passed or not.
acceptance: $(STAMP)
	$(BIN)/behave; status=$$?; $(MAKE) --no-print-directory docs || status=1; exit $$status

## docs: the living documentation of the last acceptance run: build/livedoc/index.html
docs: $(STAMP)
	$(BIN)/python -m simulator.livedoc

# The site of this run: its structure, then every page in headless Chromium (skipped where
# none is installed).
docs-check: $(STAMP)
	LIVEDOC_SITE=build/livedoc $(BIN)/pytest -k real tests/simulator/livedoc/test_site.py \
	  tests/simulator/livedoc/test_browser.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
