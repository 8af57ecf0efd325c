# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv on first use,
# installing the pinned set of constraints.txt (`make lock` refreshes it).
# Python 3.11 or newer: python3.11 when there is one, else python3 (PYTHON=... to choose).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Touched after a successful install; pyproject.toml or constraints.txt changes trigger a reinstall.
STAMP  := $(VENV)/.installed
# Builds the living documentation, build/livedoc/, from the records of the first acceptance run.
LIVEDOC := $(BIN)/python -m simulator.livedoc

.PHONY: demo test lint format typecheck unit acceptance-gate acceptance docs docs-check clean lock

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: Python 3.11 or newer is needed; '$(PYTHON)' is not (install python3.11, or set PYTHON=)" >&2; exit 2; }
	@$(BIN)/python -c 'import sys' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV) >/dev/null 2>&1 || { \
	  rm -rf $(VENV); \
	  echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3.11-venv" >&2; exit 2; }
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

## demo: open a simulated pull request and watch runners appear, run once and drain to zero
demo: $(STAMP)
	$(BIN)/rod demo

## test: everything CI runs, in order: lint, types, unit tests, the behave gate, behave three times
## (jobs by webhook to `rod serve`, the same deployed as README "Deploying" says, jobs through
## `rod listen`'s runner scale set), the living documentation of the first run and its browser check
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

# Exit status 1 when any step of a feature file has no definition. Its summary counts a feature
# whose Scenario Outline comes before a Scenario as "failed" (behave 1.3.3 rates an outline of
# untested scenarios "passed", then the untested Scenario after it as a run cut short); the exit
# status is the gate.
acceptance-gate: $(STAMP)
	$(BIN)/behave --dry-run --no-junit --format progress

# The article's features on the embedded backend by webhook, then deployed as README "Deploying"
# says (simulator/harness/deployed_backend.py), then through `rod listen`; each run has its own
# JUnit XML (build/behave-junit/[deployed|listen]) and logs (build/acceptance/[deployed|listen]).
# The living documentation is built from the first run whether its scenarios passed or not:
# in this recipe rather than by `$(MAKE) docs`, which `make -n` would run rather than print.
acceptance: $(STAMP)
	$(BIN)/behave; status=$$?; \
	$(BIN)/behave -D backend=deployed -D log_dir=build/acceptance/deployed \
	  --junit-directory build/behave-junit/deployed || status=1; \
	$(BIN)/behave -D intake=listen -D log_dir=build/acceptance/listen \
	  --junit-directory build/behave-junit/listen || status=1; \
	$(LIVEDOC) || status=1; exit $$status

## docs: the living documentation of the last acceptance run: build/livedoc/index.html
docs: $(STAMP)
	$(LIVEDOC)

# The site of this run: its structure, then every page in headless Chromium (skipped where
# none is installed).
docs-check: $(STAMP)
	LIVEDOC_SITE=build/livedoc $(BIN)/pytest -k real tests/simulator/livedoc/test_site.py \
	  tests/simulator/livedoc/test_browser.py

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

## lock: resolve pyproject.toml's dependencies afresh (all extras) and pin them in constraints.txt
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet '.[dev]'
	{ echo "# The tested dependency set; make installs with it. Refresh: make lock"; \
	  build/lock-venv/bin/pip freeze --exclude runners-on-demand; } > constraints.txt
	rm -rf build/lock-venv

# Docker: the images, both compose files and `behave -D backend=compose` (scripts/docker_smoke.py).
# Where no Docker engine answers they print one line and exit 0 (DOCKER_SMOKE_REQUIRED=1: exit 1).
# `make test` never calls them; CI's `compose` job does (ci/github-actions.yml).
.PHONY: docker-smoke docker-down

## docker-smoke: build and check the images, bring up both compose files, run the suite on real Nomad
docker-smoke: $(STAMP)
	@$(BIN)/python scripts/docker_smoke.py

## docker-down: save the compose projects' logs under build/acceptance/ and take them down
docker-down: $(STAMP)
	@$(BIN)/python scripts/docker_smoke.py --down
