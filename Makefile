# Two entry points for a fresh machine (Python 3.11 and a C/C++ compiler): `make figures` and `make test`.
# Both create .venv and install what they need on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PROFILE ?= demo
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# llama.cpp built for portable x86-64 (AVX2): its AMX kernels crash on some virtual machines
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: figures test venv check-clean pytest nbtest readme clean-runs docs docs-check

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

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/python -c "import llama_cpp" 2>/dev/null || CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hivemind)" >/dev/null
	touch $(STAMP)

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
