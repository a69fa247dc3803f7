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
# The repository's https URL turns on the repository and launch buttons (llmgeom.siteconfig); by default the
# origin remote's, when it is an https URL. `make book REPO_URL=https://github.com/owner/name` sets it.
REPO_URL ?= $(shell git remote get-url origin 2>/dev/null | grep -E '^https://')
CONFIG  := _build/_config.yml

.PHONY: help setup data ladder book book-fresh test test-fast site-check determinism bench bench-build lab ipynb clean

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

ladder: setup  ## train every size of the model ladder not yet in models/ (resumable; ~45 min on 2 cores)
	$(PY) -m llmgeom.ladder train

book: setup data ipynb  ## build the site into _build/html, reusing outputs of unchanged notebooks
	@mkdir -p _build
	$(PY) -m llmgeom.siteconfig --repo "$(REPO_URL)" > $(CONFIG)
	$(JB) build . --config $(CONFIG) $(JBFLAGS)
	@echo "Open _build/html/index.html"

book-fresh: setup data ipynb  ## rebuild every page and re-execute every notebook (no execution cache)
	@mkdir -p _build
	$(PY) -m llmgeom.siteconfig --fresh --repo "$(REPO_URL)" > $(CONFIG)
	$(JB) build . --config $(CONFIG) $(JBFLAGS)

test-fast: setup  ## unit tests only
	$(PY) -m pytest -q -m "not site and not determinism"

site-check: setup  ## checks on the rendered site in _build/html (pages, figures, links, a real browser)
	$(PY) -m pytest -q -m site

# A second fresh build with an empty results cache (downloads shared), whose glued values must equal the first's.
DET_CACHE := $(CURDIR)/_build/determinism-cache
determinism: setup data ipynb  ## rebuild from scratch into _build/determinism and compare every glued value
	@test -d _build/jupyter_execute || { echo "run 'make book-fresh' first: determinism compares against it"; exit 2; }
	rm -rf _build/determinism $(DET_CACHE) && mkdir -p $(DET_CACHE)
	for sub in downloads models corpora; do ln -s "$$($(PY) -c 'from llmgeom.cache import cache_root; print(cache_root())')/$$sub" $(DET_CACHE)/$$sub; done
	$(PY) -m llmgeom.siteconfig --fresh --repo "$(REPO_URL)" > $(CONFIG)
	LLMGEOM_CACHE=$(DET_CACHE) $(JB) build . --config $(CONFIG) --path-output _build/determinism $(JBFLAGS)
	$(PY) -m pytest -q -m determinism

test: test-fast book-fresh site-check determinism  ## unit tests, a fresh strict build, site checks, a second build that must agree

bench: setup data  ## benchmarks against the companion route, side by side (~8 min); _build/bench/results.json
	$(PY) bench/run.py

bench-build: setup data ipynb  ## time a cold and a cached book build (~12 min); _build/bench/build.json
	$(PY) bench/build.py

lab: setup  ## open the notebooks interactively (JupyterLab opens the .md files as notebooks via jupytext)
	$(VENV)/bin/jupyter lab notebooks/

ipynb: setup  ## write plain .ipynb copies of the notebooks into _build/ipynb (the site offers them for download)
	@mkdir -p _build/ipynb
	for f in notebooks/*.md; do $(VENV)/bin/jupytext --to ipynb -o _build/ipynb/$$(basename $$f .md).ipynb $$f; done

clean:  ## remove the build (keeps .venv and data)
	rm -rf _build
