# Two commands do all set-up: `make run` (main job) and `make test` (test suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,serving]'
	touch $(STAMP)

run: $(STAMP)  ## train the CNN on the embedded demo data
	$(PY) -m keras_hw2.cnn

test: $(STAMP)  ## the default suite (short forms of every end-to-end run)
	$(PY) -m pytest

test-slow: $(STAMP)  ## only the long runs marked `slow`
	$(PY) -m pytest -m slow

clean:
	rm -rf $(VENV) runs *.egg-info
