# The README's two commands: `make notebooks` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: notebooks test data venv benchmarks clean-venv

venv: $(STAMP)

# Re-install whenever requirements.txt or pyproject.toml changes.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

# Offline-first: fails with a message naming every place searched and how to get the data.
data: $(STAMP)
	$(PY) -m introspect.data

notebooks: data
	$(PY) scripts/run_notebooks.py notebooks/*.ipynb

test: data
	$(PY) -m pytest -q

benchmarks: data
	$(PY) benchmarks/bench_saliency.py
	$(PY) benchmarks/bench_optimize.py
	$(PY) benchmarks/bench_imagenet.py

clean-venv:
	rm -rf $(VENV)
