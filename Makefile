# Two commands on a fresh machine:  `make repro` (environment + whole pipeline), `make test`.
# Every dependency but torch comes from a hashed lock (requirements-cpu.txt, or requirements-gpu.txt
# with FAISS=gpu), unresolved (--no-deps). torch comes after it and alone, so a CPU machine can take
# a CPU build (TORCH_INDEX, or a local wheel pip is configured with) and a GPU machine gets PyPI's
# CUDA build of the same version with its CUDA libraries: those builds' files and hashes differ,
# so they stay outside the lock. `make lock` rewrites both locks from pyproject.toml.
VENV        ?= .venv
PYTHON      ?= python3
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
FAISS       ?= cpu
PIP_FLAGS   ?=
UV_VERSION  ?= 0.13.9
LOCK        := requirements-$(FAISS).txt
BIN         := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-fast lint format clean-venv lock FORCE

# The stamp names the lock it was set up from: a venv set up with the other FAISS is set up again,
# the other build uninstalled first (both install the `faiss` module: pyproject.toml).
ifneq ($(shell cat $(VENV)/.installed 2>/dev/null),$(LOCK))
$(VENV)/.installed: FORCE
endif
# One `setup:` line per step; pip shows its own progress (`make setup PIP_FLAGS=-q` for none).
# pip byte-compiles what it installs one file at a time: some 24,000 files, about 70 CPU seconds, two thirds of
# setup. compileall does it on every core instead (-j 0), and leaves out the dependencies' own test suites (a sixth
# of the files; nothing imports them). Its exit status is ignored as pip ignores compile errors: a few files are
# written for other Pythons (torch's py312 test intrinsics); Python compiles whatever is left at import.
$(VENV)/.installed: pyproject.toml $(LOCK)
	@echo "setup: the virtual environment $(VENV) ($(PYTHON)) and an up-to-date pip …"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip uninstall -q -y faiss-$(if $(filter gpu,$(FAISS)),cpu,gpu)
	@echo "setup: installing the locked dependencies ($(LOCK), $(shell grep -c '^[A-Za-z0-9]' $(LOCK)) packages, hashes checked) …"
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-compile --require-hashes --no-deps -r $(LOCK)
	@echo "setup: torch==$(TORCH_VERSION)$(if $(TORCH_INDEX), from $(TORCH_INDEX)) and its own dependencies …"
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-compile $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "torch==$(TORCH_VERSION)"
	@echo "setup: byte-compiling the environment on every core …"
	$(BIN)/python -m compileall -qq -j 0 -x 'site-packages/(.+/)?tests?/' $(abspath $(VENV))/lib || true
	@echo "setup: ragtune (editable) …"
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	@echo "setup: pip check …"
	$(BIN)/python -m pip check
	echo $(LOCK) > $@
	@echo "setup: done ($(VENV) from $(LOCK))"

setup: $(VENV)/.installed

repro: setup
	dvc repro

# `make test`: lint, then the whole suite; `make test-fast`: the tier without the `slow` tests (end-to-end
# runs, fine-tuning runner processes, model conversions), a few minutes on 2 cores.
test: setup lint
	python -m pytest -ra --durations=25

test-fast: setup
	python -m pytest -ra -m "not slow" --durations=15

lint: setup
	ruff check .
	ruff format --check .

format: setup
	ruff format .

clean-venv:
	rm -rf $(VENV)

FORCE:

# The locks: one resolution for every platform (markers), Python 3.11 (requires-python's floor),
# torch pinned to TORCH_VERSION but left out together with its CUDA stack (the dependencies PyPI's
# torch has on Linux only). Versions already in requirements-cpu.txt are kept (uv prefers them;
# `make lock UPGRADE=--upgrade` moves them); the GPU lock takes its versions from the CPU lock, so
# the two differ only in FAISS and its CUDA 12 runtime.
LOCK_COMPILE = $(BIN)/uv pip compile pyproject.toml - --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --no-emit-package torch \
	$(foreach p,$(TORCH_CUDA_ONLY),--no-emit-package $(p)) $(UPGRADE)
TORCH_CUDA_ONLY = $(shell echo "torch==$(TORCH_VERSION)" | $(BIN)/uv pip compile - --universal --python-version 3.11 \
	--no-header --no-annotate -q | sed -n "s/^\([A-Za-z0-9._-]*\)==.*sys_platform == 'linux'.*/\1/p")

lock: $(BIN)/uv
	echo "torch==$(TORCH_VERSION)" | $(LOCK_COMPILE) --extra cpu --extra fast --extra dev -o requirements-cpu.txt
	echo "torch==$(TORCH_VERSION)" | $(LOCK_COMPILE) --extra gpu --extra fast --extra dev -c requirements-cpu.txt \
		-o requirements-gpu.txt

# Into the venv, which need not be set up yet (a new dependency is locked before it is installed).
$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) "uv==$(UV_VERSION)"
