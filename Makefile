# Tabard: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The suite runs on every core, up to four (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

.PHONY: run test fuzz lint format bench-checkin bench-quick clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tabard needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(VENV)/.installed

## run: install, migrate the SQLite database in ./var, bootstrap an administrator, serve on :8000
run: export TABARD_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/tabard db upgrade
	$(BIN)/tabard admin create --username admin --if-missing
	exec $(BIN)/tabard serve --host $(HOST) --port $(PORT)

## test: install with dev extras and run the whole suite, on up to four cores
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4 --dist worksteal $(PYTEST_ARGS)

## fuzz: Schemathesis over the whole OpenAPI document as each staff role (also part of `make test`)
fuzz: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/fuzz -p no:cacheprovider -s $(PYTEST_ARGS)

## lint: ruff (lint and format) and mypy
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench-checkin: $(VENV)/.installed-dev
	$(BIN)/python bench/checkin.py

## bench-quick: the hot paths' short benchmarks, each ratio beside the one BENCHMARKS.md records
bench-quick: $(VENV)/.installed-dev
	$(BIN)/python bench/quick.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
