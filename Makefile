# The commands a reader needs: `make book`, `make test` and `make lab` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BOOK_PROFILE ?= full
export BOOK_PROFILE

.PHONY: install lab lab-install book bench compare test clean clean-store

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.lab-installed: $(VENV)/.installed requirements-lab.txt
	$(PY) -m pip install --quiet -r requirements-lab.txt
	touch $@

lab-install: $(VENV)/.lab-installed

## lab: install JupyterLab into .venv and open the chapters (LAB_ARGS, e.g. --no-browser, go to jupyter-lab;
## as root, as in containers, JupyterLab needs --allow-root, which is added)
lab: lab-install
	cd chapters && $(abspath $(VENV))/bin/jupyter-lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

## compare: the seed's pipeline → results/comparison.json, models/baseline, models/quantized
compare: install
	$(PY) -m helpers compare --profile $(BOOK_PROFILE)

## bench: this machine's INT8 ceiling and the main routes' batch-1 latency on real sentences, reusing stored
## routes → results/machines/<cpu>-<flags>.json (a few minutes; commit the record of a new kind of machine)
## bench EMULATE=Haswell: instead, every INT8, 4-bit and BF16 file's answers under qemu-user's Haswell (the AVX2
## class) against this machine's → results/machines/ (minutes per file under emulation, more on an older host; resumes; installs qemu-user)
bench: install
ifdef EMULATE
	@command -v qemu-x86_64 >/dev/null || { command -v apt-get >/dev/null && (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null) ; } || \
	  { echo "error: qemu-x86_64 is missing and could not be installed: apt-get install qemu-user" >&2; exit 1; }
	$(PY) -m helpers bench --emulate $(EMULATE)
else
	$(PY) -m helpers bench
endif

## book: measure every route, execute every chapter with papermill (BOOK_PROFILE, default full), render
## _build/html; what the store (store/, or BOOK_STORE) holds for unchanged inputs is reused; FRESH=1 redoes all
book: install
	$(PY) -m helpers build-book --profile $(BOOK_PROFILE) $(if $(FRESH),--fresh)

## test: unit and CLI tests, a smoke build of the book and the book in headless Chromium, twice: with
## $BOOK_MODEL (the shared MiniLM, a BERT) and with a small DistilBERT classifier made here (the reference
## architecture); then the reader's path: JupyterLab installed by `make lab`, three chapters run from
## chapters/ without papermill (every chapter has their parameters cell and set-up call)
## Tests that time nothing run on every core (pytest-xdist); OpenMP threads that wait sleep instead of
## spinning, so two workers' torch threads do not starve each other. The test books measure every route
## alone, then execute two chapters at a time (their pages say so; `make book` executes one at a time).
TINY_DISTILBERT := _build/tiny-distilbert
DISTILBERT_SITE := _build/distilbert
PYTEST_PARALLEL := OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -n auto
test: install
	$(VENV)/bin/lint-imports --no-cache
	HF_HUB_OFFLINE=1 $(PYTEST_PARALLEL) -m "not browser and not reader" --durations=10
	HF_HUB_OFFLINE=1 $(PY) -m helpers build-book --profile smoke --jobs 2
	BOOK_REQUIRE_HTML=1 $(PYTEST_PARALLEL) -m browser
	$(PY) tests/tiny_models.py distilbert $(TINY_DISTILBERT)
	HF_HUB_OFFLINE=1 $(PY) -m helpers build-book --profile smoke --jobs 2 --model $(TINY_DISTILBERT) \
		--site $(DISTILBERT_SITE)
	BOOK_SITE=$(DISTILBERT_SITE) BOOK_REQUIRE_HTML=1 $(PYTEST_PARALLEL) -m browser
	$(MAKE) lab-install
	BOOK_PROFILE=smoke HF_HUB_OFFLINE=1 BOOK_REQUIRE_LAB=1 $(PYTEST_PARALLEL) -m reader

## clean: the built book, results and models (the store stays: clean-store removes it too)
clean:
	rm -rf _build results models

clean-store: clean
	rm -rf store
