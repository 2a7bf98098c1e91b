# Canonical commands. Every target creates .venv when missing and installs through constraints.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
# Offline data (MNIST IDX files); override with: make book CURVLIB_DATA_ROOT=/path
CURVLIB_DATA_ROOT ?= $(abspath ../shared/data)
export CURVLIB_DATA_ROOT

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
CHAPTERS := $(patsubst notebooks/%,book/chapters/%,$(NOTEBOOKS))

.PHONY: install browser test test-all book lab bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[vision,book,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

## Debian's Chromium for the report's browser test, installed when missing (as root); else that test is skipped
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "note: no Chromium (apt-get install chromium); tests/test_report.py's browser test will be skipped"

## make test: unit tests and every notebook executed in the quick profile (slow tests excluded), on two
## pytest-xdist workers with one torch thread each (tests/conftest.py); a test class (tests/test_notebooks.py) runs on one worker
test: install browser
	$(PY) -m pytest -m "not slow and not gpu" -n 2 --dist loadscope --durations=15

## make test-all: everything, slow tests included
test-all: install
	$(PY) -m pytest

## make book: execute the notebooks with papermill (PROFILE=quick|paper), then build the website
book: install
	@mkdir -p book/chapters
	@for nb in $(NOTEBOOKS); do \
		echo "== executing $$nb (profile=$(PROFILE))"; \
		$(PY) -m papermill --cwd notebooks -p profile $(PROFILE) "$$nb" "book/chapters/$$(basename $$nb)" --log-level WARNING || exit 1; \
	done
	$(VENV)/bin/jupyter-book build book --warningiserror --keep-going --quiet
	@echo "The book is at $(abspath book/_build/html/index.html)"

## make lab: JupyterLab on the notebooks
lab: install
	$(VENV)/bin/jupyter lab notebooks

## make bench: benchmarks, printing tables and writing benchmarks/results/*.json
bench: install
	$(PY) benchmarks/bench_curvature.py
	$(PY) benchmarks/bench_memory.py
	$(PY) benchmarks/bench_cost.py
	$(PY) benchmarks/bench_fz.py
	$(PY) benchmarks/bench_size_ladder.py

clean:
	rm -rf book/_build book/chapters .pytest_cache
