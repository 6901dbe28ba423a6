# Two entry points for a fresh machine (Python 3.11 and a C/C++ compiler): `make figures` and `make test`.
# Both create .venv on first use and install every package at the version pinned in requirements.lock.
# pyproject.toml says what the project needs; `make lock` resolves it into requirements.lock (see CONTRIBUTING.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PROFILE ?= demo
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
PIP_TOOLS := pip-tools==7.6.2
# llama.cpp built for portable x86-64 (AVX2): its AMX kernels crash on some virtual machines
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: figures test venv lock check-clean pytest nbtest readme clean-runs docs docs-check

figures: $(STAMP)  ## regenerate every figure of PROFILE (default: demo)
	$(BIN)/hivemind run --profile $(PROFILE)
	$(BIN)/hivemind docs --profile $(PROFILE)
	@echo "open runs/$(PROFILE)/site/index.html to read the run; make docs-check PROFILE=$(PROFILE) checks it in a browser"

docs: $(STAMP)  ## static offline site of PROFILE's executed notebooks, figures and library (runs/PROFILE/site)
	$(BIN)/hivemind docs --profile $(PROFILE)

docs-check: $(STAMP)  ## build the site, open every page in headless Chromium, check images, requests and links
	$(BIN)/hivemind docs --profile $(PROFILE) --check

test: $(STAMP) check-clean pytest nbtest  ## all the tests

venv: $(STAMP)

# pip, torch and llama-cpp-python first (torch: the CPU build where pip finds one; llama.cpp: compiled with the
# portable flags), then the rest of the lock, then the project itself without resolving anything again.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) pip
	$(BIN)/pip install --quiet -c $(LOCK) torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir -c $(LOCK) \
	  "llama-cpp-python[server]==0.3.36"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hivemind)" >/dev/null
	touch $(STAMP)

# requirements.lock from pyproject.toml with the dev and local extras, for Python 3.11, by pip-tools in a throwaway venv
# (it pins llama-cpp-python for the full set-up; an install without the local extra takes the lock as constraints).
# Pins already in the lock are kept where pyproject.toml still allows them; UPGRADE=1 takes the newest of everything.
# The lock names torch's release, not its build: `pip install` then takes the CPU build where pip finds one.
lock:  ## refresh requirements.lock after editing pyproject.toml's dependencies (UPGRADE=1: newest versions)
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "make lock needs Python 3.11")'
	tools="$$(mktemp -d)" && trap 'rm -rf "$$tools"' EXIT && \
	$(PYTHON) -m venv "$$tools" && \
	"$$tools/bin/pip" install --quiet $(if $(wildcard $(LOCK)),-c $(LOCK)) pip $(PIP_TOOLS) && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tools/bin/pip-compile" --quiet --extra dev --extra local --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
	  --output-file $(LOCK) pyproject.toml
	sed -i -E 's/^(torch==[^+]+)\+cpu$$/\1/' $(LOCK)

check-clean: $(STAMP)  ## committed notebooks are clean and exported, README matches nbs/index.ipynb
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-export
	$(MAKE) --no-print-directory readme
	@changed="$$(git status --porcelain -- nbs hivemind README.md)"; \
	if [ -n "$$changed" ]; then echo "$$changed"; git diff --stat -- nbs hivemind README.md; \
	  echo "nbdev-clean / nbdev-export / readme changed or added files: commit the result"; exit 1; fi

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

nbtest: $(STAMP)
	$(BIN)/nbdev-test --n-workers 2

readme: $(STAMP)  ## README.md from nbs/index.ipynb
	$(BIN)/jupyter nbconvert --log-level WARN --to markdown --stdout nbs/index.ipynb > README.md

clean-runs:
	rm -rf runs
