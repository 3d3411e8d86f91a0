# Two commands do all set-up: `make run` (main job) and `make test` (test suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow bench bench-gpu presets clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,serving,deploy,demo]'
	touch $(STAMP)

run: $(STAMP)  ## train the CNN on the embedded demo data
	$(PY) -m keras_hw2.cnn

test: $(STAMP)  ## the default suite (short forms of every end-to-end run)
	$(PY) -m pytest

test-slow: $(STAMP)  ## only the long runs marked `slow`
	$(PY) -m pytest -m slow

# The reference P2G figures are for the homework's 10,000 words: used when present (else the embedded cmudict).
P2G_DATA ?= ../shared/data/p2g

bench: $(STAMP)  ## issue 12's CPU benchmarks vs the PyTorch reference: table + runs/bench/<date>-<host>.json
	$(PY) -m keras_hw2.benchmarks $(if $(wildcard $(P2G_DATA)/train.tsv),--p2g-data $(P2G_DATA)) $(BENCH_ARGS)

bench-gpu: $(STAMP)  ## issue 12's GPU checks (says so and exits 0 where no GPU is visible)
	$(PY) tools/gpu_check.py $(if $(wildcard $(P2G_DATA)/train.tsv),--p2g-data $(P2G_DATA)) $(BENCH_ARGS)

# The shipped presets are this target's output (needs ../shared/data and the presets extra, wordfreq; about
# 2 hours on 2 CPU cores in all):
# each preset's recorded training command, its validation figures, keras_hw2/presets/<name>.keras and .json.
PRESETS_RUNS ?= runs
presets: $(STAMP)  ## retrain the shipped presets into keras_hw2/presets/ (ONLY=<name> for one)
	$(PY) -m pip install --quiet -e '.[presets]'
	$(PY) -m keras_hw2.presets build --out keras_hw2/presets --runs-dir $(PRESETS_RUNS) $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf $(VENV) runs *.egg-info
