# Two commands: `make run` (set up, then the main job) and `make test` (set up, then every check).
# `make check` is the fast lane for the edit-test loop: lint, types, and the tests not marked
# slow or bench (a few minutes on 2 cores).
# Tests run in PYTEST_WORKERS processes (pytest-xdist): most of a test's time is spent waiting
# for a server or a subprocess, so more workers than cores pays off.
PYTEST_WORKERS ?= 4
PYTEST = $(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The second interpreter CI runs the fast lane on: a working python3.13 on the PATH (a pyenv
# shim without a selected 3.13 does not count), else pyenv's newest 3.13.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON313  ?= $(or $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python))))
VENV313    := .venv-py313
STAMP313   := $(VENV313)/.installed
# The 3.13 lane: what a training environment runs (the plugin and the MLflow collectors),
# without the slow end-to-end tests. `make test-py313 PY313_TESTS=tests` runs more.
PY313_TESTS ?= tests/plugin tests/collectors/mlflow

.PHONY: run test check install test-deps lint typecheck pytest pytest-fast bench-quick \
	wheel-check test-py313 bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "Mileage needs Python 3.11 to 3.13; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/mileage demo

test-deps:
	@scripts/install-test-deps.sh

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

# Every test: the slow end-to-end ones, the doctests and every benchmark's --quick smoke run;
# among them the autolog matrix, the store readers against the lowest and highest supported
# MLflow and a plain `pip install .` (their environments are made once with uv under
# ~/.cache/mileage-tests).
pytest: install test-deps
	$(PYTEST)

# The fast lane: no servers killed and resumed, no real trainings, no benchmark smoke runs.
pytest-fast: install test-deps
	$(PYTEST) -m "not slow and not bench"

# Installed with uv (from the dev extra in $(VENV)): under a minute, where pip takes ten here.
$(STAMP313): pyproject.toml constraints.txt | $(STAMP)
	UV_SYSTEM_CERTS=1 $(BIN)/uv venv --quiet --clear --seed --python $(PYTHON313) $(VENV313)
	UV_SYSTEM_CERTS=1 $(BIN)/uv pip install --quiet --python $(VENV313)/bin/python -c constraints.txt -e '.[all,dev]'
	@touch $(STAMP313)

# Fast lane on Python 3.13; skipped, with a message, on machines without a 3.13 interpreter.
test-py313: test-deps
ifeq ($(strip $(PYTHON313)),)
	@echo "test-py313: skipped, no Python 3.13 found (python3.13 on PATH or $(PYENV_ROOT)/versions/3.13*);"
	@echo "  install one with 'pyenv install 3.13' or Debian/Ubuntu 'apt install python3.13 python3.13-venv' (deadsnakes PPA), or set PYTHON313=/path/to/python3.13"
else
	@$(MAKE) --no-print-directory $(STAMP313)
	$(VENV313)/bin/pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not slow and not bench" $(PY313_TESTS)
endif

# The full suite on the main interpreter, then the fast lane of the training-environment parts
# on Python 3.13 (its environment installs in under a minute with uv).
test: install test-deps lint typecheck pytest wheel-check test-py313

check: install test-deps lint typecheck pytest-fast

# Only the benchmarks' --quick smoke runs.
bench-quick: install
	$(PYTEST) -m bench

# Build the wheel, install it into a throwaway venv, run `mileage init` from it.
wheel-check: install
	scripts/check-wheel.sh $(BIN)/python


# The full measurements (minutes to hours); results in benchmarks/results/<name>.json.
bench: install
	@for b in benchmarks/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VENV313) .mileage .mypy_cache .pytest_cache .ruff_cache build dist
