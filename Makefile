# The two commands a reader needs: `make book` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BOOK_PROFILE ?= full
export BOOK_PROFILE

.PHONY: install book compare test clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

## compare: the seed's pipeline → results/comparison.json, models/baseline, models/quantized
compare: install
	$(PY) -m helpers compare --profile $(BOOK_PROFILE)

## book: execute every chapter with papermill (BOOK_PROFILE, default full), render _build/html
book: install
	$(PY) -m helpers build-book --profile $(BOOK_PROFILE)

## test: unit and CLI tests, a smoke build of the book, then the book in headless Chromium
test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not browser"
	HF_HUB_OFFLINE=1 $(PY) -m helpers build-book --profile smoke
	BOOK_REQUIRE_HTML=1 $(PY) -m pytest -q -m browser

clean:
	rm -rf _build results models
