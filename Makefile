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

.PHONY: install browser test test-all book smoke-book gpu-results full-results lab bench clean

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

## make test: the unit tests on two pytest-xdist workers with one torch thread each (tests/conftest.py); then the
## README's first command, `make book`, exactly as a user runs it (every out-of-date chapter executed in the quick
## profile into book/chapters/, the book built with --warningiserror); then every chapter in the paper profile at
## smoke scale (book/_smoke/, its book built too); then the built pages opened in headless Chromium
test: install browser
	rm -rf book/_build book/_smoke
	$(PY) -m pytest -m "not slow and not gpu and not book" -n 2 --durations=15
	$(MAKE) --no-print-directory book PROFILE=quick
	$(MAKE) --no-print-directory smoke-book
	$(PY) -m pytest -m book

## make test-all: everything, slow tests included
test-all: install
	$(PY) -m pytest -m "not book"

## make book: execute the notebooks whose notebook, library code or committed results changed since their last
## execution (PROFILE=quick|paper), on as many workers as there are cores, one torch thread each (book/execute.py);
## then build the website
book: install
	$(PY) book/execute.py --profile $(PROFILE) --out book/chapters $(NOTEBOOKS)
	$(VENV)/bin/jupyter-book build book --warningiserror --keep-going --quiet
	@echo "The book is at $(abspath book/_build/html/index.html)"

## make smoke-book: every chapter in the paper profile at smoke scale (its models and code paths at toy sizes, on real
## MNIST and fake CIFAR files; claims are listed, not asserted) into book/_smoke/chapters/, and that book built
SMOKE_DATA := results/cache/smoke-data
smoke-book: install
	$(PY) tests/fake_data.py $(SMOKE_DATA)
	$(PY) book/execute.py --profile paper --smoke --data-root $(SMOKE_DATA) --cache-dir results/cache/smoke --out book/_smoke/chapters $(NOTEBOOKS)
	cp -r book/_config.yml book/_toc.yml book/*.md book/_static book/_smoke/
	$(VENV)/bin/jupyter-book build book/_smoke --warningiserror --keep-going --quiet

## make gpu-results: the one prepared call for a lent GPU (at most 9 minutes on one H100/H200): the curvature
## throughput benchmark at the paper's widths (benchmarks/results/curvature_throughput_cuda.json), then the paper
## profile's MNIST run with 10% flipped labels (pre-activation ResNet18 on all 60,000 images, 30 epochs; see
## curvlib.runs.full_data.GPU_RUNS) into results/full/; it resumes from its checkpoints if the call is cut.
## DEVICE=cpu SMOKE=1 OUT=dir runs the same code path at toy sizes on a CPU (tests/test_gpu_results.py does).
DEVICE ?= cuda
OUT ?= .
gpu-results: install
	$(PY) benchmarks/bench_curvature.py --device $(DEVICE) $(if $(SMOKE),--repeats 1 --out $(OUT)/benchmarks,)
	$(PY) -m curvlib.runs.full_data mnist-noise10-paper --device $(DEVICE) --cache-dir $(OUT)/results/cache \
		$(if $(SMOKE),--smoke --out $(OUT)/results/full,)

## make full-results: compute (or resume) the full-data runs of the book's "At full scale" chapter and write their
## committed results to results/full/ (hours on a 2-core CPU; see curvlib/runs/full_data.py)
full-results: install
	$(PY) -m curvlib.runs.full_data

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
	rm -rf book/_build book/chapters book/_smoke .pytest_cache
