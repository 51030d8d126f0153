# Two commands on a fresh machine:  `make repro` (environment + whole pipeline), `make test`.
# torch comes first and alone, so a CPU machine can take a CPU build (TORCH_INDEX) and a GPU
# machine gets PyPI's CUDA build of the same version; everything else is pinned by constraints.txt.
VENV        ?= .venv
PYTHON      ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
PIP_FLAGS   ?= -q
BIN         := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-fast clean-venv

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

repro: setup
	dvc repro

test: setup
	python -m pytest -ra

test-fast: setup
	python -m pytest -ra -m "not slow"

clean-venv:
	rm -rf $(VENV)
