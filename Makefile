# The two set-up commands of the README. Both work on a fresh machine.
#   make demo   create .venv, install bgs, run the main job on the built-in data
#   make test   create .venv with the test extras, run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS ?= test
# Torch is installed only when the environment has none: on a CPU-only machine
# pip takes torch==2.13.0 (a CPU build where one lies on disk); elsewhere the ordinary wheel.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv install demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

install: venv
	@if [ -n "$(NEED_TORCH)" ] && ! $(PY) -c "import torch" 2>/dev/null; then \
		echo "installing $(TORCH_SPEC)"; $(PIP) install --quiet "$(TORCH_SPEC)"; fi
	$(PIP) install --quiet -e ".[$(EXTRAS)]"

demo: install
	$(VENV)/bin/bgs datasets list
	$(VENV)/bin/bgs data stats examples/tiny_triplets.csv

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/human_similarity.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
