# Two entry points, both starting from plain Python 3.11 on a fresh machine:
#   make reproduce   set up .venv and run the whole workflow on the default data
#   make test        set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast lint reproduce bench lock clean clean-sweep

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "captioning needs Python >= 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

# Three pytest-xdist workers on 2 cores: the worker running the tests that share SLURM and PostgreSQL
# (group "services") mostly waits on them, and the third keeps both cores busy meanwhile.
PYTEST := $(BIN)/python -m pytest -n 3 --dist loadgroup

# Everything, lint and format included (tests/test_hygiene.py); the cluster tests
# need root and Debian's SLURM and PostgreSQL (.ci/run installs them) or they skip.
test: $(STAMP)
	$(PYTEST)

# Everything but the tests marked slow (Snakemake runs, MLflow servers, serving, PostgreSQL,
# SLURM); its time: docs/testing.md.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

lint: $(STAMP)
	$(BIN)/python -m pytest tests/test_hygiene.py

# The default run's results: <results_dir>/<dataset>/<sweep name>/ of config/config.yaml and config/sweep.yaml.
RESULTS := results/synthetic/synthetic-shapes

reproduce: $(STAMP)
	$(BIN)/snakemake --cores 8
	$(BIN)/snakemake --report $(RESULTS)/report.html

# Every benchmark, each written into its block of the docs (bench/publish.py; the tracking
# server's needs root and PostgreSQL, as the cluster tests do).
bench: $(STAMP)
	$(BIN)/python bench/publish.py

# Re-pin every dependency from a clean resolve (run after editing pyproject.toml).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	.lock-venv/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

# .venv only; the runs, results and MLflow store stay (docs/workflow.md, "Your files").
clean:
	rm -rf $(VENV)

# One sweep's files: make clean-sweep SWEEP=<its name> [DATASET=memory or coco]. Not the data, not its MLflow experiment.
DATASET ?= synthetic
clean-sweep:
	@case "$(SWEEP)" in ""|*/*|.*) echo "make clean-sweep: SWEEP must name a sweep (the name: in its file), e.g. SWEEP=smoke"; exit 2;; esac
	rm -rf runs/$(DATASET)/$(SWEEP) results/$(DATASET)/$(SWEEP) logs/$(DATASET)/$(SWEEP) benchmarks/$(DATASET)/$(SWEEP)
