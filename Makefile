# Two commands that work on a fresh clone: `make demo` and `make test` (README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= instances/default.json

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test,calibrate,plot]"
	touch $@

demo: $(VENV)/.demo-deps
	$(BIN)/majula validate $(DEMO)
	@mkdir -p out
	$(BIN)/majula solve $(DEMO) --verify --mig-parted out/mig-parted.yaml
	@echo "mig-parted config written to out/mig-parted.yaml"

test: $(VENV)/.test-deps
	$(BIN)/python -m pytest

bench: $(VENV)/.test-deps
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
