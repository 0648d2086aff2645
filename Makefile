# firstline: `make demo` sets everything up and runs the demo; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

# torch is pinned and installed first: sentence-transformers would otherwise pull a CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/firstline demo

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check core api triage kb indexer services connectors ui models tests bench docs
	$(BIN)/ruff format --check core api triage kb indexer services connectors ui models tests bench docs

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var
