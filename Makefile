# raypachy: two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv upgrade test lint format demo demo-pfs bench fuzz reliability console console-screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,examples]"
	touch $(STAMP)

venv: $(STAMP)

# What a fresh machine gets: every dependency, and theirs, at the newest version pip resolves
# (an existing .venv keeps whatever it once installed). CI runs this before the tests.
upgrade: $(STAMP)
	$(PY) -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev,examples]"
	$(PY) -m pip check

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
	$(PY) bench/lazy.py
	$(PY) bench/data.py
	$(PY) bench/console.py
	$(PY) bench/s3.py

# The API fuzzed far longer than in `make test` (examples per operation and mode).
fuzz: $(STAMP)
	RAYPACHY_FUZZ_EXAMPLES=$${RAYPACHY_FUZZ_EXAMPLES:-300} $(PY) -m pytest -p no:cacheprovider tests/faults/test_fuzz_api.py

# Faults, bad input, fuzzing and load, with the figures in one table (last line: JSON).
reliability: $(STAMP)
	$(PY) bench/reliability.py

# The web console needs no build (plain ES modules); this fetches its one vendored library,
# dagre, again from npm at the pinned version and checks it against the recorded SHA-256.
VENDOR := raypachy/server/console/static/vendor
DAGRE := 3.1.3
console:
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent @dagrejs/dagre@$(DAGRE) >/dev/null && \
	  tar xzf dagrejs-dagre-$(DAGRE).tgz && \
	  cp package/dist/dagre.esm.js package/dist/dagre.esm.js.LEGAL.txt $(CURDIR)/$(VENDOR)/ && \
	  cp package/LICENSE $(CURDIR)/$(VENDOR)/dagre.LICENSE && rm -rf $$tmp
	cd $(VENDOR) && echo "$$(cat dagre.sha256)  dagre.esm.js" | sha256sum -c -

# Screenshots of every console page into docs/console/ (the browser tests take them).
console-screenshots: $(STAMP)
	RAYPACHY_CONSOLE_SHOTS=docs/console $(PY) -m pytest -p no:cacheprovider tests/console/test_console_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
