# fraudcast — every way in is a make target.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=8010`, or FRAUDCAST_HOST / FRAUDCAST_PORT as `fraudcast serve` reads them
HOST ?= $(or $(FRAUDCAST_HOST),127.0.0.1)
PORT ?= $(or $(FRAUDCAST_PORT),8000)
MLFLOW_PORT ?= 5000
# MLflow's usage telemetry would fetch and send over the internet; fraudcast does neither.
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: run test lint typecheck pytest train serve bench mlflow-ui browser postgres pdf-tools wrk bench-scaling bench-train-scaling bench-train-soak bench-train-profile bench-global bench-dask bench-serving bench-ingest bench-abuse clean clean-data help venv

help:
	@echo "make run        install, load the bundled figures, train if no champions exist, serve on http://$(HOST):$(PORT)"
	@echo "make test       install, then lint (ruff), type-check (mypy) and run the tests (pytest)"
	@echo "make lint       ruff lint + format check"
	@echo "make train      train every series (MLflow runs under mlruns/)"
	@echo "make serve      serve the API and web page without training"
	@echo "make typecheck  mypy only; make pytest: the tests only"
	@echo "make bench      accuracy (M3, M1, Tourism, ...), then bench-scaling, bench-train-scaling, bench-dask,"
	@echo "                bench-serving and bench-ingest, each also alone (several hours in all; needs wrk,"
	@echo "                installed as root); rewrites benchmarks/RESULTS.md, SCALING.md, SERVING.md, INGEST.md"
	@echo "make bench-train-soak, bench-train-profile  10,000-series train soak; where train time goes"
	@echo "make bench-global  the global autoregression fitted on the reference corpus or on each set's own series"
	@echo "make bench-abuse  probe every hardening item (issue 19) on a live server; writes benchmarks/ABUSE.md"
	@echo "make mlflow-ui  MLflow UI on http://127.0.0.1:$(MLFLOW_PORT) against mlruns/ (MLFLOW_PORT=5001 for another)"
	@echo "make clean      remove the venv and caches (figures and trained models stay)"
	@echo "make clean-data CONFIRM=yes  delete every figure added (the drop folder's copies too) and every trained model"

venv: $(STAMP)

# The venv is rebuilt from the lock whenever the lock or pyproject changes.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/fraudcast figures seed
	$(BIN)/fraudcast train --if-no-champions
	$(BIN)/fraudcast serve --host $(HOST) --port $(PORT)

serve: $(STAMP)
	$(BIN)/fraudcast serve --host $(HOST) --port $(PORT)

train: $(STAMP)
	$(BIN)/fraudcast train

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy data features models training serving benchmarks

# The tests run on every core (at most 4 workers, pytest-xdist); each has its own stores.
pytest: $(STAMP) browser postgres pdf-tools
	$(BIN)/pytest -n logical --maxprocesses 4

test: lint typecheck pytest

# Browser tests need Debian's chromium; install it where we may (root with apt), else they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will skip"; \
	  else echo "chromium absent and not root: browser tests will skip"; fi; }

# The tracking-server test needs Debian's postgresql (it starts its own throwaway cluster as an
# unprivileged user); install it where we may (root with apt), else that test skips.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian postgresql for the tracking-server test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "postgresql could not be installed: the tracking-server test will skip"; \
	  else echo "postgresql absent and not root: the tracking-server test will skip"; fi; }

# The serving benchmark loads the server with Debian's wrk; install it where we may (root with
# apt), else stop before any benchmark runs.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian wrk for the serving benchmark"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "make bench-serving needs wrk (Debian: apt-get install wrk)"; exit 1; fi; }

# The outlook PDF tests read the PDF with poppler's pdftotext, and draw its Japanese and Chinese
# titles where a CJK font is installed; install both where we may (root with apt), else they skip.
pdf-tools:
	@{ command -v pdftotext >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian poppler-utils and fonts-noto-cjk for the outlook PDF tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils fonts-noto-cjk >/dev/null) \
	      || echo "poppler-utils or fonts-noto-cjk could not be installed: the outlook PDF tests that need them will skip"; \
	  else echo "poppler-utils or a CJK font absent and not root: the outlook PDF tests that need them will skip"; fi; }

# Every benchmark in turn (several hours on 2 cores); wrk is checked first, not after hours.
bench: $(STAMP) wrk
	$(BIN)/python -m benchmarks.m3 --output benchmarks/RESULTS.md
	$(MAKE) --no-print-directory bench-scaling
	$(MAKE) --no-print-directory bench-train-scaling
	$(MAKE) --no-print-directory bench-dask
	$(MAKE) --no-print-directory bench-serving
	$(MAKE) --no-print-directory bench-ingest

# forecast-file on 100, 1,000 and 10,000 synthetic series with 1 and 2 workers (~30 min).
bench-scaling: $(STAMP)
	$(BIN)/python benchmarks/scaling.py --sizes 100,1000,10000 --jobs 1,2 --output benchmarks/SCALING.md

# train on 100 and 1,000 synthetic series with 1 and 2 workers, 10,000 extrapolated; beside the
# train path that charted every candidate (commit 54e8e0d) on 100 series (~1 h).
bench-train-scaling: $(STAMP)
	$(BIN)/python benchmarks/train_scaling.py --sizes 100,1000 --jobs 1,2 \
	  --baseline 54e8e0d --baseline-sizes 100 --extrapolate 10000 --output benchmarks/SCALING.md

# `fraudcast train` on 10,000 series to the end (about an hour on 2 cores here), sampled every 5
# minutes; interrupted if it is still running after 3 hours.
bench-train-soak: $(STAMP)
	$(BIN)/python benchmarks/train_soak.py --series 10000 --jobs 2 --minutes 180 --every 300

# Where one series' train time goes: cProfile over 100 fresh series, grouped, beside 9ebae99
# (the last code that wrote candidate runs call by call).
bench-train-profile: $(STAMP)
	$(BIN)/python benchmarks/train_profile.py --series 100 --baseline 9ebae99 --output benchmarks/SCALING.md

# The global autoregression alone, fitted on the reference corpus (as served) and on each set's
# own windows, on every benchmark set (~10 min).
bench-global: $(STAMP)
	$(BIN)/python -m benchmarks.global_fit --output benchmarks/GLOBAL.md

# forecast-file and train on 100 and 1,000 series on a Dask scheduler and 2 workers started
# on 127.0.0.1, beside one process and --jobs 2, outputs compared (~1 h on 2 quiet cores).
bench-dask: $(STAMP)
	$(BIN)/python benchmarks/dask_scaling.py --sizes 100,1000 --workers 2 --output benchmarks/SCALING.md

# From a figures file dropped in the incoming folder to the projection served from it, per series.
bench-ingest: $(STAMP)
	$(BIN)/python benchmarks/ingest_latency.py --output benchmarks/INGEST.md

# Every probe of issue #19 against a live server, figures checked before and after (~3 min).
bench-abuse: $(STAMP)
	$(BIN)/python benchmarks/abuse.py --output benchmarks/ABUSE.md

# Load on the forecast endpoint (one uvicorn worker) and on mlflow models serve; needs Debian's wrk.
bench-serving: $(STAMP) wrk
	$(BIN)/python benchmarks/serving_load.py --output benchmarks/SERVING.md

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root mlruns/artifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

# The venv and caches only: the figure store and MLflow hold what users added and trained.
# Refuses, as clean-data does, while any fraudcast command runs from this clone: a service
# whose venv was deleted under it answered 500 to charts, briefs and writes (data/in_use.py).
clean:
	$(PYTHON) data/in_use.py sh -c 'rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache \
	  .hypothesis build *.egg-info'

# Every figure added, its history and the track record, the drop folder's copies of the files
# added and rejected, and every run and model in MLflow: gone for good, so it asks first, and it
# refuses while any fraudcast command runs (a running service went on writing to deleted files:
# figures it acknowledged were lost; data/in_use.py). -maxdepth 1: find had walked into the
# folders it had just deleted, printed "No such file or directory" for each and failed.
clean-data:
	@if [ "$(CONFIRM)" != "yes" ]; then \
	  echo "make clean-data deletes data/*.db (every figure added, its history, the track record),"; \
	  echo "data/incoming/processed/ and rejected/ (the copies of every file dropped there) and"; \
	  echo "everything under mlruns/ (every run and trained model). Files still waiting in"; \
	  echo "data/incoming/ stay. Stop the service first, then run: make clean-data CONFIRM=yes"; \
	  exit 2; fi
	$(PYTHON) data/in_use.py sh -c 'rm -f data/*.db data/*.db-wal data/*.db-shm && \
	  rm -rf data/incoming/processed data/incoming/rejected && \
	  find mlruns -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +'
	@echo "Deleted the figure store (data/*.db), data/incoming/processed/ and rejected/, and"
	@echo "everything under mlruns/. Files still waiting in data/incoming/ were left there."
