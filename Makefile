# selfsup monorepo tasks. `make dev` sets up .venv; `make test` runs everything CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml)))
PACKAGES := core $(PLUGINS)
CORE_EXTRAS := [demo,testing,kernels,parquet]
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
STAMP := $(VENV)/.selfsup-installed

.PHONY: dev run test test-all lint test-core test-plugins test-cross test-distributed \
	test-isolated test-floors test-wheels dists bench clean new-plugin

dev: $(STAMP)

$(STAMP): $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q ruff pytest matplotlib -e "core$(CORE_EXTRAS)" $(addprefix -e ,$(PLUGINS))
	touch $@

run: dev
	$(BIN)/selfsup fit --config selfsup:quickstart

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-core: dev
	$(BIN)/python -m pytest core/tests -q -m "not distributed"

test-plugins: dev
	$(BIN)/python -m pytest $(addsuffix /tests,$(PLUGINS)) -q

test-cross: dev
	$(BIN)/python -m pytest tests -q

test-distributed: dev
	$(BIN)/python -m pytest core/tests -q -m distributed

# Each package alone with core, on a shared torch install (see .ci/isolated.sh).
test-isolated: dev
	PYTHON=$(PYTHON) bash .ci/isolated.sh $(PACKAGES)

# The declared dependency floors of core + graph (.ci/floors.txt), installed and tested.
test-floors: dev
	PYTHON=$(PYTHON) bash .ci/floors.sh

# The user's path from the built wheels, outside the repository (.ci/wheels.sh).
test-wheels: dev
	PYTHON=$(BIN)/python bash .ci/wheels.sh

# Every wheel and sdist into dist/, checked (docs/releasing.md).
dists: dev
	PYTHON=$(BIN)/python bash .ci/build_dists.sh dist

# Everything CI runs, two jobs at a time (CI has two cores); -O keeps each job's output together.
test: dev
	$(MAKE) --no-print-directory -j2 -O test-all

# Longest first, so the two slots finish together.
test-all: test-isolated test-floors lint test-core test-plugins test-cross test-distributed \
	test-wheels

bench: dev
	$(BIN)/python benchmarks/core/losses.py

new-plugin: dev
	$(BIN)/selfsup new-plugin $(NAME)

clean:
	rm -rf $(VENV) .venv-isolated .venv-floors outputs dist
