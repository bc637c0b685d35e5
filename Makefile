# raypachy: two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test lint format demo demo-pfs bench fuzz reliability clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,examples]"
	touch $(STAMP)

venv: $(STAMP)

# Tests marked owns_machine (the autoscaling cluster) run alone, after the others.
test: $(STAMP)
	$(PY) -m pytest -m "not owns_machine"
	$(PY) -m pytest -m owns_machine

lint: $(STAMP)
	$(VENV)/bin/ruff check raypachy tests bench examples
	$(VENV)/bin/ruff format --check raypachy tests bench examples
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format raypachy tests bench examples
	$(VENV)/bin/ruff check --fix raypachy tests bench examples

demo: $(STAMP)
	$(PY) examples/iris/demo.py

demo-pfs: $(STAMP)
	$(PY) examples/pfs_quickstart.py

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/cli_latency.py
	$(PY) bench/datums.py
	$(PY) bench/data.py

# The API fuzzed far longer than in `make test` (examples per operation and mode).
fuzz: $(STAMP)
	RAYPACHY_FUZZ_EXAMPLES=$${RAYPACHY_FUZZ_EXAMPLES:-300} $(PY) -m pytest -p no:cacheprovider tests/faults/test_fuzz_api.py

# Faults, bad input, fuzzing and load, with the figures in one table (last line: JSON).
reliability: $(STAMP)
	$(PY) bench/reliability.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
