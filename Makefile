# selfsup monorepo tasks. `make dev` sets up .venv; `make test` runs everything CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml)))
PACKAGES := core $(PLUGINS)
CORE_EXTRAS := [demo,testing,kernels]
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))
STAMP := $(VENV)/.selfsup-installed

.PHONY: dev run test lint test-core test-plugins test-cross test-distributed test-isolated bench clean new-plugin

dev: $(STAMP)

$(STAMP): $(PYPROJECTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q ruff pytest matplotlib -e "core$(CORE_EXTRAS)" $(addprefix -e ,$(PLUGINS))
	touch $@

run: dev
	$(BIN)/selfsup fit --config configs/quickstart.yaml

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

test: lint test-core test-plugins test-cross test-distributed test-isolated

bench: dev
	$(BIN)/python benchmarks/core/losses.py

new-plugin: dev
	$(BIN)/selfsup new-plugin $(NAME)

clean:
	rm -rf $(VENV) .venv-isolated outputs
