# Two commands for a newcomer: `make book` (set up, then build the site) and `make test` (the whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
MATHJAX := book/_static/mathjax/MathJax.js
JBFLAGS := -W -n --keep-going --all --builder html
# The repository's https URL turns on the repository and launch buttons (llmgeom.publish.siteconfig); by default the
# origin remote's, when it is an https URL. `make book REPO_URL=https://github.com/owner/name` sets it.
REPO_URL ?= $(shell git remote get-url origin 2>/dev/null | grep -E '^https://')
# The address the site is published at (html.baseurl); a GitHub repository's Pages address by default.
BASE_URL ?=
CONFIG  := _build/_config.yml

.PHONY: help setup data ladder book book-fresh test test-fast test-build site-check determinism bench bench-card bench-build lab ipynb clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# MathJax 2.7 from PyPI (jupyter-server-mathjax), served locally so math renders with no network.
$(MATHJAX): $(STAMP)
	rm -rf book/_static/mathjax && mkdir -p book/_static
	cp -r "$$($(PY) -c 'import jupyter_server_mathjax as m, pathlib; print(pathlib.Path(m.__file__).parent / "static")')" book/_static/mathjax
	@touch $@

setup: $(STAMP) $(MATHJAX)  ## create .venv and install everything (idempotent, quick when up to date)

data: setup  ## fetch the corpora and pretrained models into .cache (idempotent; one line per source)
	$(PY) -m llmgeom fetch

ladder: setup  ## train every size of the model ladder not yet in models/ (resumable; its time is in the README table)
	$(PY) -m llmgeom.models.training train
	$(PY) -m llmgeom.models.modelcard write

book: setup data ipynb  ## build the site into _build/html, reusing outputs of unchanged notebooks
	@mkdir -p _build
	$(PY) -m llmgeom.publish.siteconfig --repo "$(REPO_URL)" --base-url "$(BASE_URL)" > $(CONFIG)
	$(JB) build . --config $(CONFIG) $(JBFLAGS)
	$(PY) -m llmgeom.publish.glued record
	@echo "Open _build/html/index.html"

book-fresh: setup data ipynb  ## rebuild every page and re-execute every notebook (no execution cache)
	@mkdir -p _build
	$(PY) -m llmgeom.publish.siteconfig --fresh --repo "$(REPO_URL)" --base-url "$(BASE_URL)" > $(CONFIG)
	$(JB) build . --config $(CONFIG) $(JBFLAGS)
	$(PY) -m llmgeom.publish.glued record

test-fast: setup  ## unit tests only (the fresh-process determinism of every computation unit included)
	$(PY) -m pytest -q -m "not site and not determinism"

site-check: setup  ## checks on the rendered site in _build/html (pages, figures, links, a real browser)
	$(PY) -m pytest -q -m site

# The test build: every notebook executed, strictly, from an empty results cache (downloads shared), so the build
# is cold whatever ran before; its glued values go to _build/glue.json and are compared with the recorded machine's.
TEST_CACHE := $(CURDIR)/_build/test-cache
test-build: setup data ipynb  ## a fresh strict build from an empty results cache; reports glued values that differ from bench/latest
	@mkdir -p _build
	$(PY) -m llmgeom.store.cache empty $(TEST_CACHE)
	$(PY) -m llmgeom.publish.siteconfig --fresh --repo "$(REPO_URL)" --base-url "$(BASE_URL)" > $(CONFIG)
	LLMGEOM_CACHE=$(TEST_CACHE) $(JB) build . --config $(CONFIG) $(JBFLAGS)
	$(PY) -m llmgeom.publish.glued record
	$(PY) -m llmgeom.publish.glued compare

# After test-build: the cheap chapters executed again from an empty results cache, the others from the test build's
# warm one; every glued value must equal the test build's (tests/test_determinism.py).
determinism: setup  ## re-execute the chapters (cheap ones cold, the rest from the warm cache) and compare every glued value
	@test -f _build/glue.json -a -d $(TEST_CACHE) || { echo "run 'make test-build' first: determinism compares against it"; exit 2; }
	LLMGEOM_TEST_CACHE=$(TEST_CACHE) $(PY) -m pytest -q -m determinism

test: test-fast test-build site-check determinism  ## unit tests, a fresh strict build, site checks, re-executions that must agree

bench: setup data  ## benchmarks against the companion route, side by side; _build/bench/results.json
	$(PY) bench/run.py

bench-card: setup data  ## time a default SmolLM2 card part by part and the ladder's family card, cold; bench/latest/card.json
	$(PY) bench/card.py

bench-build: setup data ipynb  ## time a cold build, a cached build and make test, with the GEMM rate; bench/latest/build.json
	$(PY) bench/build.py

LAB_PORT ?= 8888
lab: setup  ## open the notebooks in JupyterLab (the .md chapters open as notebooks via jupytext); LAB_PORT=8888
	$(PY) -m llmgeom.publish.lab --port $(LAB_PORT)

ipynb: setup  ## write plain .ipynb copies of the notebooks into _build/ipynb (the site offers them for download)
	@mkdir -p _build/ipynb
	for f in notebooks/*.md; do $(VENV)/bin/jupytext --to ipynb -o _build/ipynb/$$(basename $$f .md).ipynb $$f; done

clean:  ## remove the build (keeps .venv and data)
	rm -rf _build
