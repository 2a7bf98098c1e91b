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

.PHONY: install browser test test-all book smoke-book gpu-job gpu-results full-results lab bench clean

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
	@date +'%T unit tests'
	$(PY) -m pytest -m "not slow and not gpu and not book" -n 2 --durations=15
	@date +'%T make book'
	$(MAKE) --no-print-directory book PROFILE=quick
	@date +'%T make smoke-book'
	$(MAKE) --no-print-directory smoke-book
	@date +'%T browser checks'
	$(PY) -m pytest -m book
	@date +'%T done'

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

## make gpu-job RUN=<name> OUT=<dir>: one GPU job on a machine without internet (the project's lent GPU): no install
## step, the interpreter PY (default: the machine's python3, which has torch), data from CURVLIB_DATA_ROOT (copy the
## one dataset the run needs into the checkout's git-ignored gpu-data/ first), COMMIT=<hash> recorded as the code
## where the copy has no .git. RUN is a run of curvlib.runs.full_data.GPU_RUNS or GPU_CL_RUNS (its committed-result
## files go to OUT/<name>/, after a line with its estimated seconds), or "benchmark" (the curvature throughput at
## each precision and `curvlib score --device` on 10,000 MNIST images, into OUT/benchmark/). SMOKE=1: the same code
## path at toy sizes (make test runs it with PY=.venv/bin/python DEVICE=cpu).
DEVICE ?= cuda
RUN ?= mnist-noise10-paper
OUT ?= gpu-out
COMMIT ?=
gpu-job: PY := python3
gpu-job:
	@test -n "$(OUT)" || { echo "make gpu-job: give OUT=<dir>"; exit 2; }
	if [ "$(RUN)" = benchmark ]; then \
		PYTHONPATH=$(CURDIR) CURVLIB_GIT_COMMIT=$(COMMIT) $(PY) benchmarks/bench_curvature.py --device $(DEVICE) \
			--out $(OUT)/benchmark --product $(if $(SMOKE),--smoke,); \
	else \
		PYTHONPATH=$(CURDIR) CURVLIB_GIT_COMMIT=$(COMMIT) $(PY) -m curvlib.runs.full_data $(RUN) --device $(DEVICE) \
			--out $(OUT) --cache-dir $(or $(TMPDIR),/tmp)/curvlib-gpu-cache $(if $(SMOKE),--smoke,); \
	fi

## make gpu-results: the same jobs for people with their own GPU and internet, through the install (.venv): the
## benchmark, then every GPU run, written where the book reads them (benchmarks/results/, results/full/)
gpu-results: install
	$(MAKE) --no-print-directory gpu-job RUN=benchmark PY=$(PY) OUT=benchmarks/results-gpu
	cp benchmarks/results-gpu/benchmark/*.json benchmarks/results/
	for run in $$($(PY) -c "from curvlib.runs.full_data import GPU_RUNS, GPU_CL_RUNS; print(*GPU_RUNS, *GPU_CL_RUNS)"); do \
		$(MAKE) --no-print-directory gpu-job RUN=$$run PY=$(PY) OUT=results/full || exit 1; done

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
