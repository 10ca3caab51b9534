# Two entry points (README): `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-all kernel bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kube-netsim demo

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules -m "not slow" tests sim $(PYTEST_ARGS)

# The long variants (more hypothesis examples against the real kernel, every seed scenario in
# namespaces). CI runs them after the default suite.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow tests $(PYTEST_ARGS)

test-all: test test-slow

kernel: $(STAMP)
	$(BIN)/python -m pytest -q -m kernel $(PYTEST_ARGS)

# Benchmarks are measurements, never pass/fail tests: each script prints its figures (medians
# of repeats, CPU and wall time, ratios measured in the same run).
bench: $(STAMP)
	for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
