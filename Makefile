# Two commands on a fresh machine: `make run` and `make test` (each sets itself up first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: run test lint bench clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package metadata changes; the install is editable.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "installing bubblesim and its dependencies into $(VENV) (first time: a minute or two)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,ray]'
	@echo "compiling the engine into the numba cache, with and without priors (once per install; 2-3 minutes on 2 cores)..."
	$(BIN)/python -c "from sim.app import warm_up; warm_up()"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/bubblesim $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(ARGS)

# Benchmarks: `make bench` (full, long) or `make bench ARGS=--quick` (under 2 minutes).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check sim tests benchmarks tools

clean-cache:
	rm -rf $${NUMBA_CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/bubblesim/numba}
