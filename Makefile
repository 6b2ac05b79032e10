# The README's two commands: `make notebooks` and `make test`.
# Python versions requirements.txt is checked to install on (scripts/check_platforms.py); others stop at once.
SUPPORTED_PYTHON := 3.11 3.12
VENV := .venv
ifeq ($(OS),Windows_NT)
PYTHON ?= python
PY := $(VENV)/Scripts/python.exe
else
PYTHON ?= python3
PY := $(VENV)/bin/python
endif
STAMP := $(VENV)/.installed
GOAL := $(or $(firstword $(MAKECMDGOALS)),venv)

.PHONY: notebooks test data venv benchmarks clean-venv check-python

venv: $(STAMP)

# Checks the interpreter that will run everything: .venv's if it exists, else $(PYTHON).
SUPPORTED_TEXT := Python $(subst $() , or ,$(SUPPORTED_PYTHON))
EXAMPLE := make $(GOAL) PYTHON=python$(firstword $(SUPPORTED_PYTHON))
check-python:
	@if [ -x $(PY) ]; then python=$(PY); else python='$(PYTHON)'; fi; \
	version=$$($$python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || { \
	  echo "make: cannot run '$$python'. Install $(SUPPORTED_TEXT) and pass it, e.g.: $(EXAMPLE)" >&2; exit 1; }; \
	case " $(SUPPORTED_PYTHON) " in *" $$version "*) exit 0;; esac; \
	echo "make: '$$python' is Python $$version, but introspect needs $(SUPPORTED_TEXT)" \
	     "(the versions requirements.txt is checked to install on)." >&2; \
	if [ -x $(PY) ]; then \
	  echo "  $(VENV) was made with it; start again with a supported one: make clean-venv && $(EXAMPLE)" >&2; \
	else \
	  echo "  Install one and pass it: $(EXAMPLE)" >&2; \
	fi; \
	exit 1

# Re-install whenever requirements.txt or pyproject.toml changes.
$(STAMP): requirements.txt pyproject.toml | check-python
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

# Offline copies first; with none, downloads into data/fashion-mnist/ and verifies the SHA-256 digests.
# Offline with no copy it stops with a message naming every place searched and how to get the data.
data: $(STAMP)
	$(PY) -m introspect.data

notebooks: data
	$(PY) scripts/run_notebooks.py notebooks/*.ipynb

test: data
	$(PY) -m pytest -q

# One table (benchmarks/report.py); `make benchmarks BENCH_ARGS=--quick` for a smoke run. The other
# benchmarks/bench_*.py scripts (memory, optimisation, ImageNet conversion) run on their own.
benchmarks: data
	$(PY) benchmarks/report.py $(BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
