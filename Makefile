# Parley: `make run` opens the GUI on the demo network; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= .parley-demo
export PARLEY_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test lint typecheck pytest bench clean screenshot

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else "Parley needs Python 3.11 to 3.13; this is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	@$(PY) -m ui.qtcheck
	$(PY) main.py --demo --data-dir $(DEMO_DIR)

# A real window on a virtual screen (Qt's xcb plugin under Xvfb); offscreen where Xvfb is missing.
screenshot: $(STAMP)
	@if command -v xvfb-run >/dev/null; then \
	  xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) main.py --demo --data-dir $$(mktemp -d) --screenshot resources/screenshot.png; \
	else \
	  QT_QPA_PLATFORM=offscreen $(PY) main.py --demo --data-dir $$(mktemp -d) --screenshot resources/screenshot.png; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy services views

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test: lint typecheck pytest

# `make bench` measures ingest, triage and search on 100,000 synthetic posts; `make bench SCALE=1000000`
# runs the scale suite (import, queries, first frame, memory) on that many, in $(BENCH_DIR) (bench/README.md).
SCALE ?=
BENCH_DIR ?= /tmp/parley-bench
bench: $(STAMP)
	@if [ -n "$(SCALE)" ]; then \
	  $(PY) -m bench.scale all --posts $(SCALE) --dir $(BENCH_DIR)/$(SCALE); \
	else \
	  $(PY) -m bench.run; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
